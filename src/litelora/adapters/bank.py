"""AdapterBank: per-task LoRA adapters injected into an unmodified model."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from litelora.adapters.config import AdapterConfig, check_rank
from litelora.adapters.layer import WRAPPERS, AdapterSlot, BankLinear, Coefficient, LoraAdapter
from litelora.adapters.targeting import TargetSpec, find_targets, rank_for
from litelora.errors import AdapterError


def adapter_name(task_id: int) -> str:
    """Task adapters are named ``task_000``, ``task_001``, ..."""
    return f"task_{task_id:03d}"


@dataclass(frozen=True)
class AdapterRecord:
    """Accounting for one (target, task) adapter."""

    target: str
    task_id: int
    r: int
    num_params: int
    num_bytes: int
    trainable: bool


class AdapterBank:
    """Injects ``BankLinear`` (``BankConv1x1`` for 1x1 convs) layers into ``model`` (in place)
    and manages task adapters.

    Every base parameter of the model is frozen. ``add_task`` adds a *candidate* adapter to
    every target; all earlier adapters stay active and are frozen by construction, so the
    optimizer built from its return value can only move the new task's parameters.
    """

    def __init__(self, model: nn.Module, config: AdapterConfig) -> None:
        self.model = model
        self.config = config
        self.specs: dict[str, TargetSpec] = {s.name: s for s in find_targets(model, config)}
        self.tasks: list[int] = []
        for p in model.parameters():
            p.requires_grad_(False)
        for spec in self.specs.values():
            layer = self._wrap(spec)
            layer.add_slot(spec.slice_name or BankLinear.FULL, spec.out_start, spec.out_stop)

    # ------------------------------------------------------------------ structure
    def _wrap(self, spec: TargetSpec) -> BankLinear:
        parent_name, _, child = spec.module_name.rpartition(".")
        parent = self.model.get_submodule(parent_name) if parent_name else self.model
        current = getattr(parent, child)
        if isinstance(current, BankLinear):
            return current
        layer = WRAPPERS[spec.kind](current, dropout=self.config.lora_dropout)
        setattr(parent, child, layer)
        return layer

    @property
    def targets(self) -> list[str]:
        """Slot names in model order (``module`` or ``module:slice``)."""
        return list(self.specs)

    def layer(self, target: str) -> BankLinear:
        spec = self._spec(target)
        return self.model.get_submodule(spec.module_name)  # type: ignore[return-value]

    def slot(self, target: str) -> AdapterSlot:
        spec = self._spec(target)
        return self.layer(target).slots[spec.slice_name or BankLinear.FULL]  # type: ignore[return-value]

    def _spec(self, target: str) -> TargetSpec:
        if target not in self.specs:
            raise AdapterError(f"unknown target {target!r}; targets: {self.targets[:6]}{'...' if len(self.specs) > 6 else ''}")
        return self.specs[target]

    def _layers(self) -> list[BankLinear]:
        return [m for m in self.model.modules() if isinstance(m, BankLinear)]

    def _check_not_merged(self, what: str) -> None:
        if any(layer.merged for layer in self._layers()):
            raise AdapterError(f"cannot {what} while adapters are merged; call unmerge_adapters() first")
        if any(layer.folded for layer in self._layers()) and what != "remove an adapter":
            raise AdapterError(f"cannot {what} while frozen adapters are folded; call unfold_frozen() first")

    # ------------------------------------------------------------------ training speed
    def fold_frozen(self) -> int:
        """For the length of a task: fold every adapter nothing can change (frozen factors and
        magnitude, no gate coefficient, no scale reuse) into a working copy of its layer's
        weight, so a step's cost does not grow with the number of earlier tasks. Only candidates
        and what trains still run as LoRA. Returns how many adapters were folded; undone exactly
        (the base weights are restored bit for bit) by ``unfold_frozen``."""
        return sum(layer.fold() for layer in self._layers())

    def unfold_frozen(self) -> None:
        for layer in self._layers():
            layer.unfold()

    @contextmanager
    def frozen_folded(self, enabled: bool = True) -> Iterator[int]:
        """``fold_frozen`` for the block (when ``enabled``), undone on the way out, errors included."""
        count = self.fold_frozen() if enabled else 0
        try:
            yield count
        finally:
            if enabled:
                self.unfold_frozen()

    # ------------------------------------------------------------------ task lifecycle
    def add_task(
        self, task_id: int, rank: int | None = None, targets: list[str] | None = None
    ) -> list[nn.Parameter]:
        """Add task ``task_id``'s candidate to every target (or ``targets``).

        Earlier adapters are frozen first. Returns the new trainable parameters (A and B of
        each candidate). ``rank`` overrides ``config.r``/``rank_pattern`` for this task.
        """
        if isinstance(task_id, bool) or not isinstance(task_id, int) or task_id < 0:
            raise AdapterError(f"task_id must be a non-negative int, got {task_id!r}")
        if task_id in self.tasks:
            raise AdapterError(f"task {task_id} already has adapters ({adapter_name(task_id)}); task ids are used once")
        if rank is not None:
            check_rank("rank", rank)
        chosen = self.targets if targets is None else targets
        for t in chosen:
            self._spec(t)
        self._check_not_merged("add a task")
        for t in self.tasks:
            self.freeze_task(t)
        name = adapter_name(task_id)
        params: list[nn.Parameter] = []
        for target in chosen:
            slot = self.slot(target)
            r = rank if rank is not None else rank_for(target, self.config)
            scale = self.config.lora_alpha / r if self.config.use_scale else 1.0
            adapter = self.new_adapter(target, r, scale, task_id, init=self.config.init_lora_weights)
            slot.adapters[name] = adapter
            params += [adapter.lora_A, adapter.lora_B]
        self.tasks.append(task_id)
        return params

    def new_adapter(self, target: str, r: int, scale: float, task_id: int, init: str = "zeros") -> LoraAdapter:
        """A rank-``r`` adapter for ``target``, on its layer's device, not yet placed in the bank. Its
        dtype is its slot's adapters' (one dtype per slot: a model cast to bfloat16 between tasks
        casts them too), or for a slot's first adapter ``config.adapter_dtype`` of the weight's
        (float32 for a half-precision layer by default)."""
        spec, weight = self.specs[target], self.layer(target).base_layer.weight
        dtype = self.slot(target).dtype() or self.config.adapter_dtype(weight.dtype)
        return LoraAdapter(spec.in_features, spec.out_features, r, scale, task_id, init=init,
                           device=weight.device, dtype=dtype)

    def candidates(self, task_id: int) -> dict[str, LoraAdapter]:
        """Target -> task ``task_id``'s adapter, for the targets that still hold one."""
        self._check_task(task_id)
        name = adapter_name(task_id)
        out = {}
        for target in self.targets:
            slot = self.slot(target)
            if name in slot.adapters:
                out[target] = slot.adapters[name]  # type: ignore[assignment]
        return out

    def remove_candidate(self, target: str, task_id: int | None = None) -> None:
        """Delete a task's adapter (default: the latest task's) from one target."""
        task_id = self.tasks[-1] if task_id is None and self.tasks else task_id
        if task_id is None:
            raise AdapterError("no task has been added yet, so there is no candidate to remove")
        slot = self.slot(target)
        name = adapter_name(task_id)
        if name not in slot.adapters:
            raise AdapterError(f"target {target!r} holds no adapter for task {task_id} ({name})")
        self._check_not_merged("remove an adapter")
        # An optimizer may still hold the tensors; frozen, they can no longer be stepped.
        slot.adapters[name].requires_grad_(False)
        del slot.adapters[name]
        slot.coefficients.pop(name, None)

    def resize_candidate(self, target: str, task_id: int, rank: int, rescale: bool = False) -> LoraAdapter:
        """Shrink a task's adapter on one target to ``rank`` (its first ``rank`` directions: rows of
        A, columns of B), in place; ``rank`` equal to its own changes nothing, 0 is refused (use
        ``remove_candidate``). By default the scale stays: the result is the host's candidate with
        the other directions removed, each kept direction training exactly as it would have (a gate
        sizes candidates this way). ``rescale=True`` sets ``lora_alpha / rank`` instead, as a fresh
        rank-``rank`` adapter (``add_task(rank=...)``, PEFT's ``rank_pattern``) would have, where the
        adapter still carries ``lora_alpha / r``; a scale a method set itself (InfLoRA's 1) is kept
        either way. Magnitudes and gate coefficients are untouched; exports fold the scale into B."""
        slot = self.slot(target)
        name = adapter_name(task_id)
        if name not in slot.adapters:
            raise AdapterError(f"target {target!r} holds no adapter for task {task_id} ({name})")
        adapter: LoraAdapter = slot.adapters[name]  # type: ignore[assignment]
        if isinstance(rank, bool) or not isinstance(rank, int) or not 0 < rank <= adapter.r:
            raise AdapterError(f"cannot resize {name} on {target!r} to rank {rank!r}: need an int in 1..{adapter.r} "
                               "(remove_candidate closes it)")
        if rank == adapter.r:
            return adapter
        if name in slot.folded:
            raise AdapterError(f"cannot resize {name} on {target!r}: it is folded into the working weight")
        self._check_not_merged("remove an adapter")  # like a removal, a resize may happen mid-task, folded
        if rescale and self.config.use_scale and math.isclose(adapter.scale, self.config.lora_alpha / adapter.r,
                                                              rel_tol=1e-9):
            adapter.scale = self.config.lora_alpha / rank
        adapter.truncate(rank)
        return adapter

    def freeze_task(self, task_id: int) -> None:
        """Stop gradients to task ``task_id``'s adapters (A, B and magnitude)."""
        self._set_trainable(task_id, False)

    def unfreeze_task(self, task_id: int) -> list[nn.Parameter]:
        """Make task ``task_id``'s A and B trainable again (``seqlora``); returns them."""
        return self._set_trainable(task_id, True)

    def _set_trainable(self, task_id: int, flag: bool) -> list[nn.Parameter]:
        self._check_task(task_id)
        params = []
        for adapter in self.candidates(task_id).values():
            for p in (adapter.lora_A, adapter.lora_B):
                p.requires_grad_(flag)
                params.append(p)
            if not flag:
                adapter.magnitude.requires_grad_(False)
        return params

    def _check_task(self, task_id: int) -> None:
        if task_id not in self.tasks:
            raise AdapterError(f"unknown task {task_id}; tasks in the bank: {self.tasks}")

    def set_coefficient(self, target: str, task_id: int, fn: Coefficient | None) -> None:
        """Multiply a task's adapter output by ``fn()`` (a scalar tensor); ``None`` = 1."""
        slot = self.slot(target)
        name = adapter_name(task_id)
        if name not in slot.adapters:
            raise AdapterError(f"target {target!r} holds no adapter for task {task_id}")
        if fn is None:
            slot.coefficients.pop(name, None)
        else:
            slot.coefficients[name] = fn

    # ------------------------------------------------------------------ queries
    def active_adapters(self) -> dict[str, list[int]]:
        """Target -> owner tasks of its adapters, in insertion order."""
        return {t: [a.task_id for a in self.slot(t).adapters.values()] for t in self.targets}  # type: ignore[attr-defined]

    def num_active(self, task_id: int | None = None) -> int:
        """Number of (task, target) adapters in the bank (of one task if given)."""
        return sum(1 for r in self.records() if task_id is None or r.task_id == task_id)

    def records(self) -> list[AdapterRecord]:
        out = []
        for target in self.targets:
            for a in self.slot(target).adapters.values():
                assert isinstance(a, LoraAdapter)
                out.append(AdapterRecord(
                    target, a.task_id, a.r, a.num_parameters(),
                    a.num_parameters() * a.lora_A.element_size(), a.lora_A.requires_grad or a.lora_B.requires_grad,
                ))
        return out

    def summary(self) -> dict[str, object]:
        """Counts, parameters and bytes, per task and per target."""
        recs = self.records()
        per_task: dict[int, dict[str, int]] = {}
        per_target: dict[str, dict[str, int]] = {}
        for r in recs:
            for key, table in ((r.task_id, per_task), (r.target, per_target)):
                row = table.setdefault(key, {"adapters": 0, "params": 0, "bytes": 0})  # type: ignore[arg-type]
                row["adapters"] += 1
                row["params"] += r.num_params
                row["bytes"] += r.num_bytes
        reuse_params = sum(p.numel() for t in self.targets for p in self.slot(t).reuse.parameters())
        return {
            "targets": len(self.targets),
            "tasks": list(self.tasks),
            "active_adapters": len(recs),
            "adapter_params": sum(r.num_params for r in recs),
            "adapter_bytes": sum(r.num_bytes for r in recs),
            "reuse_params": reuse_params,
            "per_task": per_task,
            "per_target": per_target,
        }

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.model.parameters() if p.requires_grad]

    def concatenated(self, target: str) -> tuple[torch.Tensor, torch.Tensor]:
        """All of a target's adapters as one exact LoRA: ``(A_cat (R, d_in), B_cat (d_out, R))``."""
        return self.slot(target).concatenated()

    # ------------------------------------------------------------------ merge / disable
    def merge_adapters(self, safe_merge: bool = False) -> None:
        """Fold every adapter into the base weights (exact, undone by ``unmerge_adapters``)."""
        for layer in self._layers():
            layer.merge(safe_merge=safe_merge)

    def unmerge_adapters(self) -> None:
        for layer in self._layers():
            layer.unmerge()

    def merge_and_unload(self) -> nn.Module:
        """Fold every adapter into its base layer and put the plain layers back (as PEFT's
        ``merge_and_unload``): the returned model has no trace of the bank, which is spent."""
        self.merge_adapters(safe_merge=True)
        for name, module in list(self.model.named_modules()):
            if isinstance(module, BankLinear):
                parent_name, _, child = name.rpartition(".")
                parent = self.model.get_submodule(parent_name) if parent_name else self.model
                setattr(parent, child, module.base_layer)
        self.specs, self.tasks = {}, []
        return self.model

    @contextmanager
    def disable_adapters(self) -> Iterator[None]:
        """Run the base model alone inside the block."""
        self._check_not_merged("disable adapters")
        layers = self._layers()
        for layer in layers:
            layer.disabled = True
        try:
            yield
        finally:
            for layer in layers:
                layer.disabled = False

    def describe(self) -> dict[str, object]:
        """JSON-able structure: config, targets and each adapter's shape (for save/load)."""
        return {
            "config": self.config.to_dict(),
            "tasks": list(self.tasks),
            "targets": {
                t: {
                    "adapters": [
                        {"name": n, "task_id": a.task_id, "r": a.r, "scale": a.scale}  # type: ignore[attr-defined]
                        for n, a in self.slot(t).adapters.items()
                    ],
                    "reuse": [
                        {"name": n, "kind": type(m).__name__, "adapters": m.adapter_names}  # type: ignore[attr-defined]
                        for n, m in self.slot(t).reuse.items()
                    ],
                }
                for t in self.targets
            },
        }

