"""Time the factor-based redundancy analysis against a dense route, and check they agree.

Setup, per task count T (default 5, 10, 20): a stand-in for a BERT-base encoder's
attention projections, 12 blocks each holding a ``query`` and a ``value``
``nn.Linear(768, 768)`` (24 targets of 768 x 768), with an ``AdapterBank(model,
AdapterConfig(target_modules=["query", "value"], r=8, lora_alpha=16,
init_lora_weights="gaussian"))`` holding ``add_task(t)`` for t < T. So that the measures
are not all near 0, every task t >= 1 is tied to a random earlier task s: 4 of its 8 A rows
are random combinations of s's A rows and 4 of its 8 B columns of s's B columns (the rest
stay independent), so its update shares 4 column and 4 row directions with s's.

Routes, both on the same input ``factors_from_bank(bank)`` (float32 factors, float64 maths):

* ``factor``: ``litelora.analysis.analyze_factors``: every measure of ``analyze_module``
  (rank, norm, erank, rho, residual, column/row subspace similarity and principal angles,
  stacked erank) from QRs of the factors and r x r cores; no d_out x d_in matrix.
* ``dense`` (written here): each ``dW = s * B @ A`` formed as a 768 x 768 matrix; its SVD
  gives the column/row bases (numerical rank by the same ``max(d_out, d_in, r) * eps(float32)
  * s_max`` rule), norm and erank; similarity ``||Ui^T Uj||_F^2 / min(ri, rj)`` and mean
  principal angle of every pair; rho_t = ``||P_out dW_t P_in||_F^2 / ||dW_t||_F^2`` with
  the dense 768 x 768 projectors ``P = Q Q^T`` onto the union of tasks < t's column (row)
  spaces, the union grown task by task by an SVD of ``[Q, U_t]``. It computes fewer
  measures than the factor route (no residual, no stacked erank), so its time is a lower
  bound of a dense route's and the speed-up an underestimate.

The dense route is timed on ``--dense-modules`` evenly spaced targets only (it costs about
a second per module and task count on one core) and extrapolated linearly to all 24
(modules are independent and equal-sized, so its time is linear in their number). The
factor route is timed on all 24 targets and, for a like-for-like per-module ratio, on the
same subset. On the subset both routes' per-module results are compared entry by entry.
Routes and T values run round-robin; the first ``--warmup`` rounds are discarded and the
median of the timed rounds is reported.

Run from the repository root::

    python perf/bench_analysis.py --threads 1
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from _common import quantile, run_info  # perf/ is on sys.path when run as a script
from litelora.reporting.environment import environment_info

from litelora._io import write_json
from litelora.adapters import AdapterBank, AdapterConfig
from litelora.analysis import TaskFactors, analyze_factors, factors_from_bank

TARGETS = ["query", "value"]
R, ALPHA, SHARED = 8, 16, 4


class Encoder(nn.Module):
    """``blocks.{i}.query`` and ``blocks.{i}.value``, ``nn.Linear(d, d)`` each; no forward needed."""

    def __init__(self, blocks: int, d: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(nn.ModuleDict({"query": nn.Linear(d, d), "value": nn.Linear(d, d)})
                                    for _ in range(blocks))


def build_bank(tasks: int, blocks: int, d: int, seed: int = 0) -> AdapterBank:
    """A bank of ``tasks`` tasks over ``2 * blocks`` targets of ``d x d``; tasks >= 1 share
    ``SHARED`` column and row directions with one random earlier task each."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed + 1)
    bank = AdapterBank(Encoder(blocks, d), AdapterConfig(target_modules=TARGETS, r=R, lora_alpha=ALPHA,
                                                         init_lora_weights="gaussian"))
    for t in range(tasks):
        bank.add_task(t)
        if t == 0:
            continue
        with torch.no_grad():
            for target in bank.targets:
                slot = bank.slot(target)
                new = slot.adapters[f"task_{t:03d}"]
                s = int(torch.randint(0, t, (1,), generator=g))
                old = slot.adapters[f"task_{s:03d}"]
                new.lora_A[:SHARED] = torch.randn(SHARED, R, generator=g) @ old.lora_A / math.sqrt(R)
                new.lora_B[:, :SHARED] = old.lora_B @ torch.randn(R, SHARED, generator=g) / math.sqrt(R)
    return bank


