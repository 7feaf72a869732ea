"""``litelora`` command line: one sub-command per module, argparse only."""

from __future__ import annotations

import argparse
import os
import sys
import warnings
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
    """Run one sub-command; every failure is one line on stderr and a non-zero status.

    1: the input or the environment (the message names the field or file and the fix);
    130: interrupted; 3: a bug in litelora (``LITELORA_DEBUG=1`` shows the traceback).
    """
    parser = build_parser()
    args = parser.parse_args(argv)

    def fail(message: str, code: int) -> int:
        print(f"litelora {args.command}: error: {message}", file=sys.stderr)
        return code

    shown: set[tuple[type[Warning], str]] = set()

    def one_line(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                 line: str | None = None) -> str:
        # Python's own format adds the source file and line of litelora's code: noise to a user. A
        # setting is checked where the config is validated and again where it is built: say it once.
        text = f"litelora {args.command}: warning: {' '.join(str(message).split())}\n"
        if (category, text) in shown:
            return ""
        shown.add((category, text))
        return text

    format_before = warnings.formatwarning
    warnings.formatwarning = one_line  # printing only: recorded warnings (pytest.warns) are unchanged
    try:
        return int(args.func(args) or 0)
    except LiteLoraError as err:
        return fail(str(err), 1)
    except BrokenPipeError:
        # The reader went away (``litelora list ... | head``): stop quietly, as other tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:
        return fail("interrupted; a train run continues from its last checkpoint with --resume", 130)
    except OSError as err:
        where = f"{err.filename}: " if err.filename else ""
        return fail(f"{where}{err.strerror or err} (check the path, its permissions and the free disk space)", 1)
    except MemoryError:
        return fail("out of memory; lower train.batch_size, model.max_length or adapter.r", 1)
    except Exception as err:
        if os.environ.get("LITELORA_DEBUG"):
            raise
        return fail(f"internal error {type(err).__name__}: {err} (rerun with LITELORA_DEBUG=1 for the traceback, "
                    "and please report it)", 3)
    finally:
        warnings.formatwarning = format_before


if __name__ == "__main__":
    sys.exit(main())
