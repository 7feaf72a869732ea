"""``litelora config show|validate|fields``: the resolved config, a check of one, or every field's help."""

from __future__ import annotations

import argparse
import dataclasses
import textwrap
from typing import Any

import yaml

from litelora.cli.options import add_config_options, resolve_config
from litelora.errors import ConfigError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("config", help="print or validate a resolved config, or list every --set field",
                       description="show: the fully resolved config as YAML; validate: every check train runs "
                                   "before training that loads no model weights (the benchmark's data is read); "
                                   "fields [SECTION]: every --set field with its type, default and help.")
    p.add_argument("action", choices=["show", "validate", "fields"])
    p.add_argument("section", nargs="?", help="with 'fields': only this section (e.g. train, gate)")
    p.add_argument("--no-data", action="store_true",
                   help="with 'validate': check the benchmark's options without reading its data")
    add_config_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.action == "fields":
        print_fields(args.section)
        return 0
    if args.section:
        raise ConfigError(f"'config {args.action}' takes no SECTION ({args.section!r}); only 'config fields' does")
    from litelora.training.build import check_before_training, validate

    config = resolve_config(args)
    if args.action == "show":
        validate(config)
        print(yaml.safe_dump(config.to_dict(), sort_keys=False), end="")
        return 0
    stream = check_before_training(config, read_data=not args.no_data)
    what = (f"benchmark {stream.name} ({len(stream.tasks)} tasks, {stream.num_classes} classes)" if stream is not None
            else f"benchmark {config.benchmark.name} (options only: its data was not read)")
    print(f"config is valid: {what}, model {config.model.name}, method {config.method.name}, gate "
          f"{config.gate.kind} (the model's targets are matched when it is built: litelora inspect MODEL)")
    return 0


def _plugin_param_docs(registry: Any, section: str, key: str) -> list[Any]:
    """``<section>.params.*`` of every plugin in ``registry`` that declares ``Params``, each path
    tagged with the plugin's name (``(method.name=olora)``)."""
    from litelora._config_docs import field_docs

    out = []
    for name in registry.list():
        params = getattr(registry.get(name), "Params", None)
        if params is not None:
            out += [dataclasses.replace(d, path=f"{d.path} ({section}.{key}={name})")
                    for d in field_docs(params, f"{section}.params.")]
    return out


def method_param_docs() -> list[Any]:
    """``method.params.*`` of every registered method that declares ``Params``."""
    from litelora.methods import METHODS

    return _plugin_param_docs(METHODS, "method", "name")


def gate_param_docs() -> list[Any]:
    """``gate.params.*`` of every registered gate that declares ``Params`` (an alias such as
    ``litelora`` is listed under each name it is registered as)."""
    from litelora.gates import GATES

    return _plugin_param_docs(GATES, "gate", "kind")


def print_fields(section: str | None) -> None:
    """Print ``--set`` fields (of one ``section`` if given) from the config dataclasses' own docs."""
    from litelora._config_docs import field_docs, sections
    from litelora.training.config import RunConfig

    docs = field_docs(RunConfig)
    if section is not None:
        known = sections(RunConfig)
        if section not in known:
            raise ConfigError(f"unknown config section {section!r}; sections: {', '.join(known)}")
        docs = [d for d in docs if d.path.startswith(section + ".")]
    if section in (None, "method"):
        docs += method_param_docs()
    if section in (None, "gate"):
        docs += gate_param_docs()
    for d in docs:
        default = yaml.safe_dump(d.default, default_flow_style=True, width=10_000).strip().removesuffix("...").strip()
        print(f"{d.path}: {d.type} = {default}")
        print(textwrap.fill(d.help.replace("``", "`"), width=100, initial_indent="    ", subsequent_indent="    "))
