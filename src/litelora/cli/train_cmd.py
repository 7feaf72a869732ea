"""``litelora train``: run a continual benchmark (the offline default with no arguments)."""

from __future__ import annotations

import argparse

from litelora.cli.options import add_config_options, resolve_config
from litelora.errors import ConfigError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model on a task stream and write a run directory")
    add_config_options(p)
    p.add_argument("-o", "--output-dir", help="run directory (default: config output_dir)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--resume", metavar="RUN_DIR|auto", nargs="?", const="auto",
                   help="continue RUN_DIR from its newest intact checkpoint (with its saved config.yaml); "
                        "'auto' resumes the output directory if it holds a checkpoint, else starts fresh")
    p.add_argument("--force", action="store_true",
                   help="delete the run already in the output directory and start over (without it, a non-empty "
                        "output directory is refused unless --resume)")
    p.add_argument("--allow-change", action="append", default=[], metavar="FIELD",
                   help="a dotted config field allowed to differ from the run being resumed")
    p.add_argument("--help-config", action="store_true",
                   help="list every --set field (type, default, help) and exit; as 'litelora config fields'")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from litelora.cli.render import print_summary
    from litelora.reporting import RunDirectory
    from litelora.training.build import build_trainer

    if args.help_config:
        from litelora.cli.config_cmd import print_fields

        print_fields(None)
        return 0
    if args.output_dir is not None and not args.output_dir.strip():
        raise ConfigError("-o is empty; name the run directory (-o DIR)")
    if args.resume is not None and not args.resume.strip():
        raise ConfigError("--resume is empty; name the run directory to continue (or give --resume alone with -o)")
    if args.resume and args.resume != "auto":
        saved = RunDirectory(args.resume).path("config.yaml")
        if not saved.is_file():
            raise ConfigError(f"--resume {args.resume}: no config.yaml there, so no run to continue (nothing was "
                              "trained, or not a litelora run directory); start it with litelora train -o "
                              f"{args.resume} and its settings")
        args.config = [str(saved), *args.config]
        args.output_dir = args.output_dir or args.resume
    config = resolve_config(args)
    if args.output_dir is not None:
        config.output_dir = args.output_dir
    if args.no_progress:
        config.train.progress = False
    trainer = build_trainer(config)
    config = trainer.config  # the gate as resolved for the method and the model (gate.kind=auto)
    stream = trainer.stream
    settings = ", ".join(f"{k}: {v}" for k, v in config.gate.params.items())
    gate = f"{config.gate.kind} ({settings})" if settings else config.gate.kind
    print(f"benchmark {stream.name}: {len(stream.tasks)} tasks, {stream.num_classes} classes ({stream.scenario}), "
          f"model {config.model.name}, method {config.method.name}, gate {gate}; "
          f"{len(trainer.bank.targets)} target modules")
    result = trainer.run(resume=bool(args.resume), allow_changes=args.allow_change, force=args.force)
    print_summary(result.accuracy_matrix, result.metrics, [d.to_dict() for d in result.gate_decisions])
    print(f"run directory: {config.output_dir}")
    return 0
