"""LiteLoRA for any training loop: an adapter bank on a model, a continual method and an optional
gate, driven through the task lifecycle. ``litelora train`` drives the same object."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from litelora._io import write_json
from litelora.adapters import AdapterBank, AdapterConfig, save_bank
from litelora.errors import ConfigError
from litelora.gates import GateConfig, GateDecision, GatePlugin
from litelora.gates.gradient_init import gradient_init
from litelora.methods import ContinualMethod, TaskContext, create_method
from litelora.models.continual_classifier import ContinualClassifier
from litelora.training.pairing import gate_for
from litelora.training.rehearsal import rehearse

Batches = Callable[[], Iterable[tuple[Any, torch.Tensor]]]
LossFn = Callable[[Any, torch.Tensor], torch.Tensor]


def _forward(model: nn.Module) -> Callable[[Any], Any]:
    """A batch as the model takes it: keyword arguments for a dict, one positional input otherwise."""
    return lambda batch: model(**batch) if isinstance(batch, dict) else model(batch)


class LiteLoRA:
    """Continual LoRA on ``model`` (modified in place: target layers are wrapped, every base
    parameter frozen except ``modules_to_save``).

    ``method``: a registered host (``inclora``, ``olora``, ``inflora``, ``sdlora``, ...) or an
    instance; ``gate``: a :class:`GateConfig` (``GateConfig()`` is ``kind="auto"``: the LiteLoRA
    gate v3 on a host that adds candidates) or ``None`` (no gate); ``lr``: the adapters' learning
    rate (reuse paths train at it unless ``gate.reuse_lr``). A task is::

        groups = ll.start_task(t, steps=n, batches=loader_fn, loss_fn=loss)  # optimizer groups
        for step ...:
            loss = task_loss + ll.loss_term()          # the method's and the gate's terms
            ...backward, optimizer step...
            if ll.after_step(step + 1):                # a gate decided: candidates were removed
                optimizer = make_optimizer(ll.param_groups())
        ll.end_task()

    ``batches()`` yields the task's training ``(batch, labels)`` and ``loss_fn(batch, labels)`` is
    the task loss: the LiteLoRA gate rehearses with them before it decides, InfLoRA passes over
    the inputs. ``forward(batch)`` runs the model on one batch (default ``model(**batch)`` for a
    dict, ``model(batch)`` otherwise).
    """

    def __init__(self, model: nn.Module, adapter: AdapterConfig | None = None,
                 method: str | ContinualMethod = "inclora", gate: GateConfig | None = None, *,
                 num_tasks: int, lr: float = 1e-3, seed: int = 0, method_params: dict[str, Any] | None = None,
                 modules_to_save: Sequence[str] = ()) -> None:
        if num_tasks < 1:
            raise ConfigError(f"num_tasks must be >= 1, got {num_tasks}")
        if lr <= 0:
            raise ConfigError(f"lr must be > 0, got {lr}")
        self.method = create_method(method, method_params or {}) if isinstance(method, str) else method
        self.method.check_num_tasks(num_tasks)
        # No gate asked for: kind none, which still lets a method bring its own gate (sdlora-kd).
        self.gate: GatePlugin | None = gate_for(self.method, gate or GateConfig(kind="none"), num_tasks, seed=seed,
                                                adapter_lr=lr)
        adapter = adapter or AdapterConfig()
        self.method.check_adapter(adapter)
        self.bank = AdapterBank(model, adapter)
        self.model = model
        self.num_tasks, self.lr = num_tasks, lr
        self.saved = self._unfreeze(model, modules_to_save)
        self._ctx: TaskContext | None = None
        self._groups: list[dict[str, Any]] = []
        self._steps = 0

    @staticmethod
    def _unfreeze(model: nn.Module, names: Sequence[str]) -> list[nn.Parameter]:
        """Parameters of the modules named (exactly or as a dotted suffix, as PEFT's
        ``modules_to_save``), made trainable again after the bank froze the model."""
        params: list[nn.Parameter] = []
        for wanted in names:
            found = [m for n, m in model.named_modules() if n == wanted or n.endswith("." + wanted)]
            if not found:
                raise ConfigError(f"modules_to_save: no module named {wanted!r} in the model")
            for module in found:
                for p in module.parameters():
                    p.requires_grad_(True)
                    params.append(p)
        return params

    @property
    def context(self) -> TaskContext:
        """The running task's context (``start_task`` opens it)."""
        if self._ctx is None:
            raise ConfigError("no task is running: call start_task first")
        return self._ctx

    def start_task(self, task_id: int, steps: int, *, batches: Batches | None = None, loss_fn: LossFn | None = None,
                   forward: Callable[[Any], Any] | None = None,
                   train_inputs: Callable[[], Iterable[Any]] | None = None,
                   rehearse_fn: Callable[..., list[float]] | None = None, num_classes: int | None = None,
                   ) -> list[dict[str, Any]]:
        """Add the task's adapters (and the gate's candidates and reuse paths); returns the
        optimizer groups of what trains now (``adapters`` at ``lr``; ``magnitudes``, a method's
        parameters that take no weight decay, at ``lr`` and ``weight_decay=0``; the gate's own groups).

        ``steps``: the optimizer steps the task will take (the gate sizes its probe by it).
        ``train_inputs`` / ``rehearse_fn`` replace what is derived from ``batches`` and ``loss_fn``.
        ``num_classes``: the task's classes, which ``gate.params.unsolved: chance`` reads.
        """
        if self._ctx is not None:
            raise ConfigError(f"task {self._ctx.task_id} is still running: call end_task first")
        if steps < 1:
            raise ConfigError(f"steps must be >= 1, got {steps}")
        if num_classes is not None and num_classes < 2:
            raise ConfigError(f"num_classes must be >= 2 (a task with one class has nothing to learn), got {num_classes}")
        if train_inputs is None and batches is not None:
            train_inputs = lambda: (b for b, _ in batches())  # noqa: E731 - a closure over batches
        if rehearse_fn is None and batches is not None and loss_fn is not None:
            def rehearse_fn(n: int, on_step: Callable[[int, float], None] | None, keep: bool = False) -> list[float]:
                return rehearse(self.model, loss_fn, batches, n, self.context.lrs, self.lr, on_step, keep=keep)
        self._ctx = TaskContext(task_id=task_id, num_tasks=self.num_tasks, bank=self.bank, train_inputs=train_inputs,
                                run_model=forward or _forward(self.model), steps=steps, rehearse=rehearse_fn,
                                num_classes=num_classes)
        method_params = self.method.before_task(self._ctx)
        if self.bank.config.init_lora_weights == "gradient" and not getattr(self.gate, "initialises_candidates", False):
            gradient_init(self._ctx)  # the gate, where it sizes candidates, initialises its recruits itself
        gate_groups = self.gate.before_task(self._ctx) if self.gate is not None else []
        undecayed = {id(p) for p in self.method.no_weight_decay()}
        self._groups = [{"params": [p for p in method_params if id(p) not in undecayed], "lr": self.lr, "name": "adapters"},
                        {"params": [p for p in method_params if id(p) in undecayed], "lr": self.lr, "weight_decay": 0.0,
                         "name": "magnitudes"}, *gate_groups]
        if self.saved:
            self._groups.append({"params": self.saved, "lr": self.lr, "name": "modules_to_save"})
        self._steps = steps
        return self.param_groups()

    def param_groups(self) -> list[dict[str, Any]]:
        """The optimizer groups, each holding only what still requires gradients (empty groups dropped)."""
        out = []
        for g in self._groups:
            params = [p for p in g["params"] if p.requires_grad]
            if params:
                out.append({**g, "params": params})
        return out

    def refuse_kept_probe(self, why: str) -> None:
        """Raise, saying ``why``, where the gate keeps its probe's steps as the task's first
        (``gate.params.probe_counts``) and the caller cannot honour that: a loop that takes every
        step it planned, say, would train each task longer than its host."""
        if getattr(getattr(self.gate, "params", None), "probe_counts", False):
            raise ConfigError(f"gate.params.probe_counts=true cannot apply: {why}; set probe_counts=false")

    @property
    def groups(self) -> list[dict[str, Any]]:
        """The task's groups as built, frozen parameters included (an optimizer rebuilt from them
        keeps the Adam moments of what survives)."""
        return self._groups

    def loss_terms(self) -> list[torch.Tensor]:
        """The terms to add to the task loss this step: the method's regulariser (O-LoRA's
        orthogonality, ...) and the gate's penalty, where they exist."""
        ctx = self.context
        terms = [self.method.extra_loss(ctx), self.gate.penalty() if self.gate is not None else None]
        return [t for t in terms if t is not None]

    def loss_term(self) -> torch.Tensor | float:
        """The sum of :meth:`loss_terms` (0.0 when there is none)."""
        total: torch.Tensor | float = 0.0
        for term in self.loss_terms():
            total = total + term
        return total

    def after_step(self, step: int) -> bool:
        """Call after optimizer step ``step`` (1-based). True when the trainable set changed (a gate
        decided): rebuild the optimizer from :meth:`param_groups`."""
        return bool(self.gate is not None and self.gate.after_step(self.context, step, self._steps))

    def prune_optimizer(self, optimizer: torch.optim.Optimizer) -> None:
        """Drop from ``optimizer`` the parameters that no longer train (a gate closed their
        candidate), with their optimizer state; its groups, and so any scheduler, stay. The
        alternative to rebuilding the optimizer when :meth:`after_step` says so."""
        keep = {id(p) for g in self.param_groups() for p in g["params"]}
        for group in optimizer.param_groups:
            for p in [p for p in group["params"] if id(p) not in keep]:
                optimizer.state.pop(p, None)
            group["params"] = [p for p in group["params"] if id(p) in keep]

    def end_task(self) -> list[GateDecision]:
        """Consolidate the task (freeze its adapters, update the method's memories); returns the
        gate's decisions for it (one per target; empty without a gate)."""
        ctx = self.context
        if self.gate is not None:
            self.gate.after_training(ctx)
        self.method.after_task(ctx)
        if self.gate is not None:
            self.gate.after_task(ctx)
        self._ctx, self._groups = None, []
        return self.gate.decisions_for(ctx.task_id) if self.gate is not None else []

    @property
    def decisions(self) -> list[GateDecision]:
        """Every gate decision so far."""
        return list(self.gate.decisions) if self.gate is not None else []

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write the bank (``bank.json``, ``adapters.safetensors``) and the gate's decisions
        (``gates.json``) into ``directory``; ``litelora.adapters.load_bank`` reads the bank back
        into a fresh copy of the model, and ``export_peft`` turns it into a PEFT folder. When the
        model is a :class:`~litelora.models.continual_classifier.ContinualClassifier`, its head
        (rows and class statistics) goes to ``litelora_head/``, which ``load_head_state`` resumes."""
        directory = Path(directory)
        save_bank(self.bank, directory)
        write_json(directory / "gates.json", [d.to_dict() for d in self.decisions])
        if isinstance(self.model, ContinualClassifier):
            self.model.save_head(directory / "litelora_head")
        return directory
