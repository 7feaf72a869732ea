"""Export an adapter bank as a standard PEFT LoRA folder, and import one back (safetensors only).

The export is exact: every module's slots are concatenated into one vanilla LoRA whose scale
(magnitudes, ``lora_alpha / r``, gate and reuse coefficients) is folded into ``lora_B``, and whose
PEFT runtime scale ``lora_alpha / r`` is made exactly 1 (``alpha == r`` per module).
"""

from __future__ import annotations

import json
import math
import os
import re
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from litelora._io import atomic_dir, check_tensor, load_tensors, write_safetensors
from litelora.adapters.bank import AdapterBank, adapter_name
from litelora.adapters.config import MAX_RANK, AdapterConfig
from litelora.adapters.saved_modules import resolve_saved_modules, saved_module_tensors
from litelora.adapters.targeting import LAYER_KINDS, layer_kind
from litelora.errors import AdapterError, TargetError

CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"
PREFIX = "base_model.model."
Lora = tuple[torch.Tensor, torch.Tensor]  # (lora_A (r, d_in), lora_B (d_out, r))
_KEY = re.compile(rf"^{re.escape(PREFIX)}(?P<module>.+)\.(?P<part>lora_A|lora_B)\.weight$")


def peft_pattern_key(keys: list[str], name: str) -> str:
    """The ``rank_pattern``/``alpha_pattern`` key PEFT (0.21 ``get_pattern_key``) looks up for module
    ``name``: the first key, in the given order, with ``re.match(rf"(.*\\.)?({key})$", name)``, else
    ``name`` itself."""
    for key in keys:
        if re.match(rf"(.*\.)?({key})$", name):
            return key
    return name


def pattern_keys(names: list[str]) -> dict[str, str]:
    """Module name -> a pattern key that PEFT resolves to that module only.

    A plain name is kept where it is unambiguous; PEFT matches keys as regex *suffixes* (``"0"``
    also matches ``"blk.0"``, ``"x.y"`` matches ``"x_y"``) and ``LoraConfig.save_pretrained`` sorts
    the keys, so a key that wins for the wrong module is anchored as ``"^" + re.escape(name)``.
    """
    keys = {n: n for n in names}
    while True:
        order = sorted(keys.values())  # the order PEFT reads back from the sorted JSON
        owner = {k: n for n, k in keys.items()}
        offenders: set[str] = set()
        for n in names:
            resolved = peft_pattern_key(order, n)
            if resolved != keys[n]:  # another module's key wins: anchor that one
                offenders.add(owner.get(resolved, n))
        offenders = {n for n in offenders if not keys[n].startswith("^")}
        if not offenders:
            return keys
        for n in offenders:  # an anchored key matches its own module only, so this terminates
            keys[n] = "^" + re.escape(n)


@torch.no_grad()
def module_loras(bank: AdapterBank) -> dict[str, Lora]:
    """Module name -> exact LoRA ``(A (R, d_in), B (d_out, R))`` of all its slots, in model order.

    A 1x1 conv's LoRA is its channel map (``export_peft`` writes it in PEFT's 4-D conv layout).
    Slice slots of a fused layer become one LoRA: A stacks the slots' A_cat, B is block-structured
    (a slot's B_cat sits in its rows and its own columns; rows no slot writes, e.g. k, stay zero).
    Modules whose slots hold nothing (closed gates everywhere) are left out.
    """
    grouped: dict[str, list[str]] = {}
    for target, spec in bank.specs.items():
        slot = bank.slot(target)
        if slot.adapters or slot.reuse:
            grouped.setdefault(spec.module_name, []).append(target)
    out: dict[str, Lora] = {}
    for module, targets in grouped.items():
        parts = [(bank.specs[t], *bank.concatenated(t)) for t in targets]
        A = torch.cat([a for _, a, _ in parts], dim=0)
        B = A.new_zeros(bank.layer(targets[0]).out_features, A.shape[0])
        col = 0
        for spec, a, b in parts:
            B[spec.out_start : spec.out_stop, col : col + a.shape[0]] = b
            col += a.shape[0]
        out[module] = (A.detach().cpu().contiguous(), B.detach().cpu().contiguous())
    return out