# ---------------------------------------------------------------------------- dense route
def _union(Q: torch.Tensor, U: torch.Tensor, tol: float) -> torch.Tensor:
    """Orthonormal basis of span([Q, U]) from its SVD (directions with singular value > tol)."""
    X, s, _ = torch.linalg.svd(torch.cat([Q, U], dim=1), full_matrices=False)
    return X[:, s > tol]


def dense_module(entries: list[TaskFactors]) -> dict[str, Any]:
    """Rank, norm, erank, rho and pairwise similarity / mean angle of one module, on dense dW."""
    entries = sorted(entries, key=lambda e: e[0])
    eps = torch.finfo(entries[0][1].dtype).eps
    dWs = [(B.double() * coef) @ A.double() for _, A, B, coef in entries]
    d_out, d_in = dWs[0].shape
    bases = []
    for dW, (_, A, _, _) in zip(dWs, entries):
        U, s, Vh = torch.linalg.svd(dW, full_matrices=False)
        keep = s > max(d_out, d_in, A.shape[0]) * eps * s[0] if s[0] > 0 else torch.zeros_like(s, dtype=torch.bool)
        bases.append((U[:, keep], s[keep], Vh[keep].T))
    n = len(dWs)
    out: dict[str, Any] = {"tasks": [e[0] for e in entries], "rank": [int(b[1].numel()) for b in bases],
                           "norm": [float(b[1].square().sum().sqrt()) for b in bases]}
    out["erank"] = [float(torch.exp(-(p * p.log()).sum())) for p in (b[1] / b[1].sum() for b in bases)]
    for space, k in (("col", 0), ("row", 2)):
        sim = [[math.nan] * n for _ in range(n)]
        ang = [[math.nan] * n for _ in range(n)]
        for i in range(n):
            for j in range(n):
                M = bases[i][k].T @ bases[j][k]
                sim[i][j] = float(M.square().sum() / min(M.shape))
                ang[i][j] = float(torch.arccos(torch.linalg.svdvals(M).clamp(-1.0, 1.0)).mean())
        out[f"similarity_{space}"], out[f"angle_{space}"] = sim, ang
    tol = max(d_out, d_in, sum(b[1].numel() for b in bases)) * eps
    Qc, Qr = dWs[0].new_zeros(d_out, 0), dWs[0].new_zeros(d_in, 0)
    rho: list[float | None] = []
    for t, (dW, (U, _, V)) in enumerate(zip(dWs, bases)):
        if t == 0:
            rho.append(None)
        else:
            P_out, P_in = Qc @ Qc.T, Qr @ Qr.T
            rho.append(float((P_out @ dW @ P_in).square().sum() / dW.square().sum()))
        Qc, Qr = _union(Qc, U, tol), _union(Qr, V, tol)
    out["rho"] = rho
    return out


def compare(factor: dict[str, Any], dense: dict[str, Any]) -> dict[str, Any]:
    """Largest absolute differences between the two routes' results of one module."""
    def maxdiff(a: list[Any], b: list[Any]) -> float:
        flat_a = [x for row in a for x in (row if isinstance(row, list) else [row])]
        flat_b = [x for row in b for x in (row if isinstance(row, list) else [row])]
        return max((abs(x - y) for x, y in zip(flat_a, flat_b) if x is not None and y is not None), default=0.0)

    return {
        "tasks_equal": factor["tasks"] == dense["tasks"],
        "rank_equal": factor["rank"] == dense["rank"],
        "similarity_col": maxdiff(factor["similarity_col"], dense["similarity_col"]),
        "similarity_row": maxdiff(factor["similarity_row"], dense["similarity_row"]),
        "rho": maxdiff(factor["rho"], dense["rho"]),
        "angle_col": maxdiff(factor["angle_col"], dense["angle_col"]),
        "angle_row": maxdiff(factor["angle_row"], dense["angle_row"]),
        "norm_rel": max(abs(x - y) / y for x, y in zip(factor["norm"], dense["norm"])),
        "erank": maxdiff(factor["erank"], dense["erank"]),
        "rho_none_equal": [x is None for x in factor["rho"]] == [x is None for x in dense["rho"]],
    }


