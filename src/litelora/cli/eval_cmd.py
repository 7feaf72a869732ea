"""``litelora eval RUN_DIR``: re-evaluate a finished run's final model on every task."""

from __future__ import annotations

import argparse

from litelora.errors import ConfigError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate a run directory's final model on each task's test set")
    p.add_argument("run_dir")
    p.add_argument("--show", type=int, default=0, metavar="N",
                   help="generative runs: print N greedy generations per task next to their targets")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from litelora.training.build import load_run_model
    from litelora.training.evaluation import evaluate_task

    if args.show < 0:
        raise ConfigError(f"--show must be >= 0, got {args.show}")
    config, stream, model = load_run_model(args.run_dir)
    head = getattr(model, "head", None)
    if head is not None and len(head.class_ids) == 0:
        raise ConfigError(f"{args.run_dir}: the saved head is empty")
    if args.show:
        from litelora.generative.lm import GenerativeModel
        from litelora.generative.samples import format_samples, sample_generations

        if not isinstance(model, GenerativeModel):
            raise ConfigError(f"--show prints generations; {args.run_dir} is a classifier run (model "
                              f"{config.model.name!r}), which has none")
        for task in stream.tasks:
            print(format_samples(task, sample_generations(model, task, args.show)))
    accs = [evaluate_task(model, task, stream.scenario, config.train.eval_batch_size) for task in stream.tasks]
    for task, acc in zip(stream.tasks, accs):
        print(f"task {task.task_id} ({task.name}): accuracy {acc:.4f} on {len(task.test)} examples")
    total = sum(a * len(t.test) for a, t in zip(accs, stream.tasks)) / sum(len(t.test) for t in stream.tasks)
    print(f"final accuracy (sample-weighted): {total:.4f}")
    return 0
