"""``litelora eval RUN_DIR``: re-evaluate a finished run's final model on every task (``--carried``:
also each task before it trained, from the earlier adapters alone); ``--peft``: evaluate PEFT
adapter folders (one per task, trained anywhere) on a configured benchmark."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from litelora.cli.options import add_config_options, resolve_config, set_threads
from litelora.errors import ConfigError

if TYPE_CHECKING:
    from litelora.workflows.runs import LoadedRun


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval", help="evaluate a run directory's final model (or PEFT adapter folders) on each task's test set",
        description="RUN_DIR: the run's final model on every task. --peft DIR...: PEFT LoRA folders, one per task "
                    "in order, loaded as that task's adapters onto the configured model (-c/--set: benchmark and "
                    "model), with a litelora classifier head (--head, default DIR/litelora_head of the last "
                    "folder, as litelora export writes it); the tasks the head covers are evaluated.")
    p.add_argument("run_dir", nargs="?", help="run directory (omit with --peft)")
    p.add_argument("--show", type=int, default=0, metavar="N",
                   help="generative runs: print N greedy generations per task next to their targets")
    p.add_argument("--peft", nargs="+", metavar="DIR", help="PEFT LoRA folders, one per task, in task order")
    p.add_argument("--head", metavar="DIR", help="with --peft: folder holding head.json + head.safetensors")
    p.add_argument("--scenario", choices=["cil", "til"],
                   help="score in this scenario instead of the stream's: cil (argmax over every seen class) or "
                        "til (over the task's own classes); the run directory is not changed")
    p.add_argument("--test-extra", type=int, default=0, metavar="N",
                   help="RUN_DIR: score on up to N more test examples per class, taken past the run's training "
                        "examples (benchmarks with a test_extra option: families, wordnet-supersenses, "
                        "text-domains); the data are checked against the run's record, and an extra that repeats a "
                        "training or test text is left out")
    p.add_argument("--carried", action="store_true",
                   help="RUN_DIR: also score each task with the model as it stood before the task trained (the "
                        "earlier tasks' adapters only) and with the base model, and print the forward transfer; "
                        "generative runs of methods that leave earlier adapters as they were (inclora, for example)")
    p.add_argument("--json", metavar="FILE", help="also write the per-task accuracies and the total to FILE (JSON)")
    p.add_argument("--threads", type=int, metavar="N", help="torch CPU threads (default: torch's choice)")
    p.add_argument("--allow-download", action="store_true",
                   help="let the model a run directory names be downloaded; by default only local files and the "
                        "local Hugging Face cache are read")
    add_config_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from litelora.workflows.runs import load_run

    if args.show < 0:
        raise ConfigError(f"--show must be >= 0, got {args.show}")
    if args.test_extra < 0:
        raise ConfigError(f"--test-extra must be >= 0 (more test examples per class), got {args.test_extra}")
    set_threads(args.threads)
    loaded = None
    if args.peft:
        if args.run_dir or args.show or args.test_extra or args.carried:
            raise ConfigError("--peft evaluates adapter folders on their own: drop RUN_DIR, --show, --carried and "
                              "--test-extra (set benchmark.options.test_extra instead)")
        stream, model, batch_size = _peft_model(args)
    elif args.run_dir:
        if args.config or args.overrides or args.head:
            raise ConfigError("-c/--set/--head apply to --peft only; a run directory brings its own config and head")
        loaded = load_run(args.run_dir, allow_download=args.allow_download)
        if args.carried:
            from litelora.workflows.carried import check_carried

            check_carried(loaded, args.run_dir)
        config, model = loaded.config, loaded.model
        stream = loaded.stream = _checked_stream(args, config, loaded.stream)
        head = getattr(model, "head", None)
        if head is not None and len(head.class_ids) == 0:
            raise ConfigError(f"{args.run_dir}: the saved head is empty")
        if args.show:
            _show(args, config, stream, model)
        batch_size = config.train.eval_batch_size
    else:
        raise ConfigError("give a RUN_DIR, or --peft DIR [DIR ...] with -c/--set naming the benchmark and model")
    report = _report(stream, model, batch_size, args.scenario or stream.scenario)
    if args.carried and loaded is not None:
        report["carried"] = _carried(args, loaded, batch_size)
    if args.json:
        from litelora._io import write_json

        write_json(args.json, {"run_dir": args.run_dir, "run_id": _run_id(args.run_dir), "test_extra": args.test_extra,
                               **report})
    return 0


def _checked_stream(args: argparse.Namespace, config: Any, stream: Any) -> Any:
    """The run's stream, refused where its data differ from what the run trained on, with
    ``--test-extra`` examples added."""
    from litelora.reporting import RunDirectory
    from litelora.workflows.extra_test import check_trained_data, with_extra_test

    run_dir = RunDirectory(args.run_dir)
    if not args.test_extra:
        check_trained_data(run_dir, stream, required=False)
        return stream
    stream, notes = with_extra_test(run_dir, config, stream, args.test_extra)
    for note in notes:
        print(f"note: {note}")
    return stream


def _carried(args: argparse.Namespace, loaded: LoadedRun, batch_size: int) -> dict[str, Any]:
    """Print and return each task's accuracy before it trained and with the base model; on the
    run's own test sets, check the rebuild against its accuracy matrix."""
    from litelora.reporting import RunDirectory
    from litelora.workflows.carried import carried_report

    R = None if args.test_extra else RunDirectory(args.run_dir).read_matrix()
    carried = carried_report(loaded, batch_size, args.scenario or loaded.stream.scenario, R)
    for row in carried["tasks"]:
        print(f"task {row['task']} ({row['name']}): before it trained {row['before']:.4f}, "
              f"base model {row['base']:.4f}")
    print(f"forward transfer (mean gain before each later task over the base model): "
          f"{carried['forward_transfer']:+.4f}")
    return carried


