"""``litelora benchmark check NAME``: build a benchmark's stream alone (every data check runs) and
print its tasks, per-class counts and label mapping, and what would cap a run's accuracy."""

from __future__ import annotations

import argparse

from litelora.cli.options import add_config_options, resolve_config


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("benchmark", help="inspect a benchmark's data without training")
    actions = p.add_subparsers(dest="action", required=True)
    check = actions.add_parser(
        "check", help="run a benchmark's data checks and print counts per task and class",
        description="Builds the stream as 'litelora train' would (same -c/--set), loading no model: a bad file "
                    "or record is reported by name. Exit 1 when a class has test examples but no training examples.")
    check.add_argument("name", help="a registered benchmark (litelora list benchmarks)")
    check.add_argument("--data-root", help="the benchmark's data folder (benchmark.data_root)")
    add_config_options(check)
    check.set_defaults(func=run_check)


def run_check(args: argparse.Namespace) -> int:
    from litelora.training.build import build_stream

    args.overrides = [f"benchmark.name={args.name}", *args.overrides]
    if args.data_root:
        args.overrides.append(f"benchmark.data_root={args.data_root}")
    stream = build_stream(resolve_config(args))
    print(f"benchmark {stream.name}: {len(stream.tasks)} tasks, {stream.num_classes} classes, scenario "
          f"{stream.scenario}" + (", shared labels" if stream.shared_labels else ""))
    per_task = stream.summary()["tasks"]
    for task in stream.tasks:
        summary = per_task[task.task_id]
        family = f" ({task.family})" if task.family is not None else ""
        print(f"task {task.task_id} {task.name}{family}: {summary['train']} train, {summary['test']} test")
        for c in task.classes:
            print(f"  class {c:>3} {stream.class_names[c]!r}: {summary['train_per_class'].get(c, 0)} train, "
                  f"{summary['test_per_class'].get(c, 0)} test")
    problems = stream.problems()
    for line in problems:
        print(f"problem: {line}")
    return 1 if problems else 0
