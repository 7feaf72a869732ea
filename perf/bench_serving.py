"""Unmerged multi-task serving: every task's adapters active at once (as class-incremental
inference runs them), host against host + gate, at 5 and 20 tasks.

For each bank size T, a copy of the model gets ``add_task(t)`` for t < T
(``AdapterConfig(target_modules=<query, value>, r=8, init_lora_weights="gaussian")``). The host
keeps every adapter; the gated bank keeps, for every task after the first, ``--keep`` of the
targets (the rest are removed as a closed gate removes them; which ones is seeded). Measured:
the forward latency of one batch in eval mode without gradients (every adapter of a target runs
as one concatenated LoRA), the adapter bytes, and for reference the base model without adapters
and the host with its adapters merged into the weights. Variants run round-robin; the first
``--warmup`` rounds are dropped; medians and median paired ratios against the host of the same T
go to ``perf/results/bench_serving.json``.

    python perf/bench_serving.py                  # MiniLM, batch 32 x 64 tokens, keep 0.5
    python perf/bench_serving.py --keep 0.46      # the fraction a gate run kept
    python perf/bench_serving.py --quick          # tiny-bert, seconds
"""

from __future__ import annotations

import argparse
import copy
import random
import statistics
import sys
import time

import torch

from _common import add_common_args, prepare, qv_targets, run_info
from litelora.reporting.environment import environment_info


def build(base: torch.nn.Module, tasks: int, keep: float, seed: int) -> tuple[torch.nn.Module, object]:
    from litelora.adapters import AdapterBank, AdapterConfig

    model = copy.deepcopy(base).eval()
    bank = AdapterBank(model, AdapterConfig(target_modules=qv_targets(base), r=8, lora_alpha=16,
                                            init_lora_weights="gaussian"))
    rng = random.Random(seed)
    for t in range(tasks):
        bank.add_task(t)
        if t > 0 and keep < 1.0:
            targets = list(bank.candidates(t))
            closed = rng.sample(targets, len(targets) - round(keep * len(targets)))
            for target in closed:
                bank.remove_candidate(target, t)
        bank.freeze_task(t)
    return model, bank


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny-bert, tasks 2 and 5, few rounds")
    parser.add_argument("--tasks", type=int, nargs="+", default=[5, 20])
    parser.add_argument("--keep", type=float, default=0.5, help="fraction of targets a later task recruits")
    add_common_args(parser, "bench_serving", batch=32)
    args = parser.parse_args(argv)
    if not 0.0 < args.keep <= 1.0:
        parser.error(f"--keep must be in (0, 1], got {args.keep}")
    if args.quick:
        args.model, args.tasks, args.rounds, args.warmup = "tiny-bert", [2, 5], 3, 1
    prepared = prepare(args)
    if prepared is None:
        return 1
    base, inputs = prepared
    variants: dict[str, torch.nn.Module] = {"base": copy.deepcopy(base).eval()}
    adapter_bytes: dict[str, int] = {"base": 0}
    active: dict[str, int] = {"base": 0}
    for n in args.tasks:
        for name, keep in ((f"host-{n}", 1.0), (f"gate-{n}", args.keep)):
            model, bank = build(base, n, keep, seed=n)
            variants[name] = model
            summary = bank.summary()
            adapter_bytes[name], active[name] = int(summary["adapter_bytes"]), int(summary["active_adapters"])
        merged, bank = build(base, n, 1.0, seed=n)
        bank.merge_adapters()
        variants[f"host-merged-{n}"], adapter_bytes[f"host-merged-{n}"] = merged, 0
        active[f"host-merged-{n}"] = active[f"host-{n}"]
    times: dict[str, list[float]] = {k: [] for k in variants}
    with torch.no_grad():
        for r in range(args.rounds):
            for name, model in variants.items():
                start = time.perf_counter()
                model(**inputs)
                if r >= args.warmup:
                    times[name].append(time.perf_counter() - start)
    median = {k: statistics.median(v) for k, v in times.items()}
    ratios = {}
    for name in times:
        if name == "base":
            continue
        n = name.rpartition("-")[2]
        ratios[name] = {
            "to_host": statistics.median(a / b for a, b in zip(times[name], times[f"host-{n}"])),
            "to_base": statistics.median(a / b for a, b in zip(times[name], times["base"])),
        }
    result = {
        "run_info": run_info(argv, {"model": args.model, "tasks": args.tasks, "keep": args.keep, "rounds": args.rounds,
                                    "warmup": args.warmup, "batch": args.batch, "seq_len": args.seq_len,
                                    "threads": args.threads}),
        "train_info": {"forward_seconds": times, "median_forward_seconds": median, "paired_ratios": ratios,
                       "adapter_bytes": adapter_bytes, "active_adapters": active},
        "meta_info": environment_info(),
    }
    from litelora._io import write_json

    write_json(args.json, result)
    print(f"{'variant':<18} {'adapters':>8} {'adapter MB':>10} {'median ms':>10} {'x host':>7} {'x base':>7}")
    for name in times:
        r = ratios.get(name, {"to_host": float("nan"), "to_base": 1.0})
        print(f"{name:<18} {active[name]:8d} {adapter_bytes[name] / 2**20:10.2f} {1000 * median[name]:10.1f} "
              f"{r['to_host']:7.3f} {r['to_base']:7.3f}")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