def export_peft(
    bank: AdapterBank,
    out_dir: str | os.PathLike[str],
    *,
    base_model_name_or_path: str | None = None,
    task_type: str | None = None,
    modules_to_save: Sequence[str] = (),
    overwrite: bool = False,
) -> Path:
    """Write the bank's current state (every active adapter) as one PEFT LoRA folder; returns it.

    ``adapter_config.json`` comes from ``peft.LoraConfig.save_pretrained``; ``r`` and ``lora_alpha``
    are the most common module rank, and when ranks differ every module gets
    ``rank_pattern == alpha_pattern == R_module`` so PEFT's scale is 1 everywhere. The folder is
    built beside ``out_dir`` and renamed into place; a non-empty ``out_dir`` needs ``overwrite``.

    ``modules_to_save``: modules of ``bank.model`` trained in full beside the adapters (the
    classifier a loop trained, as in ``LiteLoRA(modules_to_save=...)``), written as PEFT writes
    them, so ``PeftModel.from_pretrained`` on a fresh copy of the model restores them too.
    """
    from peft import LoraConfig  # peft pulls in transformers; import it only when exporting

    out_dir = Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())) and not overwrite:
        raise AdapterError(f"{out_dir} exists and is not empty; pass overwrite=True to replace it")
    loras = module_loras(bank)
    if not loras:
        raise AdapterError("the bank holds no adapters to export (add a task, or every gate is closed)")
    ranks = {m: A.shape[0] for m, (A, _) in loras.items()}
    counts = Counter(ranks.values())
    r = max(sorted(counts), key=lambda k: counts[k])  # most common rank; ties go to the smallest
    patterns: dict[str, int] = {}
    if len(counts) > 1:
        keys = pattern_keys(list(loras))
        patterns = {keys[m]: ranks[m] for m in loras}
    kinds = {spec.module_name: spec.kind for spec in bank.specs.values()}
    saved = resolve_saved_modules(bank.model, modules_to_save, wrapped=sorted(kinds))
    config = LoraConfig(
        r=r, lora_alpha=r, target_modules=sorted(loras), rank_pattern=patterns, alpha_pattern=dict(patterns),
        lora_dropout=0.0, bias="none", task_type=task_type, base_model_name_or_path=base_model_name_or_path,
        inference_mode=True, modules_to_save=sorted(saved) or None,
    )
    tensors: dict[str, torch.Tensor] = saved_module_tensors(saved, PREFIX)
    for m, (A, B) in loras.items():
        if kinds[m] == "conv1x1":  # PEFT's Conv2d LoRA: lora_A a (r, C_in, 1, 1) conv, lora_B (C_out, r, 1, 1)
            A, B = A[:, :, None, None].contiguous(), B[:, :, None, None].contiguous()
        tensors[f"{PREFIX}{m}.lora_A.weight"] = A
        tensors[f"{PREFIX}{m}.lora_B.weight"] = B
    # Without a task type, AutoPeftModel rebuilds the base from this class (PeftModel.save_pretrained
    # writes the same for a bare base model).
    auto_mapping = None if task_type else {"base_model_class": type(bank.model).__name__,
                                           "parent_library": type(bank.model).__module__}
    with atomic_dir(out_dir) as tmp:
        config.save_pretrained(str(tmp), auto_mapping_dict=auto_mapping)
        write_safetensors(tmp / WEIGHTS_FILE, tensors, name=Path(out_dir) / WEIGHTS_FILE)
    return out_dir


def read_peft(adapter_dir: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, Lora]]:
    """The folder's config (JSON) and module -> ``(lora_A (r, in), lora_B (out, r))``; no pickle."""
    adapter_dir = Path(adapter_dir)
    cfg_path, weights = adapter_dir / CONFIG_FILE, adapter_dir / WEIGHTS_FILE
    if not weights.is_file() and (adapter_dir / "adapter_model.bin").is_file():
        raise AdapterError(
            f"{adapter_dir} holds only adapter_model.bin; only {WEIGHTS_FILE} is supported (pickle files are "
            f"never loaded). Re-save it with PEFT's save_pretrained(safe_serialization=True)"
        )
    if not cfg_path.is_file():
        raise AdapterError(f"{cfg_path} is missing: not a PEFT adapter folder")
    if not weights.is_file():
        raise AdapterError(f"{weights} is missing: not a PEFT adapter folder")
    try:
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as err:
        raise AdapterError(f"{cfg_path}: cannot be read as JSON ({err})") from None
    check_peft_config(cfg, cfg_path)
    if cfg.get("peft_type", "LORA") != "LORA":
        raise AdapterError(f"{cfg_path}: peft_type={cfg.get('peft_type')!r}; only LORA adapters can be imported")
    for flag in ("use_dora", "lora_bias"):
        if cfg.get(flag):
            raise AdapterError(f"{cfg_path}: {flag}=true is not supported; only vanilla LoRA can be imported")
    parts: dict[str, dict[str, torch.Tensor]] = {}
    saved_modules = cfg.get("modules_to_save") or []
    skipped = []
    for key, tensor in load_tensors(weights).items():
        match = _KEY.match(key)
        if match is None and _is_saved_module(key, saved_modules):
            skipped.append(key[len(PREFIX):] if key.startswith(PREFIX) else key)
            continue
        if match is None:
            raise AdapterError(f"{weights}: unsupported key {key!r}; expected {PREFIX}<module>.lora_A/lora_B.weight")
        check_tensor({key: tensor}, key, tuple(tensor.shape), str(weights))  # finite floating values
        if tensor.dim() not in (2, 4):
            raise AdapterError(f"{weights}: {key} has {tensor.dim()} dimensions; LoRA factors are matrices "
                               "(or 1x1 convolution kernels)")
        parts.setdefault(match["module"], {})[match["part"]] = tensor
    loras: dict[str, Lora] = {}
    for module, ab in parts.items():
        if set(ab) != {"lora_A", "lora_B"}:
            raise AdapterError(f"{weights}: module {module!r} has only {sorted(ab)}; both lora_A and lora_B needed")
        loras[module] = (ab["lora_A"], ab["lora_B"])
    if not loras:
        raise AdapterError(f"{weights} holds no LoRA tensors")
    if skipped:
        warnings.warn(f"{adapter_dir}: {sorted(skipped)[:4]} belong to modules_to_save {saved_modules} (full "
                      "weights, not LoRA factors) and are not imported; litelora scores with its own head "
                      "(eval --peft --head DIR)", stacklevel=2)
    return cfg, loras


