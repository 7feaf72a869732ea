"""Shared pieces of the benchmark scripts: the models they time, subprocess and RSS
measurement, and small statistics."""

from __future__ import annotations

import argparse

import json
import os
import random
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from torch import nn


MODELS = ("tiny-bert", "tiny-vit", "minilm", "vit-b16")


def load_model(name: str) -> nn.Module | None:
    """The base model by name, or None (with a message) when it is not available.

    ``tiny-bert`` / ``tiny-vit``: random, seconds to run (smoke tests). ``minilm``: the
    packaged all-MiniLM-L6-v2. ``vit-b16``: ViT-B/16 (224 px, 86M parameters) with random
    weights from a ``transformers.ViTConfig``, so no download is needed.
    """
    if name == "tiny-bert":
        from litelora.testing import tiny_bert

        # tiny_bert: 2 heads, intermediate = 2 * hidden = 256, max 64 positions.
        return tiny_bert(hidden=128, layers=2, vocab=1000)
    if name in ("tiny-vit", "vit-b16"):
        from transformers import ViTConfig, ViTModel

        torch.manual_seed(0)
        if name == "vit-b16":
            return ViTModel(ViTConfig(), add_pooling_layer=False)  # the defaults are ViT-B/16 at 224 px
        return ViTModel(ViTConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                                  intermediate_size=128, image_size=32, patch_size=8), add_pooling_layer=False)
    if name == "minilm":
        from transformers import AutoModel

        from litelora.errors import ConfigError
        from litelora.models.text import packaged_minilm_dir

        try:
            path = packaged_minilm_dir()
        except ConfigError as err:
            print(f"skipping minilm: {err}", file=sys.stderr)
            return None
        if not (path / "config.json").exists():
            print(f"skipping minilm: no model folder at {path}", file=sys.stderr)
            return None
        return AutoModel.from_pretrained(str(path))
    raise SystemExit(f"unknown model {name!r}; choose from {', '.join(MODELS)}")


def make_inputs(model: nn.Module, batch: int, seq_len: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """A fixed random batch: token ids (batch, seq_len) for text models, pixels
    (batch, 3, image, image) for a ViT (whose sequence is set by its patches, not ``seq_len``)."""
    g = torch.Generator().manual_seed(seed)
    cfg = model.config  # type: ignore[union-attr]
    if getattr(cfg, "model_type", "") == "vit":
        return {"pixel_values": torch.randn(batch, 3, cfg.image_size, cfg.image_size, generator=g)}
    return {"input_ids": torch.randint(0, cfg.vocab_size, (batch, seq_len), generator=g),
            "attention_mask": torch.ones(batch, seq_len, dtype=torch.long)}


def qv_targets(model: nn.Module) -> list[str]:
    """The query and value projections' names: ``query``/``value`` in BERT, ``q_proj``/``v_proj``
    in transformers 5's ViT. Every variant of a model adapts the same two."""
    names = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
    for pair in (["query", "value"], ["q_proj", "v_proj"]):
        if set(pair) <= names:
            return pair
    raise SystemExit(f"{type(model).__name__} has neither query/value nor q_proj/v_proj modules")


def rss_bytes(field: str = "VmRSS") -> int:
    """This process's resident set (``VmRSS``) or its peak since the last reset (``VmHWM``), bytes."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} missing from /proc/self/status")


def reset_peak_rss() -> bool:
    """Reset ``VmHWM`` to the current RSS (Linux >= 4.0); False where the kernel refuses."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


@dataclass
class ChildRun:
    """One benchmark subprocess: exit code, wall seconds, CPU seconds (user + system, all
    its threads), peak RSS (bytes) and stdout."""

    returncode: int
    wall_s: float
    cpu_s: float
    max_rss_bytes: int
    stdout: str


def run_child(cmd: list[str]) -> ChildRun:
    """Run ``cmd`` in its own process and wait for it with ``wait4``, which returns that
    child's own rusage: ``ru_maxrss`` (KiB on Linux) is its peak RSS, never mixed with
    other children's as ``getrusage(RUSAGE_CHILDREN)`` would be."""
    with tempfile.TemporaryFile("w+") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, so Popen must not wait again
        out.seek(0)
        return ChildRun(proc.returncode, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024, out.read())


def child_json(run: ChildRun, what: str) -> dict[str, Any]:
    """The JSON object a child printed as its last stdout line; exits with ``what`` on failure."""
    lines = run.stdout.strip().splitlines()
    if run.returncode != 0 or not lines:
        raise SystemExit(f"{what} failed with exit code {run.returncode}")
    return json.loads(lines[-1])


def bootstrap_ci(xs: list[float], level: float = 0.95, n: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the median of ``xs``."""
    g = random.Random(seed)
    meds = sorted(statistics.median(g.choices(xs, k=len(xs))) for _ in range(n))
    lo = meds[int((1 - level) / 2 * n)]
    hi = meds[min(n - 1, int((1 + level) / 2 * n))]
    return lo, hi


def quantile(xs: list[float], q: float) -> float:
    return statistics.quantiles(xs, n=100, method="inclusive")[int(q * 100) - 1] if len(xs) > 1 else xs[0]


def run_info(argv: list[str] | None, settings: dict[str, object]) -> dict[str, object]:
    """When, how (the exact command) and with which settings a benchmark ran."""
    return {
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": shlex.join(["python", *(sys.argv if argv is None else [sys.argv[0], *argv])]),
        "torch_threads": torch.get_num_threads(),
        **settings,
    }


def add_common_args(parser: argparse.ArgumentParser, name: str, batch: int, rounds: int = 12) -> None:
    """The options every timing script shares: model, rounds, warm-up, batch shape, threads, JSON path."""
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batch", type=int, default=batch)
    parser.add_argument("--seq-len", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / f"{name}.json")


def prepare(args: argparse.Namespace) -> tuple[nn.Module, dict[str, torch.Tensor]] | None:
    """Threads and seed set, the model loaded (None: it is not installed) and one fixed batch."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    base = load_model(args.model)
    if base is None:
        return None
    return base, make_inputs(base, args.batch, args.seq_len)


def per_model(spec: str, models: list[str], what: str, cast: type = int) -> dict[str, Any]:
    """``"30"`` (every model) or ``"tiny-bert=100,minilm=12"``; every model must be given."""
    if "=" not in spec:
        return {m: cast(spec) for m in models}
    pairs = {k.strip(): cast(v) for k, v in (item.split("=", 1) for item in spec.split(",") if item.strip())}
    missing = [m for m in models if m not in pairs]
    if missing:
        raise ValueError(f"--{what} gives no value for {missing}; use model=value pairs or one value")
    return {m: pairs[m] for m in models}