# ---------------------------------------------------------------------------- timing


def stats(xs: list[float]) -> dict[str, Any]:
    return {"median_ms": round(statistics.median(xs), 3), "p25_ms": round(quantile(xs, 0.25), 3),
            "p75_ms": round(quantile(xs, 0.75), 3), "times_ms": [round(x, 3) for x in xs]}


def bench(task_counts: list[int], blocks: int, d: int, n_dense: int, rounds: int, warmup: int) -> dict[str, Any]:
    banks = {T: build_bank(T, blocks, d) for T in task_counts}
    targets = banks[task_counts[0]].targets
    step = max(1, len(targets) // n_dense)
    subset = targets[::step][:n_dense]
    jobs: dict[tuple[int, str], Callable[[], Any]] = {}
    for T, bank in banks.items():
        jobs[(T, "factor_all")] = lambda bank=bank: analyze_factors(factors_from_bank(bank))
        jobs[(T, "factor_subset")] = lambda bank=bank: analyze_factors(
            {k: v for k, v in factors_from_bank(bank).items() if k in subset})
        jobs[(T, "dense_subset")] = lambda bank=bank: {
            k: dense_module(v) for k, v in factors_from_bank(bank).items() if k in subset}
    times: dict[tuple[int, str], list[float]] = {key: [] for key in jobs}
    last: dict[tuple[int, str], Any] = {}
    for i in range(warmup + rounds):
        print(f"round {i + 1}/{warmup + rounds}{' (warm-up)' if i < warmup else ''}", file=sys.stderr, flush=True)
        for key, job in jobs.items():
            t0 = time.perf_counter()
            last[key] = job()
            dt = time.perf_counter() - t0
            if i >= warmup:
                times[key].append(dt * 1e3)
    out: dict[str, Any] = {}
    for T in task_counts:
        f_all = statistics.median(times[(T, "factor_all")])
        f_sub = statistics.median(times[(T, "factor_subset")])
        d_sub = statistics.median(times[(T, "dense_subset")])
        d_all = d_sub * len(targets) / len(subset)
        factor_res, dense_res = last[(T, "factor_all")], last[(T, "dense_subset")]
        checks = {k: compare(factor_res["modules"][k], dense_res[k]) for k in subset}
        worst = {m: max(c[m] for c in checks.values())
                 for m in ("similarity_col", "similarity_row", "rho", "angle_col", "angle_row", "norm_rel", "erank")}
        exact = all(c["tasks_equal"] and c["rank_equal"] and c["rho_none_equal"] for c in checks.values())
        summ = factor_res["summary"]
        out[str(T)] = {
            "tasks": T, "modules": len(targets), "dense_modules_timed": subset,
            "factor_all": stats(times[(T, "factor_all")]),
            "factor_subset": stats(times[(T, "factor_subset")]),
            "dense_subset": stats(times[(T, "dense_subset")]),
            "dense_all_extrapolated_ms": round(d_all, 3),
            "speedup_all": round(d_all / f_all, 2),
            "speedup_per_module": round(d_sub / f_sub, 2),
            "agreement": {
                "max_abs_diff": worst,
                "tasks_ranks_and_undefined_rho_equal": exact,
                "similarity_and_rho_within_1e-6": exact and max(worst["similarity_col"], worst["similarity_row"],
                                                                 worst["rho"]) <= 1e-6,
                "per_module": checks,
            },
            "factor_summary": {k: summ[k] for k in ("mean_similarity_col", "mean_similarity_row", "mean_rho",
                                                    "mean_residual", "mean_erank", "mean_redundancy_ratio")},
        }
    return out


def markdown(results: dict[str, Any]) -> str:
    m = next(iter(results.values()))["modules"]
    lines = [f"| T | factor route, {m} modules (ms) | dense route, modules timed (ms) | dense, {m} modules "
             f"extrapolated (ms) | speed-up ({m} modules) | speed-up per module | max abs diff similarity | "
             "max abs diff rho | mean rho | mean similarity col / row |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for T, r in results.items():
        a = r["agreement"]["max_abs_diff"]
        s = r["factor_summary"]
        lines.append(
            f"| {T} | {r['factor_all']['median_ms']:.0f} | {r['dense_subset']['median_ms']:.0f} "
            f"({len(r['dense_modules_timed'])}) | {r['dense_all_extrapolated_ms']:.0f} | {r['speedup_all']:.1f}x | "
            f"{r['speedup_per_module']:.1f}x | {max(a['similarity_col'], a['similarity_row']):.1e} | "
            f"{a['rho']:.1e} | {s['mean_rho']:.3f} | {s['mean_similarity_col']:.3f} / {s['mean_similarity_row']:.3f} |")
    return "\n".join(lines)




def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: T = 2,3, one block of 32 x 32 targets, one round, no warm-up")
    ap.add_argument("--tasks", default="5,10,20", help="comma list of task counts T")
    ap.add_argument("--blocks", type=int, default=12, help="blocks of (query, value): 2 * blocks targets")
    ap.add_argument("--dim", type=int, default=768, help="d_in = d_out of every target")
    ap.add_argument("--dense-modules", type=int, default=2, help="targets the dense route is timed on")
    ap.add_argument("--rounds", type=int, default=3, help="timed round-robin rounds")
    ap.add_argument("--warmup", type=int, default=1, help="discarded round-robin rounds")
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    ap.add_argument("--json", default="perf/results/bench_analysis.json", help="results file ('' = none)")
    args = ap.parse_args(argv)
    if args.quick:
        args.tasks, args.blocks, args.dim, args.dense_modules, args.rounds, args.warmup = "2,3", 1, 32, 1, 1, 0
    task_counts = [int(t) for t in args.tasks.split(",") if t.strip()]
    if args.rounds < 1 or args.warmup < 0 or min(task_counts) < 2 or not 1 <= args.dense_modules <= 2 * args.blocks:
        ap.error("need --rounds >= 1, --warmup >= 0, every T >= 2 and 1 <= --dense-modules <= 2 * --blocks")
    torch.set_num_threads(args.threads)

    results = bench(task_counts, args.blocks, args.dim, args.dense_modules, args.rounds, args.warmup)
    print(markdown(results))
    bad = [T for T, r in results.items() if not r["agreement"]["similarity_and_rho_within_1e-6"]]
    if bad:
        print(f"routes disagree beyond 1e-6 for T = {bad}", file=sys.stderr)

    if args.json:
        write_json(args.json, {
            "run_info": run_info(argv, {
                "rounds": args.rounds, "warmup": args.warmup, "tasks": task_counts,
                "targets": 2 * args.blocks, "shape": [args.dim, args.dim], "dense_modules": args.dense_modules,
                "lora": {"r": R, "lora_alpha": ALPHA, "target_modules": TARGETS, "init_lora_weights": "gaussian",
                         "shared_directions_with_one_earlier_task": SHARED},
                "dense_route": "dense dW, SVD per task, pairwise similarity/angles, rho by dense projectors onto "
                               "unions grown by SVD of [Q, U_t]; no residual or stacked erank (fewer measures "
                               "than the factor route); timed on dense_modules targets, extrapolated linearly",
            }),
            "train_info": results,
            "meta_info": environment_info(),
        })
        print(f"wrote {args.json}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