def _run_id(run_dir: str | None) -> str | None:
    """The run's id from its ``run.json`` (``None`` without one)."""
    from litelora.reporting import RunDirectory
    from litelora.training.run_identity import read_identity

    identity = read_identity(RunDirectory(run_dir)) if run_dir else None
    return None if identity is None else identity["run_id"]


def _show(args: argparse.Namespace, config: Any, stream: Any, model: Any) -> None:
    from litelora.generative.lm import GenerativeModel
    from litelora.generative.samples import format_samples, sample_generations

    if not isinstance(model, GenerativeModel):
        raise ConfigError(f"--show prints generations; {args.run_dir} is a classifier run (model "
                          f"{config.model.name!r}), which has none")
    for task in stream.tasks:
        print(format_samples(task, sample_generations(model, task, args.show)))


def _peft_model(args: argparse.Namespace) -> tuple[Any, Any, int]:
    """The configured stream and model with the PEFT folders as tasks 0.. and the given head."""
    from litelora.workflows.peft_eval import peft_model

    config = resolve_config(args)
    stream, model, notes = peft_model(config, args.peft, args.head)
    for note in notes:
        print(f"note: {note}")
    return stream, model, config.train.eval_batch_size


def _report(stream: Any, model: Any, batch_size: int, scenario: str) -> dict[str, Any]:
    """Print per-task accuracy and the sample-weighted total in ``scenario``, over the tasks a
    classifier's head covers; return them (``tasks``: id, name, accuracy, n; ``final_acc_sample``)."""
    from litelora.reporting.progress_bar import tqdm
    from litelora.training.evaluation import evaluate_task

    tasks = list(stream.tasks)
    head = getattr(model, "head", None)
    if head is not None:
        known = set(head.class_ids)
        tasks = [t for t in tasks if set(t.classes) <= known]
        if not tasks:
            raise ConfigError(f"the head covers classes {sorted(known)[:8]}, which complete no task of {stream.name}")
    if scenario != stream.scenario:
        if stream.scenario == "dil" or not hasattr(model, "head"):
            raise ConfigError(f"--scenario {scenario}: re-scoring applies to class- or task-incremental classifier "
                              f"runs; this one is {stream.scenario!r}" + ("" if hasattr(model, "head") else
                                                                           " and generative (no head)"))
        print(f"scored {scenario} (the stream is {stream.scenario})")
    accs = [evaluate_task(model, task, scenario, batch_size)
            for task in tqdm(tasks, desc="evaluating", unit="task", leave=False)]
    for task, acc in zip(tasks, accs):
        print(f"task {task.task_id} ({task.name}): accuracy {acc:.4f} on {len(task.test)} examples")
    total = sum(a * len(t.test) for a, t in zip(accs, tasks)) / sum(len(t.test) for t in tasks)
    print(f"final accuracy (sample-weighted): {total:.4f}" + (
        f" over the {len(tasks)} of {len(stream.tasks)} tasks the head covers" if len(tasks) < len(stream.tasks)
        else ""))
    return {"scenario": scenario, "final_acc_sample": total,
            "tasks": [{"task": t.task_id, "name": t.name, "accuracy": a, "n": len(t.test)} for t, a in zip(tasks, accs)]}
