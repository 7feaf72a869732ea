"""What a result was measured on: package versions, the machine and the code's commit, written as
``meta_info`` by runs (``results.json``) and benchmarks (``perf/results/*.json``) alike."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from litelora import __version__

def environment_info() -> dict[str, Any]:
    """Package versions (those installed), system facts and the git commit of the code.

    ``system.loadavg`` is the 1/5/15-minute load when the result was written: other processes
    share the cores, and timings are to be judged by it."""
    import torch

    versions = {"litelora": __version__, "torch": torch.__version__, "python": platform.python_version()}
    for pkg in ("transformers", "peft", "safetensors", "numpy", "accelerate", "timm"):
        try:
            versions[pkg] = __import__(pkg).__version__
        except ImportError:
            continue
    return {
        "package_versions": versions,
        "system": {
            "platform": platform.platform(),
            "machine": platform.machine(),
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "cuda": torch.cuda.is_available(),
            "loadavg": [round(x, 2) for x in os.getloadavg()],
        },
        "git_hash": _git_hash(),
    }


def _git_hash() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).parent)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None
