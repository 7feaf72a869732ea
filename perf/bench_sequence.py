"""A whole task sequence, two configurations side by side (by default the host method alone vs
host + the LiteLoRA gate; ``--pair inflora`` compares InfLoRA with inclora): wall time, peak
RSS and adapter bytes stored.

Each run is ``python -m litelora train`` in its own subprocess (a fresh run directory under
a temporary folder), so that its peak RSS is that child's alone: ``wait4`` returns the
child's ``ru_maxrss``. The two configurations alternate, and the order flips every repeat
(host, gate / gate, host / ...), so that drift in machine load hits both alike. Reported
per configuration: the median over repeats of the child's wall time (start-up, data,
training, evaluation, checkpoints), of its CPU time (user + system of all its threads,
from ``wait4``; far less hurt than wall time when other processes hold the cores, though
contended cores still slow each instruction), of the trainer's own training seconds
(``metrics.train_seconds``), of peak RSS, and the adapter bytes in the final bank
(``adapters/adapters.safetensors``); then second / first ratios (gate / host, or
inflora / inclora).

Presets (``--set`` overrides are appended to every run of both configurations):

* default: the default benchmark (class-incremental WordNet supersenses, MiniLM,
  inclora, 5 tasks x 4 classes) at reduced size, 60 training and 20 test glosses per
  class (a full run has 120 and 60), 2 repeats: about 4 x 1 min on 2 quiet cores.
* ``--full``: the default benchmark unchanged (about 4 x 2 min on 2 quiet cores).
* ``--quick``: ``tiny-text`` on ``tiny-bert``, seconds per run (smoke runs).

Run from the repository root::

    python perf/bench_sequence.py
    python perf/bench_sequence.py --full --repeats 3
    python perf/bench_sequence.py --quick --repeats 1
    python perf/bench_sequence.py --full --pair inflora --json perf/results/bench_sequence_inflora.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from _common import run_child, run_info  # perf/ is on sys.path when run as a script
from litelora.reporting.environment import environment_info

from litelora._io import write_json

PAIRS: dict[str, dict[str, list[str]]] = {
    "gate": {"host": [], "host+gate": ["gate.kind=hard_concrete", "gate.params.lam=0.01"]},
    "inflora": {"inclora": ["method.name=inclora"], "inflora": ["method.name=inflora"]},
    # InfLoRA with one pass over each task (the memory from the design pass's covariances)
    "inflora-one-pass": {"inclora": ["method.name=inclora"],
                         "inflora-one-pass": ["method.name=inflora", "method.params.memory_inputs=before"]},
}
PRESETS: dict[str, list[str]] = {
    "default": ["benchmark.name=wordnet-supersenses", "benchmark.options.train_per_class=60",
                "benchmark.options.test_per_class=20"],
    "full": [],
    "quick": ["benchmark.name=tiny-text", "model.name=tiny-bert", "train.epochs=1", "train.eval_batch_size=32"],
}


def train_once(config: list[str], sets: list[str], run_dir: Path, threads: int) -> dict[str, Any]:
    """One ``litelora train`` subprocess; its wall time, peak RSS and the run's own numbers."""
    # gate.kind first: the default run gates (auto); a configuration that wants a gate names it after
    cmd = [sys.executable, "-m", "litelora", "train", "--no-progress", "-o", str(run_dir),
           "--set", f"train.num_threads={threads}", "--set", "gate.kind=none"]
    for s in [*sets, *config]:
        cmd += ["--set", s]
    run = run_child(cmd)
    if run.returncode != 0:
        raise SystemExit(f"run failed (exit {run.returncode}): {' '.join(cmd)}")
    metrics = json.loads((run_dir / "results.json").read_text())["metrics"]
    stored = sum(f.stat().st_size for f in (run_dir / "adapters").glob("*.safetensors"))
    return {
        "wall_s": round(run.wall_s, 3),
        "cpu_s": round(run.cpu_s, 3),
        "train_seconds": round(metrics["train_seconds"], 3),
        "peak_rss_bytes": run.max_rss_bytes,
        "adapter_file_bytes": stored,
        "adapter_bytes": metrics["adapter_bytes"],
        "active_adapters": metrics["active_adapters"],
        "adapter_reduction": metrics["adapter_reduction"],
        "final_acc_sample": metrics["final_acc_sample"],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
    }


