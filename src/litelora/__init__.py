"""litelora: continual fine-tuning with LoRA adapter banks and the LiteLoRA gate.

The public names below load on first use, so ``import litelora`` (and the command line's
start-up) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_PUBLIC = {
    "AdapterBank": "litelora.adapters",
    "AdapterConfig": "litelora.adapters",
    "ContinualClassifier": "litelora.models.continual_classifier",
    "ContinualMethod": "litelora.methods",
    "GateConfig": "litelora.gates",
    "GateDecision": "litelora.gates",
    "LiteLoRA": "litelora.training.controller",
    "LiteLoraError": "litelora.errors",
    "RunConfig": "litelora.training.config",
    "TaskContext": "litelora.methods",
    "build_trainer": "litelora.training.build",
    "export_peft": "litelora.adapters",
    "import_peft": "litelora.adapters",
    "load_bank": "litelora.adapters",
    "load_head": "litelora.models.heads",
    "load_run": "litelora.workflows.runs",
}

__all__ = sorted(["__version__", *_PUBLIC])


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'litelora' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
