"""Save and load an adapter bank: safetensors for tensors, JSON for structure. No pickle."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from litelora._io import load_tensors, read_json, save_tensors, write_json
from litelora.adapters.bank import AdapterBank
from litelora.adapters.config import AdapterConfig
from litelora.adapters.layer import LoraAdapter
from litelora.adapters.reuse import CoreReuse, ScaleReuse, span_bases
from litelora.errors import AdapterError

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
    """Inject a saved bank into a fresh copy of the model it was trained on."""
    directory = Path(directory)
    for f in (BANK_JSON, BANK_TENSORS):
        if not (directory / f).is_file():
            raise AdapterError(f"{directory / f} is missing: not a saved adapter bank")
    desc = read_json(directory / BANK_JSON)
    bank = AdapterBank(model, AdapterConfig.from_dict(desc["config"]))
    restore_bank(bank, desc, load_tensors(directory / BANK_TENSORS))
    return bank


def restore_bank(bank: AdapterBank, desc: dict, tensors: dict[str, torch.Tensor]) -> None:
    """Replace ``bank``'s adapters by those ``describe()`` and ``bank_state_dict()`` recorded.

    Every restored tensor is frozen; the caller re-opens what it trains.
    """
    missing = set(desc["targets"]) - set(bank.targets)
    if missing:
        raise AdapterError(f"saved targets {sorted(missing)[:5]} do not exist in this model")
    bank.tasks = list(desc["tasks"])
    for target, entry in desc["targets"].items():
        slot, spec = bank.slot(target), bank.specs[target]
        slot.adapters.clear()
        slot.reuse.clear()
        slot.coefficients.clear()
        weight = bank.layer(target).base_layer.weight
        for info in entry["adapters"]:
            a = LoraAdapter(spec.in_features, spec.out_features, info["r"], info["scale"], info["task_id"],
                            init="zeros", device=weight.device, dtype=weight.dtype)
            with torch.no_grad():
                for key in ("lora_A", "lora_B", "magnitude"):
                    getattr(a, key).copy_(_get(tensors, f"{target}/{info['name']}/{key}"))
            a.requires_grad_(False)
            slot.adapters[info["name"]] = a
        for info in entry["reuse"]:
            names = info["adapters"]
            if info["kind"] == "ScaleReuse":
                module: nn.Module = ScaleReuse(names)
            elif info["kind"] == "CoreReuse":
                olds = [slot.adapters[n] for n in names]
                U, V = span_bases([o.lora_A for o in olds], [o.lora_B for o in olds])  # type: ignore[union-attr]
                module = CoreReuse(names, U, V)
            else:
                raise AdapterError(f"{BANK_JSON}: unknown reuse kind {info['kind']!r}")
            with torch.no_grad():
                for pname, p in module.named_parameters(recurse=False):
                    p.copy_(_get(tensors, f"{target}/reuse.{info['name']}/{pname}"))
            module.requires_grad_(False)
            slot.reuse[info["name"]] = module.to(weight.device)


def _get(tensors: dict[str, torch.Tensor], key: str) -> torch.Tensor:
    if key not in tensors:
        raise AdapterError(f"{BANK_TENSORS} has no tensor {key!r}: the file does not match {BANK_JSON}")
    return tensors[key]
