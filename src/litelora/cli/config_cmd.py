"""``litelora config show|validate``: the fully resolved config, or a check of one."""

from __future__ import annotations

import argparse

import yaml

from litelora.cli.options import add_config_options, resolve_config


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("config", help="print or validate a resolved config")
    p.add_argument("action", choices=["show", "validate"])
    add_config_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from litelora.training.build import validate

    config = resolve_config(args)
    validate(config)
    if args.action == "show":
        print(yaml.safe_dump(config.to_dict(), sort_keys=False), end="")
    else:
        print("config is valid")
    return 0
