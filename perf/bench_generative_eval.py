"""Time generative evaluation: greedy decoding + exact match against rank classification.

Builds the stream of the SmolLM2 suite (``reproduce/suites/generative_smollm2.yaml``: five
text-domains tasks, 10 test examples per class) and a model, then scores every task's test set
with ``model.generation.scoring=exact_match`` and ``rank`` alternately (``--rounds`` times, the
order flipped each round so machine-load drift hits both), reporting the median seconds per
scoring, their ratio and each scoring's accuracy. Accuracy is of the model as loaded (no
training: SmolLM2-135M-Instruct answers zero-shot), which is what both scorings see alike.

    python perf/bench_generative_eval.py                   # SmolLM2-135M, a few minutes on 2 cores
    python perf/bench_generative_eval.py --quick           # tiny-llama on the toy-sized stream, seconds
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

from _common import run_info
from litelora.reporting.environment import environment_info

TASKS = ["fortunes-topics-a", "spam-or-ham", "bbc-topics-a", "rt-sentiment", "bbc-topics-b"]


def build(model: str, test_per_class: int, max_length: int):  # noqa: ANN201 - (stream, model)
    from litelora.training.build import build_stream
    from litelora.training.config import RunConfig
    from litelora.models.classifier import as_task_model
    from litelora.training.backbones import build_backbone

    config = RunConfig.from_dict({
        "model": {"name": model, "max_length": max_length},
        "benchmark": {"name": "text-domains", "options": {"tasks": TASKS, "train_per_class": 2,
                                                          "test_per_class": test_per_class}},
    })
    stream = build_stream(config)
    lm = as_task_model(build_backbone(config.model, None))
    lm.attach(stream)
    return stream, lm.eval()


def score(stream, lm, scoring: str, batch_size: int) -> tuple[float, float]:  # noqa: ANN001
    from litelora.training.evaluation import evaluate_task

    lm.generation.scoring = scoring
    start = time.perf_counter()
    accs = [(evaluate_task(lm, task, stream.scenario, batch_size), len(task.test)) for task in stream.tasks]
    seconds = time.perf_counter() - start
    return seconds, sum(a * n for a, n in accs) / sum(n for _, n in accs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny-llama, 2 test examples per class")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "bench_generative_eval.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    model, per_class, max_length = ("tiny-llama", 2, 160) if args.quick else ("smollm2", 10, 96)
    stream, lm = build(model, per_class, max_length)
    times: dict[str, list[float]] = {"exact_match": [], "rank": []}
    accuracy: dict[str, float] = {}
    with torch.no_grad():
        for r in range(args.rounds):
            for scoring in (("exact_match", "rank") if r % 2 == 0 else ("rank", "exact_match")):
                seconds, acc = score(stream, lm, scoring, args.batch_size)
                times[scoring].append(seconds)
                accuracy[scoring] = acc
    median = {k: statistics.median(v) for k, v in times.items()}
    result = {
        "run_info": run_info(argv, {"model": model, "tasks": TASKS, "test_examples": sum(len(t.test) for t in stream.tasks),
                                    "rounds": args.rounds, "batch_size": args.batch_size}),
        "train_info": {"seconds": times, "median_seconds": median, "accuracy": accuracy,
                       "speedup_rank_vs_exact_match": median["exact_match"] / median["rank"],
                       "accuracy_difference_rank_minus_exact_match": accuracy["rank"] - accuracy["exact_match"]},
        "meta_info": environment_info(),
    }
    from litelora._io import write_json

    write_json(args.json, result)
    print(f"{'scoring':<12} {'median s':>9} {'accuracy':>9}")
    for k in times:
        print(f"{k:<12} {median[k]:9.2f} {accuracy[k]:9.3f}")
    print(f"rank is {result['train_info']['speedup_rank_vs_exact_match']:.1f}x faster; wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
