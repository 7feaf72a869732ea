"""The gate's whole-run cost: the host alone against host + LiteLoRA gate v3 (at its defaults, with
``gate.params.probe_counts``: the probe kept as the task's first steps, with
``gate.params.unsolved=chance``: no base reading, and with both), on the default stream and on a
short generative stream.

Every run is its own subprocess (a fresh run directory, its own peak RSS from ``wait4``). For
each stream and seed the rows run back to back, their order rotated from seed to seed, so
that load drift hits every row alike, and ratios are paired within a seed. Per run: whole-run
wall and CPU seconds, the trainer's training seconds (probe, search and steps), peak RSS, the
adapter bytes the bank keeps, active adapters, parameter reduction against the host's and
final accuracy. Training FLOPs are counted by ``torch.utils.flop_counter`` in one extra run per
stream and row (seed 0) with the counter on, which slows the run, so its wall is not used; a
second counter inside it takes the gate's share (its base reading, probe and decision), so the
rest is what the task's own steps cost.

Streams:

* ``default``: the default run's stream (``families``: 7 task-incremental text tasks in recurring
  families, MiniLM, inclora), 32 training and 20 test examples per class.
* ``generative``: SmolLM2-135M-Instruct on the ``families`` stream, 8 training and 4 test
  examples per class, 2 epochs, rank scoring.

    python perf/bench_gate_cost.py --seeds 0,1            # tens of minutes on 2 cores
    python perf/bench_gate_cost.py --quick                # tiny models, about a minute
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

ROWS: dict[str, list[str]] = {
    "host": ["gate.kind=none"],  # the default run gates (gate.kind=auto): the host is named
    "host+v3": ["gate.kind=litelora-v3"],
    "host+v3-probe-counts": ["gate.kind=litelora-v3", "gate.params.probe_counts=true"],
    "host+v3-chance": ["gate.kind=litelora-v3", "gate.params.unsolved=chance"],  # no base reading
    "host+v3-chance-probe-counts": ["gate.kind=litelora-v3", "gate.params.unsolved=chance",
                                    "gate.params.probe_counts=true"],
}
STREAMS: dict[str, list[str]] = {
    "default": ["benchmark.options.train_per_class=32", "benchmark.options.test_per_class=20"],  # the default run
    "generative": ["model.name=smollm2", "model.max_length=96", "model.generation.scoring=rank",
                   "benchmark.name=families", "benchmark.options.train_per_class=8",
                   "benchmark.options.test_per_class=4", "train.epochs=2", "train.batch_size=8",
                   "train.eval_batch_size=32"],
}
QUICK: dict[str, list[str]] = {
    "default": ["benchmark.name=tiny-text", "model.name=tiny-bert", "train.epochs=1"],
    "generative": ["benchmark.name=tiny-text", "model.name=tiny-llama", "model.max_length=160",
                   "train.max_steps_per_task=4", "train.batch_size=8", "train.eval_batch_size=16"],
}
KEYS = ("wall_s", "cpu_s", "train_seconds", "train_flops", "peak_rss_bytes", "adapter_bytes", "active_adapters",
        "param_reduction", "final_acc_sample")


def child(sets: list[str], out_dir: str, count_flops: bool) -> dict[str, Any]:
    """One run in this process; with ``count_flops`` every training step's FLOPs are counted."""
    from torch.utils.flop_counter import FlopCounterMode

    from litelora._config import apply_override
    from litelora.training.build import build_trainer
    from litelora.training.config import RunConfig
    from litelora.training.trainer import ContinualTrainer

    flops = {"train": 0, "gate": 0}
    data: dict[str, Any] = {"output_dir": out_dir}
    for assignment in sets:
        apply_override(data, assignment)
    trainer = build_trainer(RunConfig.from_dict(data))
    if count_flops:
        train_task = ContinualTrainer._train_task

        def counted(self: ContinualTrainer, *args: Any, **kwargs: Any) -> int:
            with FlopCounterMode(display=False) as counter:
                out = train_task(self, *args, **kwargs)
            flops["train"] += int(counter.get_total_flops())
            return out

        ContinualTrainer._train_task = counted  # type: ignore[method-assign]
        gate = trainer.lite.gate
        if gate is not None:
            # A second counter nested inside the task's: the gate's share of the training FLOPs (its
            # base reading, probe and decision, all in before_task), so the rest is the task's steps.
            before_task = gate.before_task

            def gate_counted(ctx: Any) -> list[dict[str, Any]]:
                with FlopCounterMode(display=False) as counter:
                    out = before_task(ctx)
                flops["gate"] += int(counter.get_total_flops())
                return out

            gate.before_task = gate_counted  # type: ignore[method-assign]
    metrics = trainer.run().metrics
    counts = {"train_flops": flops["train"], "gate_flops": flops["gate"]} if count_flops else {"train_flops": None}
    return {**{k: metrics.get(k) for k in KEYS if k in metrics}, **counts}


def run_once(sets: list[str], run_dir: Path, count_flops: bool) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", str(run_dir), *(["--count-flops"] if count_flops else []),
           *(f"--set={s}" for s in sets)]
    run = run_child(cmd)
    lines = run.stdout.strip().splitlines()
    if run.returncode != 0 or not lines:
        raise SystemExit(f"run failed (exit {run.returncode}): {' '.join(cmd)}")
    return {**json.loads(lines[-1]), "wall_s": run.wall_s, "cpu_s": run.cpu_s, "peak_rss_bytes": run.max_rss_bytes,
            "loadavg_after": [round(x, 2) for x in os.getloadavg()]}


