"""``litelora list {methods,benchmarks,models,gates}``."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="list registered methods, benchmarks, models or gates")
    p.add_argument("what", choices=["methods", "benchmarks", "models", "gates"])
    p.add_argument("pattern", nargs="?", default="*", help="shell-style filter, e.g. 'sd*'")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from litelora.benchmarks import BENCHMARKS
    from litelora.gates import GATES
    from litelora.methods import METHODS
    from litelora.training.backbones import BACKBONES

    registry = {"methods": METHODS, "benchmarks": BENCHMARKS, "models": BACKBONES, "gates": GATES}[args.what]
    for name in registry.list(args.pattern):
        print(name)
    return 0
