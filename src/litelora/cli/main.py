"""``litelora`` command line: one sub-command per module, argparse only."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from litelora.errors import LiteLoraError


def build_parser() -> argparse.ArgumentParser:
    from litelora import __version__
    from litelora.cli import (
        analyze_cmd,
        benchmark_cmd,
        compare_cmd,
        config_cmd,
        eval_cmd,
        export_cmd,
        inspect_cmd,
        list_cmd,
        report_cmd,
        train_cmd,
    )

    parser = argparse.ArgumentParser(prog="litelora", description="Continual LoRA fine-tuning with the LiteLoRA gate.")
    parser.add_argument("--version", action="version", version=f"litelora {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in (train_cmd, eval_cmd, export_cmd, analyze_cmd, report_cmd, compare_cmd, list_cmd, config_cmd,
                   inspect_cmd, benchmark_cmd):
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except LiteLoraError as err:
        print(f"litelora {args.command}: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
