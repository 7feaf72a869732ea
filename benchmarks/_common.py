"""Shared pieces of the benchmark scripts: the models they time and small statistics."""

from __future__ import annotations

import os
import platform
import shlex
import statistics
import sys
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version

import torch
from torch import nn


def load_model(name: str) -> nn.Module | None:
    """The base model by name, or None (with a message) when it is not available."""
    if name == "tiny-bert":
        from litelora.testing import tiny_bert

        # tiny_bert: 2 heads, intermediate = 2 * hidden = 256, max 64 positions.
        return tiny_bert(hidden=128, layers=2, vocab=1000)
    if name == "minilm":
        from transformers import AutoModel

        from litelora.errors import ConfigError
        from litelora.training.backbones import packaged_minilm_dir

        try:
            path = packaged_minilm_dir()
        except ConfigError as err:
            print(f"skipping minilm: {err}", file=sys.stderr)
            return None
        if not (path / "config.json").exists():
            print(f"skipping minilm: no model folder at {path}", file=sys.stderr)
            return None
        return AutoModel.from_pretrained(str(path))
    raise SystemExit(f"unknown model {name!r}; choose from tiny-bert, minilm")


def quantile(xs: list[float], q: float) -> float:
    return statistics.quantiles(xs, n=100, method="inclusive")[int(q * 100) - 1] if len(xs) > 1 else xs[0]


def pkg_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def run_info(argv: list[str] | None, settings: dict[str, object]) -> dict[str, object]:
    """When, how (the exact command) and with which settings a benchmark ran."""
    return {
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": shlex.join(["python", *(sys.argv if argv is None else [sys.argv[0], *argv])]),
        "torch_threads": torch.get_num_threads(),
        **settings,
    }


def meta_info(packages: tuple[str, ...] = ("torch", "transformers", "peft", "litelora")) -> dict[str, object]:
    """Package versions and the machine, for the results JSON."""
    return {
        "package_versions": {p: pkg_version(p) for p in packages},
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
    }