def summarise(runs: dict[str, list[dict[str, Any]]], flops: dict[str, dict[str, int]]) -> dict[str, Any]:
    """Medians per row and ratios paired with the host's run of the same seed; ``flops``: row ->
    ``train_flops`` (the whole training) and ``gate_flops`` (the gate's share of it)."""
    out: dict[str, Any] = {}
    host_flops = flops["host"]["train_flops"]
    for row, rs in runs.items():
        med = {k: statistics.median(r[k] for r in rs) for k in KEYS if k != "train_flops" and rs[0].get(k) is not None}
        med.update(flops[row])
        paired = {k: round(statistics.median(r[k] / h[k] for r, h in zip(rs, runs["host"]) if h[k]), 4)
                  for k in ("wall_s", "cpu_s", "train_seconds", "peak_rss_bytes", "adapter_bytes")}
        paired["train_flops"] = round(flops[row]["train_flops"] / host_flops, 4) if host_flops else None
        paired["gate_flops"] = round(flops[row]["gate_flops"] / host_flops, 4) if host_flops else None
        paired["accuracy_delta"] = round(statistics.median(
            r["final_acc_sample"] - h["final_acc_sample"] for r, h in zip(rs, runs["host"])), 4)
        out[row] = {"median": med, "paired_over_host": paired}
    return out


def markdown(summary: dict[str, dict[str, Any]]) -> str:
    lines = ["| stream | row | wall s | / host | train s | / host | train GFLOP | / host | of it the gate's, / host "
             "| peak RSS MiB | / host | adapter KiB | / host | param reduction | final acc | - host |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for stream, rows in summary.items():
        for row, s in rows.items():
            m, p = s["median"], s["paired_over_host"]
            lines.append(f"| {stream} | {row} | {m['wall_s']:.1f} | {p['wall_s']:.3f} | {m['train_seconds']:.1f} | "
                         f"{p['train_seconds']:.3f} | {m['train_flops'] / 1e9:.1f} | {p['train_flops']} | {p['gate_flops']} | "
                         f"{m['peak_rss_bytes'] / 2**20:.0f} | {p['peak_rss_bytes']:.3f} | "
                         f"{m['adapter_bytes'] / 1024:.0f} | {p['adapter_bytes']:.3f} | "
                         f"{m.get('param_reduction') or 0:.3f} | {m['final_acc_sample']:.3f} | "
                         f"{p['accuracy_delta']:+.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny-bert and tiny-llama on tiny-text (smoke run)")
    ap.add_argument("--streams", default="default,generative", help=f"comma list of {sorted(STREAMS)}")
    ap.add_argument("--seeds", default="0", help="comma list; each seed sets train.seed and benchmark.seed")
    ap.add_argument("--threads", type=int, default=2, help="train.num_threads of every run")
    ap.add_argument("--no-flops", action="store_true", help="skip the FLOP-counting runs")
    ap.add_argument("--set", dest="sets", action="append", default=[], help="extra override for every run")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--count-flops", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "bench_gate_cost.json")
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.sets, args.child, args.count_flops)))
        return 0
    presets = QUICK if args.quick else STREAMS
    streams = [s.strip() for s in args.streams.split(",") if s.strip()]
    if unknown := [s for s in streams if s not in presets]:
        ap.error(f"unknown streams {unknown}; choose from {sorted(presets)}")
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    common = ["train.progress=false", f"train.num_threads={args.threads}", *args.sets]
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {s: {row: [] for row in ROWS} for s in streams}
    flops = {s: {row: {"train_flops": 0, "gate_flops": 0} for row in ROWS} for s in streams}
    order: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench_gate_cost_") as tmp:
        for stream in streams:
            for i, seed in enumerate(seeds):
                rows = list(ROWS)[i % len(ROWS):] + list(ROWS)[: i % len(ROWS)]
                for row in rows:
                    print(f"{stream} seed {seed}: {row} ...", file=sys.stderr, flush=True)
                    sets = [*presets[stream], *common, *ROWS[row], f"train.seed={seed}", f"benchmark.seed={seed}"]
                    runs[stream][row].append(run_once(sets, Path(tmp) / f"{stream}-{row}-{seed}", False))
                    order.append(f"{stream}/{row}/{seed}")
            for row in ROWS if not args.no_flops else ():
                sets = [*presets[stream], *common, *ROWS[row], f"train.seed={seeds[0]}", f"benchmark.seed={seeds[0]}"]
                counted = run_once(sets, Path(tmp) / f"{stream}-{row}-flops", True)
                flops[stream][row] = {k: counted[k] for k in ("train_flops", "gate_flops")}
    summary = {s: summarise(runs[s], flops[s]) for s in streams}
    print(markdown(summary))
    from litelora._io import write_json
    from litelora.reporting.environment import environment_info

    write_json(args.json, {
        "run_info": run_info(argv, {"quick": args.quick, "streams": {s: presets[s] for s in streams}, "rows": ROWS,
                                    "seeds": seeds, "order": order, "common": common}),
        "train_info": {"runs": runs, "summary": summary},
        "meta_info": environment_info(),
    })
    print(f"wrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