def _is_saved_module(key: str, saved: list[str]) -> bool:
    """A ``modules_to_save`` tensor (``base_model.model.classifier.weight``, or PEFT's wrapper
    names ``...modules_to_save.default...``) rather than a LoRA factor."""
    path = key[len(PREFIX):] if key.startswith(PREFIX) else key
    parts = path.split(".")
    return "modules_to_save" in parts or any(name in parts[:-1] for name in saved if isinstance(name, str))


def align_module_names(loras: dict[str, Lora], names: set[str]) -> tuple[dict[str, Lora], str]:
    """``loras`` keyed by the model's own module names, and the prefix dropped to get them (``""``
    when none): a folder saved from a task model (``BertForSequenceClassification``:
    ``bert.encoder...``) loaded onto its encoder (``encoder...``) drops the leading components every
    key shares, when that makes them all match. The folder's ``rank_pattern`` / ``alpha_pattern``
    keys name modules with that prefix, so look them up as ``prefix + name``."""
    if all(m in names for m in loras):
        return loras, ""
    depth = min(m.count(".") for m in loras)
    for k in range(1, depth + 1):
        prefixes = {".".join(m.split(".")[:k]) for m in loras}
        stripped = {m.split(".", k)[k]: v for m, v in loras.items()}
        if len(prefixes) == 1 and all(m in names for m in stripped):
            return stripped, f"{prefixes.pop()}."
    return loras, ""


