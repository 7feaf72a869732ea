"""Save and load an adapter bank: safetensors for tensors, JSON for structure. No pickle."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from litelora._io import check_tensor, load_tensors, read_json, save_tensors, write_json
from litelora._paths import confined
from litelora.adapters.bank import AdapterBank
from litelora.adapters.config import AdapterConfig, check_rank
from litelora.adapters.layer import LoraAdapter
from litelora.adapters.reuse import CoreReuse, ScaleReuse, span_bases
from litelora.errors import AdapterError, ConfigError, DataError

BANK_JSON = "bank.json"
BANK_TENSORS = "adapters.safetensors"


def bank_state_dict(bank: AdapterBank) -> dict[str, torch.Tensor]:
    """Flat ``{"<target>/<adapter>/<tensor>": tensor}`` of every adapter and reuse tensor."""
    out: dict[str, torch.Tensor] = {}
    for target in bank.targets:
        slot = bank.slot(target)
        for name, a in slot.adapters.items():
            assert isinstance(a, LoraAdapter)
            out[f"{target}/{name}/lora_A"] = a.lora_A
            out[f"{target}/{name}/lora_B"] = a.lora_B
            out[f"{target}/{name}/magnitude"] = a.magnitude
        for name, m in slot.reuse.items():
            for pname, p in m.named_parameters(recurse=False):
                out[f"{target}/reuse.{name}/{pname}"] = p
    return out


def save_bank(bank: AdapterBank, directory: str | os.PathLike[str]) -> None:
    """Write ``bank.json`` and ``adapters.safetensors`` (each atomically) into ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    save_tensors(directory / BANK_TENSORS, bank_state_dict(bank))
    write_json(directory / BANK_JSON, bank.describe())


def load_bank(model: nn.Module, directory: str | os.PathLike[str]) -> AdapterBank:
    """Inject a saved bank into a fresh copy of the model it was trained on.

    ``bank.json`` is checked before anything is allocated (ranks within limits, targets that
    exist), and every tensor against the shape it declares; a damaged or foreign bank is a
    ``DataError`` naming the file.
    """
    desc, tensors = read_saved_bank(directory)
    desc_path = confined(directory, BANK_JSON)
    try:
        config = AdapterConfig.from_dict(desc["config"])
    except TypeError as err:
        raise DataError(f"{desc_path}: 'config' is not an adapter config ({err})") from None
    except ConfigError as err:
        raise DataError(f"{desc_path}: {err}") from None
    bank = AdapterBank(model, config)
    restore_bank(bank, desc, tensors)
    return bank


def read_saved_bank(directory: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """``bank.json`` (structure checked) and the tensors of a saved bank; no link is followed."""
    desc_path, tensors_path = confined(directory, BANK_JSON), confined(directory, BANK_TENSORS)
    for f in (desc_path, tensors_path):
        if not f.is_file():
            raise AdapterError(f"{f} is missing: not a saved adapter bank")
    try:
        desc = read_json(desc_path)
    except (OSError, ValueError) as err:
        raise DataError(f"{desc_path}: cannot be read as JSON ({err})") from None
    _check_description(desc, desc_path)
    return desc, load_tensors(tensors_path)


def _check_description(desc: Any, where: Path) -> None:
    """The structure ``AdapterBank.describe()`` writes, with sane values (before allocation)."""
    def bad(what: str) -> DataError:
        return DataError(f"{where}: {what}; the file is damaged or not a litelora bank")

    if not isinstance(desc, dict) or not {"config", "targets", "tasks"} <= set(desc):
        raise bad("expected an object with 'config', 'targets' and 'tasks'")
    if not isinstance(desc["config"], dict) or not isinstance(desc["targets"], dict):
        raise bad("'config' and 'targets' must be objects")
    if not isinstance(desc["tasks"], list) or not all(_is_index(t) for t in desc["tasks"]):
        raise bad("'tasks' must be a list of non-negative task ids")
    for target, entry in desc["targets"].items():
        if not isinstance(entry, dict) or not isinstance(entry.get("adapters"), list) \
                or not isinstance(entry.get("reuse", []), list):
            raise bad(f"target {target!r} needs 'adapters' and 'reuse' lists")
        for info in entry["adapters"]:
            if not isinstance(info, dict) or not {"name", "r", "scale", "task_id"} <= set(info):
                raise bad(f"an adapter of {target!r} lacks name, r, scale or task_id")
            try:
                check_rank(f"{target}/{info['name']} r", info["r"])
            except ConfigError as err:
                raise bad(str(err)) from None
            scale = info["scale"]
            if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale):
                raise bad(f"{target}/{info['name']}: scale must be a finite number, got {scale!r}")
            if not isinstance(info["name"], str) or not _is_index(info["task_id"]):
                raise bad(f"an adapter of {target!r} has a bad name or task_id")
        for info in entry.get("reuse", []):
            if not isinstance(info, dict) or not isinstance(info.get("adapters"), list) or "name" not in info:
                raise bad(f"a reuse entry of {target!r} lacks name or adapters")


def _is_index(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def restore_bank(bank: AdapterBank, desc: dict, tensors: dict[str, torch.Tensor]) -> None:
    """Replace ``bank``'s adapters by those ``describe()`` and ``bank_state_dict()`` recorded.

    Every restored tensor is frozen; the caller re-opens what it trains.
    """
    missing = set(desc["targets"]) - set(bank.targets)
    if missing:
        raise AdapterError(f"saved targets {sorted(missing)[:5]} do not exist in this model")
    bank.tasks = list(desc["tasks"])
    for target, entry in desc["targets"].items():
        slot = bank.slot(target)
        slot.adapters.clear()
        slot.reuse.clear()
        slot.coefficients.clear()
        weight = bank.layer(target).base_layer.weight
        for info in entry["adapters"]:
            a = bank.new_adapter(target, info["r"], info["scale"], info["task_id"])
            _copy_checked(a, tensors, f"{target}/{info['name']}")
            a.requires_grad_(False)
            slot.adapters[info["name"]] = a
        for info in entry.get("reuse", []):
            names = info["adapters"]
            unknown = [n for n in names if n not in slot.adapters]
            if unknown:
                raise AdapterError(f"{BANK_JSON}: reuse {info['name']!r} of {target!r} names unknown adapters "
                                   f"{unknown[:3]}")
            if info.get("kind") == "ScaleReuse":
                module: nn.Module = ScaleReuse(names, like=slot.adapters[names[0]].magnitude)
            elif info.get("kind") == "CoreReuse":
                olds = [slot.adapters[n] for n in names]
                U, V = span_bases([o.lora_A for o in olds], [o.lora_B for o in olds])  # type: ignore[union-attr]
                module = CoreReuse(names, U, V)
            else:
                raise AdapterError(f"{BANK_JSON}: unknown reuse kind {info.get('kind')!r}")
            _copy_checked(module, tensors, f"{target}/reuse.{info['name']}")
            module.requires_grad_(False)
            slot.reuse[info["name"]] = module.to(weight.device)


@torch.no_grad()
def _copy_checked(module: nn.Module, tensors: dict[str, torch.Tensor], prefix: str) -> None:
    """Fill ``module``'s own parameters from ``tensors[prefix/name]``, each of exactly its shape."""
    for pname, p in module.named_parameters(recurse=False):
        p.copy_(check_tensor(tensors, f"{prefix}/{pname}", tuple(p.shape), BANK_TENSORS))
