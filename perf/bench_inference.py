"""Time forward-only inference (eval mode, ``torch.no_grad``) of the adapter bank on CPU.

Measured, per model, for these variants, each built from its own deep copy of the same
base model (all adapters: ``AdapterConfig(target_modules=<the query and value projections>,
r=8, lora_alpha=16, init_lora_weights="gaussian")``, so every B is non-zero):

* ``base``: the model without adapters (the reference of every ratio).
* ``unmerged-N`` (N = 1, 5, 10, 20): an ``AdapterBank`` with ``add_task(t)`` for t < N;
  every target holds N adapters, run unmerged. ``AdapterSlot.forward`` concatenates
  them, so each target costs one rank-sum (8 N) pair of matmuls, not N pairs.
* ``half-N`` (N = 5, 10, 20): the same bank with half of the (task, target) adapters of
  the tasks after task 0 removed (``bank.remove_candidate(target, task_id=t)`` for every
  other target, alternating with t), as after the gate closed 50 % of the candidates.
* ``merged-20``: ``unmerged-20`` after ``bank.merge_adapters()``: the adapters are folded
  into the base weights, the ``BankLinear`` wrappers stay (they return the base output).
* ``unloaded-20``: ``unmerged-20`` after ``bank.merge_and_unload()``: the plain model back,
  merged weights, no wrapper; separates the wrappers' cost from the merge.

Variants run round-robin (a, b, c, ..., a, b, ...) so that drift in machine load hits all
of them alike; the first ``--warmup`` rounds are discarded and the median of the timed
rounds is reported (p25/p75 and every time in the JSON), with its ratio to ``base``'s
median and the "paired ratio": the median over rounds of (variant time / base time in the
same round), less hurt by slow drift in machine load. Throughput = batch / median. FLOPs
of one forward of each variant are counted by ``torch.utils.flop_counter``.

Merged vs base, resolved to 1 %: a second phase alternates only ``base``, ``merged-20`` and
``unloaded-20`` (rotating the order) until the 95 % bootstrap interval of the median paired
ratio merged / base is within +-``--merge-halfwidth`` (0.5 %) or ``--merge-budget-s`` is
spent; ``unloaded-20`` is the plain model, so its interval shows the noise of those rounds.
Only time is measured (peak memory: see bench_step.py).

Run from the repository root::

    python perf/bench_inference.py                 # tiny-bert and MiniLM, ~5 min on 2 quiet cores
    python perf/bench_inference.py --quick         # tiny-bert, seconds
    python perf/bench_inference.py --models minilm --rounds 20 --merge-budget-s 300 --threads 1
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from _common import (  # perf/ is on sys.path when run as a script
    MODELS, bootstrap_ci, load_model, make_inputs, per_model, quantile, qv_targets, run_info,
)
from litelora.reporting.environment import environment_info

from litelora._io import write_json

R, ALPHA = 8, 16
VARIANTS = ("base", "unmerged-1", "unmerged-5", "unmerged-10", "unmerged-20",
            "half-5", "half-10", "half-20", "merged-20", "unloaded-20")
Forward = Callable[[], torch.Tensor]




def build_variant(base: nn.Module, variant: str) -> tuple[nn.Module, dict[str, Any]]:
    """A deep copy of ``base`` set up as ``variant``; returns (model, bank facts)."""
    model = copy.deepcopy(base)
    if variant == "base":
        return model.eval(), {"tasks": 0, "active_adapters": 0, "rank_sums": []}
    from litelora.adapters import AdapterBank, AdapterConfig

    kind, n = variant.rsplit("-", 1)
    n_tasks = int(n)
    bank = AdapterBank(model, AdapterConfig(target_modules=qv_targets(model), r=R, lora_alpha=ALPHA,
                                            init_lora_weights="gaussian"))
    for t in range(n_tasks):
        bank.add_task(t)
    if kind == "half":
        for t in range(1, n_tasks):
            for i, target in enumerate(bank.targets):
                if i % 2 == t % 2:  # every other target, alternating with t: each slot keeps ~half
                    bank.remove_candidate(target, task_id=t)
    rank_sums = [sum(a.r for a in bank.slot(t).adapters.values()) for t in bank.targets]  # type: ignore[attr-defined]
    facts = {"tasks": n_tasks, "active_adapters": bank.num_active(), "rank_sums": rank_sums,
             "adapter_params": bank.summary()["adapter_params"]}
    if kind == "merged":
        bank.merge_adapters()
    elif kind == "unloaded":
        model = bank.merge_and_unload()
    return model.eval(), facts


def make_forward(model: nn.Module, batch: dict[str, torch.Tensor]) -> Forward:
    model.eval()

    def forward() -> torch.Tensor:
        with torch.no_grad():
            return model(**batch).last_hidden_state

    return forward




def forward_flops(forward: Forward) -> int:
    """Matmul FLOPs of one forward, counted by torch (adapters included when unmerged)."""
    with FlopCounterMode(display=False) as counter:
        forward()
    return int(counter.get_total_flops())


def resolve_merged(forwards: dict[str, Forward], budget_s: float, halfwidth: float,
                   min_rounds: int) -> dict[str, Any]:
    """Alternate ``base``, ``merged-20`` and ``unloaded-20`` (order rotating each round) until
    the 95 % bootstrap interval of the median paired ratio merged / base is narrower than
    +-``halfwidth`` or ``budget_s`` seconds are spent; ``unloaded`` (the plain model, true
    ratio 1) shows the noise floor of the same rounds."""
    names = ("base", "merged-20", "unloaded-20")
    times: dict[str, list[float]] = {n: [] for n in names}
    t_start = time.perf_counter()
    i = 0
    while True:
        for n in names[i % 3:] + names[: i % 3]:
            t0 = time.perf_counter()
            forwards[n]()
            times[n].append((time.perf_counter() - t0) * 1e3)
        i += 1
        if i < min_rounds:
            continue
        out = {}
        for n in ("merged-20", "unloaded-20"):
            ratios = [t / b for t, b in zip(times[n], times["base"])]
            lo, hi = bootstrap_ci(ratios)
            out[n] = {"paired_ratio_to_base": round(statistics.median(ratios), 4),
                      "ci95": [round(lo, 4), round(hi, 4)]}
        width = (out["merged-20"]["ci95"][1] - out["merged-20"]["ci95"][0]) / 2
        if width <= halfwidth or time.perf_counter() - t_start > budget_s:
            return {"rounds": i, "seconds": round(time.perf_counter() - t_start, 1), "target_halfwidth": halfwidth,
                    "resolved": width <= halfwidth, **out,
                    "times_ms": {n: [round(t, 3) for t in ts] for n, ts in times.items()}}


def bench_model(name: str, base: nn.Module, rounds: int, warmup: int, batch: int, seq: int,
                merge_budget_s: float, merge_halfwidth: float, merge_min_rounds: int) -> dict[str, Any]:
    cfg = base.config  # type: ignore[union-attr]
    inputs = make_inputs(base, batch, seq)
    torch.manual_seed(0)  # same adapter weights for every N (task t's draw follows task t-1's)
    forwards: dict[str, Forward] = {}
    facts: dict[str, dict[str, Any]] = {}
    outputs: dict[str, torch.Tensor] = {}
    for v in VARIANTS:
        torch.manual_seed(0)
        model, facts[v] = build_variant(base, v)
        forwards[v] = make_forward(model, inputs)
        outputs[v] = forwards[v]()
    # Sanity: merging must not change the function (float32 rounding only).
    merge_err = float((outputs["merged-20"] - outputs["unmerged-20"]).abs().max())
    unload_err = float((outputs["unloaded-20"] - outputs["unmerged-20"]).abs().max())
    times: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for i in range(warmup + rounds):
        for v in VARIANTS:
            t0 = time.perf_counter()
            forwards[v]()
            dt = time.perf_counter() - t0
            if i >= warmup:
                times[v].append(dt * 1e3)
    med = {v: statistics.median(times[v]) for v in VARIANTS}
    flops = {v: forward_flops(forwards[v]) for v in VARIANTS}
    merged = resolve_merged(forwards, merge_budget_s, merge_halfwidth, merge_min_rounds) if merge_budget_s > 0 else None
    out_variants = {}
    for v in VARIANTS:
        out_variants[v] = {
            "median_ms": round(med[v], 3),
            "p25_ms": round(quantile(times[v], 0.25), 3),
            "p75_ms": round(quantile(times[v], 0.75), 3),
            "samples_per_s": round(batch / (med[v] / 1e3), 1),
            "ratio_to_base": round(med[v] / med["base"], 4),
            "paired_ratio_to_base": round(statistics.median(t / b for t, b in zip(times[v], times["base"])), 4),
            "tasks": facts[v]["tasks"],
            "active_adapters": facts[v]["active_adapters"],
            "mean_rank_sum_per_target": (round(sum(facts[v]["rank_sums"]) / len(facts[v]["rank_sums"]), 2)
                                         if facts[v]["rank_sums"] else 0),
            "forward_flops": flops[v],
            "adapter_flops": flops[v] - flops["base"],
            "flops_ratio_to_base": round(flops[v] / flops["base"], 4),
            "times_ms": [round(t, 3) for t in times[v]],
        }
    return {
        "model": name, "batch": batch, "seq_len": seq, "hidden": cfg.hidden_size,
        "layers": cfg.num_hidden_layers, "base_params": sum(p.numel() for p in base.parameters()),
        "targets": qv_targets(base),
        "merged_vs_base": merged,
        "max_abs_diff_merged_vs_unmerged": merge_err,
        "max_abs_diff_unloaded_vs_unmerged": unload_err,
        "variants": out_variants,
    }


def markdown(results: list[dict[str, Any]]) -> str:
    lines = ["| model | variant | adapters (task, target) | rank sum / target | median ms/batch | samples/s "
             "| ratio to base | paired ratio | FLOP ratio to base |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        for v, s in r["variants"].items():
            lines.append(f"| {r['model']} | {v} | {s['active_adapters']} | {s['mean_rank_sum_per_target']:g} | "
                         f"{s['median_ms']:.2f} | {s['samples_per_s']:,.0f} | {s['ratio_to_base']:.3f} | "
                         f"{s['paired_ratio_to_base']:.3f} | "
                         f"{s['flops_ratio_to_base']:.3f} |")
    lines += ["", "| model | merged-20 / base (paired median, 95 % CI) | unloaded-20 / base | rounds | resolved |",
              "|---|---|---|---:|---|"]
    for r in results:
        m = r["merged_vs_base"]
        if m:
            cells = [f"{m[n]['paired_ratio_to_base']:.4f} [{m[n]['ci95'][0]:.4f}, {m[n]['ci95'][1]:.4f}]"
                     for n in ("merged-20", "unloaded-20")]
            lines.append(f"| {r['model']} | {cells[0]} | {cells[1]} | {m['rounds']} | "
                         f"{'yes' if m['resolved'] else 'no'} (+-{m['target_halfwidth']:g}) |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny-bert, few rounds, short merge phase (smoke run)")
    ap.add_argument("--models", help=f"comma list of {', '.join(MODELS)} (default tiny-bert,minilm)")
    ap.add_argument("--rounds", help="timed round-robin rounds: one int, or model=int pairs "
                                     "(default tiny-bert=40,minilm=6)")
    ap.add_argument("--warmup", type=int, default=2, help="discarded round-robin rounds")
    ap.add_argument("--merge-budget-s", help="seconds (one value or model=value pairs) for the merged-vs-base "
                                             "phase, 0 = skip (default tiny-bert=30,minilm=90)")
    ap.add_argument("--merge-halfwidth", type=float, default=0.005,
                    help="stop the merged-vs-base phase once the 95%% CI is this narrow (each side)")
    ap.add_argument("--batch", type=int, help="examples per forward (default 32; 4 with --quick)")
    ap.add_argument("--seq-len", type=int, help="tokens per example (default 64; 16 with --quick)")
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    ap.add_argument("--json", default="perf/results/bench_inference.json", help="results file ('' = none)")
    args = ap.parse_args(argv)
    if args.quick:
        defaults = {"models": "tiny-bert", "rounds": "2", "budget": "1", "batch": 4, "seq_len": 16, "min_rounds": 3}
    else:
        defaults = {"models": "tiny-bert,minilm", "rounds": "tiny-bert=40,minilm=6", "budget": "tiny-bert=30,minilm=90",
                    "batch": 32, "seq_len": 64, "min_rounds": 10}
    args.batch = args.batch or defaults["batch"]
    args.seq_len = args.seq_len or defaults["seq_len"]
    models = [m.strip() for m in (args.models or defaults["models"]).split(",") if m.strip()]
    try:
        rounds = per_model(args.rounds or defaults["rounds"], models, "rounds")
        budgets = per_model(args.merge_budget_s or defaults["budget"], models, "merge-budget-s", float)
    except ValueError as err:
        ap.error(str(err))
    if min(rounds.values()) < 1 or args.warmup < 0 or not 0 < args.merge_halfwidth < 1:
        ap.error("--rounds must be >= 1, --warmup >= 0 and --merge-halfwidth in (0, 1)")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    results = []
    for name in models:
        base = load_model(name)
        if base is None:
            continue
        print(f"{name}: {args.warmup} warm-up + {rounds[name]} timed rounds, then up to {budgets[name]:g} s "
              "of merged vs base ...", file=sys.stderr, flush=True)
        results.append(bench_model(name, base, rounds[name], args.warmup, args.batch, args.seq_len,
                                   budgets[name], args.merge_halfwidth, int(defaults["min_rounds"])))
    if not results:
        print("no model could be benchmarked", file=sys.stderr)
        return 1
    print(markdown(results))

    if args.json:
        write_json(args.json, {
            "run_info": run_info(argv, {
                "rounds": rounds, "warmup": args.warmup, "batch": args.batch, "seq_len": args.seq_len,
                "merge_budget_s": budgets, "merge_halfwidth": args.merge_halfwidth,
                "mode": "eval, torch.no_grad, forward only",
                "lora": {"r": R, "lora_alpha": ALPHA, "target_modules": "query and value projections",
                         "init_lora_weights": "gaussian"},
                "half_removal": "for t >= 1, remove task t's adapter from targets i with i % 2 == t % 2",
            }),
            "train_info": {r["model"]: r for r in results},
            "meta_info": environment_info(),
        })
        print(f"wrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
