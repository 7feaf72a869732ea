"""Does the measured redundancy predict where the gate reuses?

For every seed of a suite, the host run's saved adapters are analysed (``litelora analyze``:
``rho`` of each later task's adapter, the share of it the earlier adapters of the same module
represent), and compared, module by module and task by task, with what gate v2 measured and
decided in the paired gated run (``need``: the consistent share of the task's gradient outside
the old adapters' span; ``decision``). Reported per seed: the Spearman correlation of rho and
need within each task (averaged over tasks; negative = the gate sees as novel what the host's
own adapters show to be new), and the mean rho of the modules the gate recruited against those
it reused (a gate that reuses where adapters are redundant reuses where rho is higher).

    python reproduce/redundancy_vs_gate.py /work/runs/gate_v2_generative/gate_v2_generative \\
        --host inclora --gated inclora+litelora-b0.5 --out reproduce/results/redundancy_vs_gate_generative.json
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

from litelora._io import read_json, write_json


def spearman(a: list[float], b: list[float]) -> float | None:
    """Spearman's rank correlation (ties broken by position); None for fewer than 3 pairs."""
    if len(a) < 3:
        return None

    def ranks(x: list[float]) -> list[int]:
        order = sorted(range(len(x)), key=lambda i: x[i])
        out = [0] * len(x)
        for k, i in enumerate(order):
            out[i] = k
        return out

    ra, rb = ranks(a), ranks(b)
    ma, mb = statistics.mean(ra), statistics.mean(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    var = (sum((x - ma) ** 2 for x in ra) * sum((y - mb) ** 2 for y in rb)) ** 0.5
    return cov / var if var else None


def host_rho(run: Path) -> dict[tuple[str, int], float]:
    """(target, task) -> rho from the factor analysis of the host run's final bank."""
    from litelora.analysis import analyze_factors, factors_from_saved_bank

    result = analyze_factors(factors_from_saved_bank(run / "adapters"))
    out = {}
    for module, info in result["modules"].items():
        for task, rho in zip(info["tasks"], info["rho"]):
            if rho is not None:
                out[(module, task)] = rho
    return out


def compare(host: Path, gated: Path) -> dict[str, Any]:
    rho = host_rho(host)
    decisions = [d for d in read_json(gated / "gates.json") if d.get("need") is not None]
    per_task: dict[int, list[tuple[float, float, str]]] = {}
    for d in decisions:
        key = (d["target"], d["task"])
        if key in rho:
            per_task.setdefault(d["task"], []).append((rho[key], d["need"], d["decision"]))
    correlations = {t: spearman([r for r, _, _ in rows], [n for _, n, _ in rows]) for t, rows in per_task.items()}
    rows = [row for rs in per_task.values() for row in rs]
    recruited = [r for r, _, d in rows if d == "recruit"]
    reused = [r for r, _, d in rows if d == "reuse"]
    valid = [c for c in correlations.values() if c is not None]
    return {
        "host": host.name, "gated": gated.name, "pairs": len(rows),
        "spearman_rho_need_per_task": correlations,
        "spearman_rho_need_mean": statistics.mean(valid) if valid else None,
        "mean_rho_recruited": statistics.mean(recruited) if recruited else None,
        "mean_rho_reused": statistics.mean(reused) if reused else None,
        "recruited": len(recruited), "reused": len(reused),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("root", type=Path, help="the suite's run folder (holding <experiment>_s<seed>/)")
    parser.add_argument("--host", default="inclora")
    parser.add_argument("--gated", default="inclora+litelora")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    seeds = sorted(int(p.name.rsplit("_s", 1)[1]) for p in args.root.glob(f"{args.gated}_s*")
                   if (p / "results.json").is_file() and (args.root / f"{args.host}_s{p.name.rsplit('_s', 1)[1]}"
                                                          / "results.json").is_file())
    if not seeds:
        print(f"no finished {args.host} / {args.gated} pairs under {args.root}", file=sys.stderr)
        return 1
    per_seed = {s: compare(args.root / f"{args.host}_s{s}", args.root / f"{args.gated}_s{s}") for s in seeds}
    write_json(args.out, {"root": str(args.root), "host": args.host, "gated": args.gated, "per_seed": per_seed})
    print(f"{'seed':>4} {'pairs':>6} {'spearman(rho, need)':>20} {'rho recruited':>14} {'rho reused':>11}")
    for s, r in per_seed.items():
        def f(v: float | None) -> str:
            return "n/a" if v is None else f"{v:.3f}"
        print(f"{s:>4} {r['pairs']:>6} {f(r['spearman_rho_need_mean']):>20} {f(r['mean_rho_recruited']):>14} "
              f"{f(r['mean_rho_reused']):>11}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
