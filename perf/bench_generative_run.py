"""Where a short generative run spends its time, and the same run on another source tree.

One ``litelora`` run (SmolLM2-135M-Instruct on the ``families`` stream, rank scoring, a few steps
per task) in a subprocess that times its phases: start-up (imports, data, model), training
(``_train_task``: steps, probe, gate), evaluation of the accuracy matrix (``evaluate``), and,
inside both, the time spent building batches (tokenising and padding). It also counts tokens:
real (attention mask) against padded (the tensors' size), and the positions the LM head scores.

With ``--baseline-src DIR`` (a ``src`` folder of an earlier commit, e.g. from
``git archive <commit> src | tar -x -C /tmp/base``) the same run alternates between that tree
and this one, the order flipped every round, and the JSON holds both, their paired ratios and
whether their accuracy matrices agree.

    python perf/bench_generative_run.py                                  # SmolLM2, minutes
    python perf/bench_generative_run.py --baseline-src /tmp/base/src --rounds 1
    python perf/bench_generative_run.py --quick                          # tiny-llama, seconds
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import run_child, run_info  # perf/ is on sys.path when run as a script

SRC = Path(__file__).resolve().parents[1] / "src"
FULL = ["model.name=smollm2", "model.max_length=96", "model.generation.scoring=rank", "benchmark.name=families",
        "benchmark.options.train_per_class=4", "benchmark.options.test_per_class=4", "train.max_steps_per_task=2",
        "train.batch_size=8", "train.eval_batch_size=32", "train.progress=false"]
QUICK = ["model.name=tiny-llama", "model.max_length=160", "benchmark.name=tiny-text", "train.max_steps_per_task=2",
         "train.batch_size=4", "train.eval_batch_size=8", "train.progress=false"]


def child(overrides: list[str], out_dir: str) -> dict[str, Any]:
    """Run one training run in this process with its phases timed (seconds) and its batches
    counted (tokens); returns the record the parent reads."""
    t0 = time.perf_counter()
    from litelora._config import apply_override
    from litelora.training.build import build_trainer
    from litelora.training.config import RunConfig
    from litelora.training.trainer import ContinualTrainer

    clock: dict[str, float] = {"train_s": 0.0, "eval_s": 0.0, "collate_train_s": 0.0, "collate_eval_s": 0.0}
    tokens: dict[str, int] = {k: 0 for k in ("train_real", "train_padded", "eval_real", "eval_padded",
                                               "train_batches", "eval_batches", "train_examples", "eval_examples")}
    phase = {"now": "train"}

    def timed(name: str, fn: Any, before: Any = None) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if before is not None:
                before()
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                clock[name] += time.perf_counter() - start
                phase["now"] = "train"
        return wrapper

    ContinualTrainer._train_task = timed("train_s", ContinualTrainer._train_task)  # type: ignore[method-assign]
    ContinualTrainer.evaluate = timed("eval_s", ContinualTrainer.evaluate,  # type: ignore[method-assign]
                                      before=lambda: phase.update(now="eval"))
    # The host alone unless an override names a gate (the default run gates: gate.kind=auto).
    data: dict[str, Any] = {"output_dir": out_dir, "gate": {"kind": "none"}}
    for assignment in overrides:
        apply_override(data, assignment)
    config = RunConfig.from_dict(data)
    trainer = build_trainer(config)
    model, collate = trainer.model, trainer.model.collate

    def counted(examples: Any, task: Any) -> Any:
        start = time.perf_counter()
        batch = collate(examples, task)
        where = phase["now"]
        clock[f"collate_{where}_s"] += time.perf_counter() - start
        mask = batch["attention_mask"] if where == "train" else batch.get("prompt_mask", batch["attention_mask"])
        tokens[f"{where}_real"] += int(mask.sum())
        tokens[f"{where}_padded"] += mask.numel()
        tokens[f"{where}_batches"] += 1
        tokens[f"{where}_examples"] += len(examples)
        return batch

    model.collate = counted  # type: ignore[method-assign]
    startup = time.perf_counter() - t0
    t1 = time.perf_counter()
    result = trainer.run()
    run_s = time.perf_counter() - t1
    return {"startup_s": startup, "run_s": run_s, **clock, **tokens,
            "other_s": run_s - clock["train_s"] - clock["eval_s"],
            "accuracy_matrix": result.accuracy_matrix, "final_acc": result.metrics.get("final_acc_sample")}


def measure(src: Path, overrides: list[str], threads: int) -> dict[str, Any]:
    """One child run on source tree ``src``; its record plus wall, CPU seconds and peak RSS."""
    with tempfile.TemporaryDirectory() as tmp:
        env_path = os.pathsep.join([str(src), str(Path(__file__).parent)])
        cmd = ["env", f"PYTHONPATH={env_path}", f"OMP_NUM_THREADS={threads}", sys.executable, __file__,
               "--child", os.path.join(tmp, "run"),
               *(f"--set={o}" for o in [f"train.num_threads={threads}", *overrides])]
        run = run_child(cmd)
    lines = run.stdout.strip().splitlines()
    if run.returncode != 0 or not lines:
        raise SystemExit(f"run on {src} failed with exit code {run.returncode}")
    return {**json.loads(lines[-1]), "wall_s": run.wall_s, "cpu_s": run.cpu_s, "peak_rss_mb": run.max_rss_bytes / 2**20}


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("wall_s", "cpu_s", "startup_s", "train_s", "eval_s", "other_s", "collate_train_s", "collate_eval_s",
            "peak_rss_mb")
    out: dict[str, Any] = {f"median_{k}": statistics.median(r[k] for r in runs) for k in keys}
    last = runs[-1]
    for where in ("train", "eval"):
        out[f"{where}_padding_fraction"] = 1 - last[f"{where}_real"] / max(1, last[f"{where}_padded"])
    out["train_examples_per_s"] = last["train_examples"] / statistics.median(r["train_s"] for r in runs)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny-llama on tiny-text: seconds")
    parser.add_argument("--baseline-src", type=Path, help="a src folder to compare against, run alternately")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--baseline-first", action="store_true", help="start with the baseline (then alternate)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--set", action="append", default=[], help="extra override for every run")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "bench_generative_run.json")
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.set, args.child)))
        return 0
    overrides = [*(QUICK if args.quick else FULL), *args.set]
    trees = {"current": SRC, **({"baseline": args.baseline_src.resolve()} if args.baseline_src else {})}
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
    for r in range(args.rounds):
        for name in (list(trees) if (r + args.baseline_first) % 2 == 0 else list(reversed(trees))):
            runs[name].append(measure(trees[name], overrides, args.threads))
    summary = {name: summarise(rs) for name, rs in runs.items()}
    ratios: dict[str, Any] = {}
    if "baseline" in runs:
        for k in ("wall_s", "train_s", "eval_s", "cpu_s"):
            ratios[f"{k}_current_over_baseline"] = statistics.median(
                c[k] / b[k] for c, b in zip(runs["current"], runs["baseline"]))
        ratios["same_accuracy_matrix"] = all(c["accuracy_matrix"] == b["accuracy_matrix"]
                                             for c, b in zip(runs["current"], runs["baseline"]))
    from litelora._io import write_json
    from litelora.reporting.environment import environment_info

    args.json.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.json, {
        "run_info": run_info(argv, {"overrides": overrides, "rounds": args.rounds, "threads": args.threads,
                                    "trees": {k: str(v) for k, v in trees.items()}}),
        "train_info": {"runs": runs, "summary": summary, "ratios": ratios},
        "meta_info": environment_info(),
    })
    cols = ("median_wall_s", "median_startup_s", "median_train_s", "median_eval_s", "median_collate_train_s",
            "median_collate_eval_s", "train_padding_fraction", "eval_padding_fraction", "train_examples_per_s")
    print("tree       " + " ".join(f"{c.removeprefix('median_'):>16}" for c in cols))
    for name, s in summary.items():
        print(f"{name:<10} " + " ".join(f"{s[c]:>16.3f}" for c in cols))
    for k, v in ratios.items():
        print(f"{k}: {v}")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