def check_peft_config(cfg: Any, where: Path) -> None:
    """The ``adapter_config.json`` fields litelora reads, each of the type and range PEFT allows."""
    if not isinstance(cfg, dict):
        raise AdapterError(f"{where}: expected a JSON object, got {type(cfg).__name__}")

    def fail(field: str, value: Any, want: str) -> AdapterError:
        return AdapterError(f"{where}: {field}={value!r}; expected {want}")

    def check_r(field: str, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_RANK:
            raise fail(field, value, f"a positive integer rank (at most {MAX_RANK})")

    def check_alpha(field: str, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise fail(field, value, "a positive finite number")

    check_r("r", cfg.get("r", 8))
    check_alpha("lora_alpha", cfg.get("lora_alpha", 8))
    dropout = cfg.get("lora_dropout") or 0.0
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
        raise fail("lora_dropout", cfg.get("lora_dropout"), "a number in [0, 1)")
    for field, check in (("rank_pattern", check_r), ("alpha_pattern", check_alpha)):
        pattern = cfg.get(field) or {}
        if not isinstance(pattern, dict):
            raise fail(field, pattern, "an object {module pattern: value}")
        for key, value in pattern.items():
            check(f"{field}[{key!r}]", value)
            try:
                re.compile(key)
            except re.error as err:
                raise fail(f"{field} key", key, f"a valid regular expression ({err})") from None


def peft_scale(cfg: dict[str, Any], module: str) -> tuple[int, float]:
    """PEFT's ``(r, scale)`` for ``module``: ``alpha / r`` (rsLoRA: ``alpha / sqrt(r)``), with the
    rank and alpha looked up in ``rank_pattern``/``alpha_pattern`` by PEFT's own rule."""
    rank_pat, alpha_pat = cfg.get("rank_pattern") or {}, cfg.get("alpha_pattern") or {}
    r_key, a_key = peft_pattern_key(list(rank_pat), module), peft_pattern_key(list(alpha_pat), module)
    r = int(rank_pat.get(r_key, cfg.get("r", 8)))
    alpha = float(alpha_pat.get(a_key, cfg.get("lora_alpha", 8)))
    return r, alpha / math.sqrt(r) if cfg.get("use_rslora") else alpha / r


def import_peft(model: nn.Module, adapter_dir: str | os.PathLike[str], *, task_id: int = 0) -> AdapterBank:
    """Inject a PEFT LoRA folder into ``model`` (in place) as task ``task_id``'s frozen adapters.

    Each ``lora_A`` (r, in) / ``lora_B`` (out, r) pair becomes one ``LoraAdapter`` with PEFT's scale;
    a 1x1 conv's (r, C_in, 1, 1) / (C_out, r, 1, 1) pair is read as the same matrices.
    """
    return import_peft_tasks(model, {task_id: adapter_dir})


@torch.no_grad()
def import_peft_tasks(
    model: nn.Module, adapter_dirs: Mapping[int, str | os.PathLike[str]] | Sequence[str | os.PathLike[str]]
) -> AdapterBank:
    """Inject several PEFT LoRA folders into ``model`` (in place), one bank task per folder.

    ``adapter_dirs`` maps task id -> folder (a sequence means tasks 0, 1, ...). The folders may
    target different modules; every folder is validated against ``model`` before any layer is
    wrapped, so a folder for another base model leaves ``model`` untouched.
    """
    dirs = dict(adapter_dirs) if isinstance(adapter_dirs, Mapping) else dict(enumerate(adapter_dirs))
    if not dirs:
        raise AdapterError("no PEFT adapter folders given")
    names = dict(model.named_modules())
    read = {}
    for task_id, d in dirs.items():
        cfg, loras = read_peft(d)
        read[task_id] = (d, cfg, *align_module_names(loras, set(names)))
    for d, cfg, loras, prefix in read.values():
        _check_against_model(names, d, cfg, loras, prefix)
    modules = list(dict.fromkeys(m for _, _, loras, _ in read.values() for m in loras))
    # A fullmatch regex of the exact names: a list would also match ``x.0`` for ``0``.
    targets = "|".join(re.escape(m) for m in modules)
    first = next(iter(read.values()))[1]
    bank = AdapterBank(model, AdapterConfig(target_modules=f"(?:{targets})", r=int(first.get("r", 8)),
                                            lora_alpha=float(first.get("lora_alpha", 8)),
                                            lora_dropout=float(first.get("lora_dropout") or 0.0),
                                            init_lora_weights="zeros"))
    for task_id, (_, cfg, loras, prefix) in read.items():
        bank.add_task(task_id, targets=[])  # registers the task; its adapters are built from the file below
        for module, (A, B) in loras.items():
            spec, slot = bank.specs[module], bank.slot(module)
            r, scale = peft_scale(cfg, prefix + module)
            adapter = bank.new_adapter(module, r, scale, task_id)
            adapter.lora_A.copy_(A.reshape(r, spec.in_features))
            adapter.lora_B.copy_(B.reshape(spec.out_features, r))
            slot.adapters[adapter_name(task_id)] = adapter
        bank.freeze_task(task_id)
    return bank


def _check_against_model(names: dict[str, nn.Module], adapter_dir: str | os.PathLike[str], cfg: dict[str, Any],
                         loras: dict[str, Lora], prefix: str) -> None:
    for module, (A, B) in loras.items():
        layer = names.get(module)
        kind = None
        if layer is not None:
            try:
                kind = layer_kind(module, layer)
            except TargetError as err:
                raise AdapterError(f"{adapter_dir}: {err}") from None
        if kind is None:
            found = type(layer).__name__ if layer is not None else "missing"
            raise AdapterError(f"{adapter_dir}: module {module!r} is {found} in this model; only nn.Linear and "
                               f"1x1 nn.Conv2d are supported (is this folder for another base model?)")
        r = peft_scale(cfg, prefix + module)[0]
        d_in, d_out = LAYER_KINDS[kind][1](layer)  # type: ignore[arg-type]
        tail = (1, 1) if kind == "conv1x1" else ()
        if A.shape != (r, d_in, *tail) or B.shape != (d_out, r, *tail):
            raise AdapterError(
                f"{adapter_dir}: {PREFIX}{prefix}{module}.lora_A/B have shapes {tuple(A.shape)}/{tuple(B.shape)}; expected "
                f"{(r, d_in, *tail)}/{(d_out, r, *tail)} from the config rank and the model"
            )
