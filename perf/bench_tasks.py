"""Time a training step against the number of tasks already in the adapter bank.

For each bank size N (default 1, 20, 50) and host, a copy of the model gets ``add_task(t)`` for
t < N (``AdapterConfig(target_modules=<query, value>, r=8, lora_alpha=16,
init_lora_weights="gaussian")``, so every old B is non-zero); the last task trains. A step is a
forward and backward pass over one fixed batch and an AdamW step on what trains:

* ``inclora``: the candidates only. Measured twice: ``fold`` (``train.fold_frozen``, the
  default: the frozen adapters live in a working copy of each weight) and ``rank-sum`` (every old
  adapter runs as one concatenated LoRA per target).
* ``sdlora``: the candidates and every old adapter's magnitude train (SD-LoRA's update), so no
  old adapter can be folded: it always runs the rank-sum path.

Variants run round-robin so drift in machine load hits them alike; the first ``--warmup``
rounds are discarded and the median step time is reported with its ratio to the same host's
N = 1 (and the median paired ratio over rounds). Results go to ``perf/results/bench_tasks.json``.

    python perf/bench_tasks.py                    # MiniLM, batch 16 x 64 tokens, 2 threads
    python perf/bench_tasks.py --quick            # tiny-bert, seconds
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time

import torch

from _common import add_common_args, prepare, qv_targets, run_info
from litelora.reporting.environment import environment_info


def build(base: torch.nn.Module, tasks: int, host: str, fold: bool):  # noqa: ANN201 - a step closure
    from litelora.adapters import AdapterBank, AdapterConfig

    model = copy.deepcopy(base).train()
    bank = AdapterBank(model, AdapterConfig(target_modules=qv_targets(base), r=8, lora_alpha=16,
                                            init_lora_weights="gaussian"))
    for t in range(tasks):
        params = bank.add_task(t)
    if host == "sdlora":
        for t in range(tasks - 1):
            for adapter in bank.candidates(t).values():
                adapter.magnitude.requires_grad_(True)
                params.append(adapter.magnitude)
    optimizer = torch.optim.AdamW(params, lr=1e-4)
    if fold:
        bank.fold_frozen()
    return model, optimizer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny-bert, tasks 1 and 5, few rounds")
    parser.add_argument("--tasks", type=int, nargs="+", default=[1, 20, 50])
    add_common_args(parser, "bench_tasks", batch=16)
    args = parser.parse_args(argv)
    if args.quick:
        args.model, args.tasks, args.rounds, args.warmup = "tiny-bert", [1, 5], 3, 1
    prepared = prepare(args)
    if prepared is None:
        return 1
    base, inputs = prepared
    variants = {}
    for n in args.tasks:
        variants[f"inclora-fold-{n}"] = build(base, n, "inclora", fold=True)
        variants[f"inclora-rank-sum-{n}"] = build(base, n, "inclora", fold=False)
        variants[f"sdlora-{n}"] = build(base, n, "sdlora", fold=False)
    times: dict[str, list[float]] = {k: [] for k in variants}
    for r in range(args.rounds):
        for name, (model, optimizer) in variants.items():
            start = time.perf_counter()
            out = model(**inputs).last_hidden_state
            out.float().pow(2).mean().backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if r >= args.warmup:
                times[name].append(time.perf_counter() - start)
    median = {k: statistics.median(v) for k, v in times.items()}
    first = args.tasks[0]
    ratios = {}
    for name in times:
        host, _, n = name.rpartition("-")
        ref = f"{host}-{first}"
        ratios[name] = {"median_ratio": median[name] / median[ref],
                        "paired_ratio": statistics.median(a / b for a, b in zip(times[name], times[ref]))}
    result = {
        "run_info": run_info(argv, {"model": args.model, "tasks": args.tasks, "rounds": args.rounds,
                                    "warmup": args.warmup, "batch": args.batch, "seq_len": args.seq_len}),
        "train_info": {"step_seconds": times, "median_step_seconds": median, "ratio_to_one_task": ratios},
        "meta_info": environment_info(),
    }
    from litelora._io import write_json

    write_json(args.json, result)
    print(f"{'variant':<24} {'median ms':>10} {'x N=' + str(first):>8} {'paired':>7}")
    for name in times:
        print(f"{name:<24} {1000 * median[name]:10.1f} {ratios[name]['median_ratio']:8.3f} "
              f"{ratios[name]['paired_ratio']:7.3f}")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
