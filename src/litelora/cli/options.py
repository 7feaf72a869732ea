"""Shared CLI options: ``--config FILE`` (repeatable) and ``--set dotted.key=value``."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from litelora.training.config import RunConfig


def add_config_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", action="append", default=[], metavar="FILE",
                        help="YAML config; repeatable, later files win")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                        help="override one field, e.g. --set method.name=seqlora --set train.lr=5e-4")


def resolve_config(args: argparse.Namespace) -> RunConfig:
    from litelora._config import apply_override, load_yaml, merge_dicts
    from litelora.training.config import RunConfig
    data: dict[str, Any] = {}
    for path in args.config:
        data = merge_dicts(data, load_yaml(path))
    for assignment in args.overrides:
        apply_override(data, assignment)
    return RunConfig.from_dict(data)


def set_threads(threads: int | None) -> None:
    """``--threads N``: torch's CPU threads for this command (None: leave torch's default)."""
    if threads is None:
        return
    from litelora.errors import ConfigError
    from litelora.training.config import MAX_THREADS

    # The bound train.num_threads has: torch crashes (not errs) on a thread count it cannot start.
    if not 1 <= threads <= MAX_THREADS:
        raise ConfigError(f"--threads must be between 1 and {MAX_THREADS} (as train.num_threads), got {threads}")
    import torch

    torch.set_num_threads(threads)
