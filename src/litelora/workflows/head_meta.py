"""What a classifier head was trained on, recorded in its ``head.json`` beside an export (the
benchmark's class names in column order, the encoder's pooling), and the check ``eval --peft``
runs before it scores a head against a benchmark: a head from another model, benchmark, class
order or pooling gives numbers that mean nothing, so it is refused by name."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from litelora.benchmarks import TaskStream
from litelora.errors import ConfigError


def model_pooling(model: object) -> str | None:
    """A classifier's text-encoder pooling (``mean``/``cls``); ``None`` for a model that pools nothing."""
    return getattr(getattr(model, "backbone", None), "pooling", None)


def head_record(class_ids: Sequence[int], stream: TaskStream, pooling: str | None) -> dict[str, Any]:
    """The fields added to an exported ``head.json``: ``benchmark``, ``class_names`` (one per head
    column, in column order) and ``pooling`` (``mean``/``cls`` for a text encoder, else absent)."""
    record: dict[str, Any] = {"benchmark": stream.name, "class_names": [stream.class_names[c] for c in class_ids]}
    if pooling is not None:
        record["pooling"] = pooling
    return record


def check_head(info: dict[str, Any], where: Path, stream: TaskStream, feature_dim: int,
               pooling: str | None) -> list[str]:
    """Raise ``ConfigError`` naming the field when the head ``info`` (its ``head.json``) cannot be this
    model's and benchmark's; returns notes for what it does not record and so cannot be checked.

    ``feature_dim``: the width of the configured model's pooled features; ``pooling``: its pooling
    (``None`` for a model without one).
    """
    if info.get("feature_dim") != feature_dim:
        raise ConfigError(f"{where}: feature_dim {info.get('feature_dim')!r}, but the configured model gives "
                          f"{feature_dim}-wide features: the head was trained on another model (set model.name "
                          "to that model, or pass --head DIR of a head trained on this one)")
    class_ids = [c for block in info["blocks"] for c in block]
    outside = [c for c in class_ids if c >= stream.num_classes]
    if outside:
        raise ConfigError(f"{where}: class id {outside[0]} is not a class of {stream.name} ({stream.num_classes} "
                          "classes): the head belongs to another benchmark")
    notes = []
    names = info.get("class_names")
    if isinstance(names, list) and len(names) == len(class_ids):
        for column, (c, name) in enumerate(zip(class_ids, names)):
            if stream.class_names[c] != name:
                raise ConfigError(f"{where}: class_names: head column {column} scores class {c} as {name!r}, but "
                                  f"class {c} of {stream.name} is {stream.class_names[c]!r}: the head was trained "
                                  "with another benchmark, seed or class_order (set benchmark.* as in that run)")
    else:
        notes.append(f"{where} records no class_names: its class ids cannot be checked against {stream.name}'s "
                     "classes; the scores mean something only if the head was trained on this benchmark, seed and "
                     "class order")
    recorded = info.get("pooling")
    if recorded is not None and pooling is not None and recorded != pooling:
        raise ConfigError(f"{where}: pooling {recorded!r}, but model.pooling is {pooling!r}: the head reads "
                          f"{recorded}-pooled features (--set model.pooling={recorded})")
    if recorded is None and pooling is not None:
        notes.append(f"{where} records no pooling: scoring it on {pooling}-pooled features (model.pooling)")
    return notes


def folder_contents(folder: Path) -> str:
    """What ``folder`` holds, for an error that says a head is missing: its entries, and the
    ``modules_to_save`` of a PEFT config there (a classifier PEFT restores, which is not a litelora head)."""
    if not folder.is_dir():
        return f"{folder} does not exist"
    entries = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir())
    text = f"{folder} holds {', '.join(entries[:8]) or 'nothing'}" + (" ..." if len(entries) > 8 else "")
    config = folder / "adapter_config.json"
    if config.is_file():
        from litelora._io import read_json

        try:
            saved = read_json(config).get("modules_to_save")
        except (OSError, ValueError, AttributeError):
            saved = None
        if saved:
            text += (f"; its adapter_config.json lists modules_to_save {saved}: a classifier that "
                     "PeftModel.from_pretrained restores on your model class, which eval --peft does not score")
    return text
