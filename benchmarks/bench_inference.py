"""Time forward-only inference (eval mode, ``torch.no_grad``) of the adapter bank on CPU.

Measured, per model, for these variants, each built from its own deep copy of the same
base model (all adapters: ``AdapterConfig(target_modules=["query", "value"], r=8,
lora_alpha=16, init_lora_weights="gaussian")``, so every B is non-zero):

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
of them alike (``--rounds`` per model: a MiniLM round of 10 variants takes ~7 s on one
busy core, a tiny-BERT round ~0.3 s); the first ``--warmup`` rounds are discarded and the
median of the timed rounds is reported (p25/p75 and every time in the JSON), with its ratio
to ``base``'s median and the "paired ratio": the median over rounds of (variant time / base
time in the same round), less hurt by slow drift in machine load.
Throughput = batch / median.
Only time is measured (no peak memory: see bench_step.py).

Run from the repository root::

    python benchmarks/bench_inference.py --threads 1     # tiny-bert 60, minilm 8 rounds
    python benchmarks/bench_inference.py --models tiny-bert --rounds 200 --threads 1
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

from _common import load_model, meta_info, quantile, run_info  # benchmarks/ is on sys.path when run as a script

from litelora._io import write_json

TARGETS = ["query", "value"]
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
    bank = AdapterBank(model, AdapterConfig(target_modules=TARGETS, r=R, lora_alpha=ALPHA,
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




def base_flops(cfg: Any, batch: int, seq: int) -> int:
    """Multiply-add FLOPs (x2) of the encoder's matmuls: q, k, v, output, two MLP layers and
    the two attention products; embeddings, norms and softmax left out."""
    tokens, h, inter = batch * seq, cfg.hidden_size, cfg.intermediate_size
    per_layer = 2 * tokens * (4 * h * h + 2 * h * inter) + 2 * 2 * tokens * seq * h
    return per_layer * cfg.num_hidden_layers


def adapter_flops(rank_sums: list[int], h: int, batch: int, seq: int) -> int:
    """FLOPs of the unmerged adapters: per target x A_cat^T (d_in -> R) and then B_cat^T (R -> d_out)."""
    return sum(2 * batch * seq * rs * (h + h) for rs in rank_sums)


def bench_model(name: str, base: nn.Module, rounds: int, warmup: int, batch: int, seq: int) -> dict[str, Any]:
    g = torch.Generator().manual_seed(0)
    cfg = base.config  # type: ignore[union-attr]
    inputs = {"input_ids": torch.randint(0, cfg.vocab_size, (batch, seq), generator=g),
              "attention_mask": torch.ones(batch, seq, dtype=torch.long)}
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
    flops0 = base_flops(cfg, batch, seq)
    out_variants = {}
    for v in VARIANTS:
        unmerged = v.startswith(("unmerged", "half"))
        fl = adapter_flops(facts[v]["rank_sums"], cfg.hidden_size, batch, seq) if unmerged else 0
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
            "adapter_flops": fl,
            "flops_ratio_to_base": round((flops0 + fl) / flops0, 4),
            "times_ms": [round(t, 3) for t in times[v]],
        }
    return {
        "model": name, "batch": batch, "seq_len": seq, "hidden": cfg.hidden_size,
        "layers": cfg.num_hidden_layers, "base_params": sum(p.numel() for p in base.parameters()),
        "base_matmul_flops": flops0,
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
    return "\n".join(lines)


def parse_rounds(spec: str, models: list[str]) -> dict[str, int]:
    """``"30"`` (every model) or ``"tiny-bert=100,minilm=12"`` (models not named get 30)."""
    if "=" not in spec:
        return {m: int(spec) for m in models}
    pairs = dict(item.split("=", 1) for item in spec.split(",") if item.strip())
    known = {"tiny-bert", "minilm"}
    if set(pairs) - known:
        raise ValueError(f"--rounds names unknown models {sorted(set(pairs) - known)}; known: {sorted(known)}")
    return {m: int(pairs.get(m, 30)) for m in models}




def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="tiny-bert,minilm", help="comma list: tiny-bert, minilm")
    ap.add_argument("--rounds", default="tiny-bert=60,minilm=8",
                    help="timed round-robin rounds: one int for every model, or model=int pairs")
    ap.add_argument("--warmup", type=int, default=2, help="discarded round-robin rounds")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq-len", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    ap.add_argument("--json", default="benchmarks/results/bench_inference.json", help="results file ('' = none)")
    args = ap.parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    try:
        rounds = parse_rounds(args.rounds, models)
    except ValueError as err:
        ap.error(str(err))
    if min(rounds.values()) < 1 or args.warmup < 0:
        ap.error("--rounds must be >= 1 and --warmup >= 0")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    results = []
    for name in models:
        base = load_model(name)
        if base is None:
            continue
        print(f"{name}: {args.warmup} warm-up + {rounds[name]} timed rounds ...", file=sys.stderr, flush=True)
        results.append(bench_model(name, base, rounds[name], args.warmup, args.batch, args.seq_len))
    if not results:
        print("no model could be benchmarked", file=sys.stderr)
        return 1
    print(markdown(results))

    if args.json:
        write_json(args.json, {
            "run_info": run_info(argv, {
                "rounds": rounds, "warmup": args.warmup, "batch": args.batch, "seq_len": args.seq_len,
                "mode": "eval, torch.no_grad, forward only",
                "lora": {"r": R, "lora_alpha": ALPHA, "target_modules": TARGETS, "init_lora_weights": "gaussian"},
                "half_removal": "for t >= 1, remove task t's adapter from targets i with i % 2 == t % 2",
            }),
            "train_info": {r["model"]: r for r in results},
            "meta_info": meta_info(("torch", "transformers", "peft", "litelora")),
        })
        print(f"wrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