def summarise(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    keys = ("wall_s", "cpu_s", "train_seconds", "peak_rss_bytes", "adapter_file_bytes", "adapter_bytes",
            "active_adapters", "adapter_reduction", "final_acc_sample")
    med = {c: {k: statistics.median(r[k] for r in rs) for k in keys} for c, rs in runs.items()}
    first, second = list(runs)
    paired = [b["wall_s"] / a["wall_s"] for a, b in zip(runs[first], runs[second])]
    ratios = {k: round(med[second][k] / med[first][k], 4) for k in ("wall_s", "cpu_s", "train_seconds", "peak_rss_bytes",
                                                        "adapter_file_bytes", "adapter_bytes")}
    ratios["paired_wall_s"] = round(statistics.median(paired), 4)
    return {"median": med, "ratio": f"{second} / {first}", "ratio_second_to_first": ratios}


def markdown(summary: dict[str, Any]) -> str:
    lines = ["| config | wall s | CPU s | train s | peak RSS MiB | adapter KiB stored | active adapters | reduction "
             "| final acc |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for c, m in summary["median"].items():
        lines.append(f"| {c} | {m['wall_s']:.1f} | {m['cpu_s']:.1f} | {m['train_seconds']:.1f} | "
                     f"{m['peak_rss_bytes'] / 2**20:.0f} | {m['adapter_file_bytes'] / 1024:.0f} | "
                     f"{m['active_adapters']:g} | {m['adapter_reduction']:.2f} | {m['final_acc_sample']:.3f} |")
    r = summary["ratio_second_to_first"]
    lines.append(f"| {summary['ratio']} | {r['wall_s']:.3f} (paired {r['paired_wall_s']:.3f}) | {r['cpu_s']:.3f} | "
                 f"{r['train_seconds']:.3f} | {r['peak_rss_bytes']:.3f} | {r['adapter_file_bytes']:.3f} | | | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    size = ap.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="tiny-text on tiny-bert (smoke run)")
    size.add_argument("--full", action="store_true", help="the default benchmark at full size")
    ap.add_argument("--repeats", type=int, default=2, help="runs per configuration, order flipped each repeat")
    ap.add_argument("--pair", choices=sorted(PAIRS), default="gate",
                    help="the two configurations compared: host vs host+gate, inclora vs inflora, or inclora vs "
                         "inflora with one pass per task")
    ap.add_argument("--threads", type=int, default=2, help="train.num_threads of every run")
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                    help="extra config override for every run (repeatable)")
    ap.add_argument("--json", default="perf/results/bench_sequence.json", help="results file ('' = none)")
    args = ap.parse_args(argv)
    if args.repeats < 1:
        ap.error("--repeats must be >= 1")
    preset = "quick" if args.quick else "full" if args.full else "default"
    sets = [*PRESETS[preset], *args.sets]

    configs = PAIRS[args.pair]
    runs: dict[str, list[dict[str, Any]]] = {c: [] for c in configs}
    order: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench_sequence_") as tmp:
        for rep in range(args.repeats):
            for config in (list(configs) if rep % 2 == 0 else list(configs)[::-1]):
                print(f"repeat {rep + 1}/{args.repeats}: {config} ...", file=sys.stderr, flush=True)
                runs[config].append(train_once(configs[config], sets, Path(tmp) / f"{config}_{rep}", args.threads))
                order.append(config)
    summary = summarise(runs)
    print(markdown(summary))
    if args.json:
        write_json(args.json, {
            "run_info": run_info(argv, {"preset": preset, "repeats": args.repeats, "order": order,
                                        "sets": sets, "pair": args.pair, "configs": configs, "threads": args.threads}),
            "train_info": {"runs": runs, **summary},
            "meta_info": environment_info(),
        })
        print(f"wrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
