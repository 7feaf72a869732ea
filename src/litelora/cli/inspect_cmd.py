"""``litelora inspect MODEL --targets ...``: which modules the targets match, their shapes, and the
adapter parameters one task adds (a dry run: nothing is trained or written)."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from litelora.cli.options import add_config_options, resolve_config

if TYPE_CHECKING:
    from torch import nn

MAX_INPUT_DIM = 1 << 20


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "inspect", help="dry run of adapter targeting: matched modules, shapes, adapter parameters per task",
        description="Build MODEL (a registered name, hf:<hub name or folder>, ...) and list the slots the targets "
                    "select: a list entry matches a module named so or ending in '.entry' (PEFT's rule), "
                    "'qkv:q,v' selects output slices of a fused layer, --regex takes one fullmatch regex. "
                    "Without --targets the config's adapter.target_modules (or the model's usual targets) apply.")
    p.add_argument("model", help="model name, as model.name (e.g. minilm, tiny-bert, hf:./my-model)")
    p.add_argument("--targets", nargs="+", metavar="NAME", help="target entries, e.g. query value or qkv:q,v")
    p.add_argument("--regex", metavar="PATTERN", help="one regex that must fullmatch a module name (instead of "
                                                      "--targets)")
    p.add_argument("--exclude", nargs="+", metavar="NAME", help="entries excluded first (same syntax as --targets)")
    p.add_argument("-r", "--rank", type=int, help="adapter rank (default: adapter.r)")
    p.add_argument("--tasks", type=int, default=1, help="also total the parameters of this many tasks (default 1)")
    p.add_argument("--input-dim", type=int, help="input width, for tensor models that need one (tiny-mlp)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    add_config_options(p)
    p.set_defaults(func=run)


def inspect_targets(encoder: nn.Module, adapter: Any) -> list[dict[str, Any]]:
    """One row per slot ``adapter`` selects in ``encoder``: name, layer kind, ``d_in``, ``d_out``
    (the slice's rows for a slice target), output rows, rank and adapter parameters
    ``r * (d_in + d_out)``. ``encoder`` is not modified."""
    from litelora.adapters.targeting import find_targets, rank_for

    rows = []
    for spec in find_targets(encoder, adapter):
        r = rank_for(spec.name, adapter)
        rows.append({
            "target": spec.name, "module": spec.module_name, "kind": getattr(spec, "kind", "linear"),
            "d_in": spec.in_features, "d_out": spec.out_features, "rows": [spec.out_start, spec.out_stop],
            "r": r, "adapter_params": r * (spec.in_features + spec.out_features),
        })
    return rows


def run(args: argparse.Namespace) -> int:
    from litelora.benchmarks.registry import MAX_TASKS
    from litelora.errors import ConfigError
    from litelora.training.backbones import build_backbone
    from litelora.models.classifier import as_task_model
    from litelora.training.trainer import resolve_targets

    if args.targets and args.regex:
        raise ConfigError("give --targets NAME ... or --regex PATTERN, not both")
    if not 1 <= args.tasks <= MAX_TASKS:
        raise ConfigError(f"--tasks must be between 1 and {MAX_TASKS}, got {args.tasks}")
    # A tensor model's first layer is input_dim wide: a negative width is refused by torch deep
    # inside, a huge one allocated.
    if args.input_dim is not None and not 1 <= args.input_dim <= MAX_INPUT_DIM:
        raise ConfigError(f"--input-dim must be between 1 and {MAX_INPUT_DIM} features, got {args.input_dim}")
    args.overrides = [f"model.name={args.model}", *args.overrides]
    config = resolve_config(args)
    model = as_task_model(build_backbone(config.model, args.input_dim))
    adapter = resolve_targets(config.adapter, model)
    changes: dict[str, Any] = {}
    if args.targets or args.regex:
        changes["target_modules"] = list(args.targets) if args.targets else args.regex
    if args.exclude:
        changes["exclude_modules"] = list(args.exclude)
    if args.rank is not None:
        changes["r"] = args.rank
    try:
        adapter = replace(adapter, **changes)  # re-runs AdapterConfig's validation
    except ConfigError as err:
        raise ConfigError(f"inspect: {err}") from None
    rows = inspect_targets(model.encoder, adapter)
    base = sum(p.numel() for p in model.encoder.parameters())
    per_task = sum(r["adapter_params"] for r in rows)
    summary = {"model": config.model.name, "target_modules": adapter.target_modules,
               "exclude_modules": adapter.exclude_modules, "targets": len(rows), "base_params": base,
               "adapter_params_per_task": per_task, "tasks": args.tasks, "adapter_params_total": per_task * args.tasks}
    if args.json:
        print(json.dumps({"summary": summary, "targets": rows}, indent=2))
        return 0
    _print_table(rows)
    print(f"{len(rows)} target slots in {config.model.name} ({base:,} base parameters); targets "
          f"{adapter.target_modules!r}" + (f", excluding {adapter.exclude_modules!r}" if adapter.exclude_modules else ""))
    print(f"adapter parameters per task: {per_task:,} ({100 * per_task / max(base, 1):.3f}% of the base)")
    if args.tasks > 1:
        print(f"after {args.tasks} tasks, recruiting everywhere: {per_task * args.tasks:,}")
    return 0


def _print_table(rows: list[dict[str, Any]]) -> None:
    header = ["target", "kind", "d_in", "d_out", "rows", "r", "params"]
    table = [header] + [[r["target"], r["kind"], str(r["d_in"]), str(r["d_out"]), f"{r['rows'][0]}:{r['rows'][1]}",
                         str(r["r"]), f"{r['adapter_params']:,}"] for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
