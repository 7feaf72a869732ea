"""inflora (Liang and Li, 2024): a designed, frozen down-projection orthogonal to the
earlier tasks' input subspace, which a DualGPM memory keeps per target module."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn

from litelora.adapters.bank import AdapterBank
from litelora.adapters.targeting import rank_for
from litelora.errors import ConfigError, LiteLoraError
from litelora.methods.base import ContinualMethod, TaskContext
from litelora.methods.registry import register_method

_TOL = 1e-8  # relative singular/eigen value below which a direction counts as carrying no energy


def project_off(C: torch.Tensor, U: torch.Tensor, complement: bool) -> torch.Tensor:
    """(I - M M^T) C for the memory M (d, k); ``U`` is M itself, or with ``complement`` an
    orthonormal basis Q (d, d - k) of its orthogonal complement, where I - M M^T = Q Q^T."""
    return U @ (U.T @ C) if complement else C - U @ (U.T @ C)


def complement_basis(M: torch.Tensor) -> torch.Tensor:
    """Orthonormal Q (d, d - k) spanning the orthogonal complement of orthonormal M (d, k)."""
    d, k = M.shape
    if k == 0:
        return torch.eye(d, dtype=M.dtype, device=M.device)
    return torch.linalg.qr(M, mode="complete").Q[:, k:]


IGNORE_LABEL = -100  # positions a loss never reads (the transformers convention)


# A decoder's cross-attention keys and values read the encoder's states (T5, BART/mBART, BERT-style).
_CROSS_KV = re.compile(r"\.(EncDecAttention\.[kv]|encoder_attn\.[kv]_proj|crossattention\.self\.(key|value))$")


def token_mask(batch: Any, module_name: str, rows: torch.Tensor) -> torch.Tensor | None:
    """Which of ``rows`` (B, L, d) are real tokens: the batch's ``attention_mask``, or for an
    encoder-decoder model's decoder modules the positions with a label (except the cross-attention
    keys and values, which read the encoder's tokens); ``None``: all rows."""
    if not isinstance(batch, dict) or rows.dim() != 3:
        return None
    name = f".{module_name}"
    if ".decoder." in name and "labels" in batch and not _CROSS_KV.search(name):
        mask = batch["labels"] != IGNORE_LABEL
    else:
        mask = batch.get("attention_mask")
    if mask is None or tuple(mask.shape) != tuple(rows.shape[:2]):
        return None
    return mask.to(device=rows.device, dtype=torch.bool)


@dataclass
class CovarianceRecorder:
    """Per hooked module name, the running X^T X (float64); set ``batch`` before each forward so
    padding rows can be told apart."""

    covs: dict[str, torch.Tensor] = field(default_factory=dict)
    batch: Any = None


@contextmanager
def input_covariances(bank: AdapterBank, targets: list[str]) -> Iterator[CovarianceRecorder]:
    """While open, every forward adds X^T X (d_in x d_in; per batch in float32, summed in float64)
    of each target layer's input to the yielded recorder's ``covs``; rows of X are tokens, padding excluded (padding never reaches
    the loss, but can carry half a batch's energy). Activations are not kept."""
    recorder = CovarianceRecorder()
    handles = []

    def hook(name: str) -> Callable[[nn.Module, tuple[torch.Tensor, ...], torch.Tensor], None]:
        def accumulate(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
            rows = module.rows(inputs[0].detach())  # type: ignore[operator]  # channels last for 1x1 convs
            mask = token_mask(recorder.batch, name, rows)
            x = (rows[mask] if mask is not None else rows.reshape(-1, rows.shape[-1])).float()
            # One batch's product in float32 (a fast matmul), summed over batches in float64.
            batch_cov = (x.T @ x).double()
            if name in recorder.covs:
                recorder.covs[name] += batch_cov
            else:
                recorder.covs[name] = batch_cov

        return accumulate

    # Fused slices (qkv:q, qkv:v) share one layer and one input: hook each layer once.
    for name in dict.fromkeys(bank.specs[t].module_name for t in targets):
        handles.append(bank.model.get_submodule(name).register_forward_hook(hook(name)))
    try:
        yield recorder
    finally:
        for h in handles:
            h.remove()


@dataclass
class InfLoRAParams:
    """InfLoRA's DualGPM memory.

    eps_b: the share of each task's energy (``energy``) the memory keeps at task 0, rising
        linearly towards 1 over the stream; in (0, 1]. InfLoRA's code uses 0.95-0.98 on the
        ``covariance`` scale.
    energy: what ``eps_b`` is a share of: ``input`` (the eigenvalues of the inputs' covariance,
        as the paper's text puts it) or ``covariance`` (those eigenvalues squared, as InfLoRA's
        released code reads them: the same ``eps_b`` keeps far fewer directions, docs/train.md).
    memory_inputs: which inputs of the task the memory stores: ``after`` training (InfLoRA's
        second pass over the data, exact), or ``before`` (the covariances the design pass
        measured, one pass per task: the first target layer's inputs are the same, deeper
        layers' differ by what the task's own adapters changed upstream).
    """

    eps_b: float = 0.97
    memory_inputs: Literal["after", "before"] = "after"
    energy: Literal["input", "covariance"] = "input"

    def __post_init__(self) -> None:
        if not 0.0 < self.eps_b <= 1.0:
            raise ConfigError(f"method.params.eps_b must be in (0, 1] (InfLoRA uses 0.95-0.98), got {self.eps_b!r}")


@register_method("inflora")
class InfLoRA(ContinualMethod):
    """Per target: A = top-r left singular vectors of (I - M M^T) C_t over sqrt(3), frozen;
    B (zero init) trains; scale 1. After the task, M grows to capture eps_t of the energy.
    Where (I - M M^T) C_t has fewer than r directions with energy the adapter has that rank,
    and none where it has none (the task's inputs lie inside the memory)."""

    Params = InfLoRAParams
    designs_down_projection = True

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.eps_b = self.config.eps_b
        self.memory: dict[str, torch.Tensor] = {}  # target -> M (d, k), or Q (d, d - k) if complement
        self.complement: dict[str, bool] = {}
        self._design_covs: dict[str, torch.Tensor] = {}  # memory_inputs="before": kept for after_task

    def eps(self, task_id: int, num_tasks: int) -> float:
        """eps_t = eps_b + (1 - eps_b) t / T, with InfLoRA's 0-based task index t."""
        return self.eps_b + (1.0 - self.eps_b) * task_id / num_tasks

    def covariances(self, ctx: TaskContext) -> dict[str, torch.Tensor]:
        """One no-grad pass over the task's training data: target -> C = X^T X (float64)."""
        if ctx.train_inputs is None or ctx.run_model is None:
            raise LiteLoraError("inflora needs TaskContext.train_inputs and run_model to pass over the task data")
        model = ctx.bank.model
        was_training = model.training
        model.eval()  # dropout noise would add energy that is not in the inputs
        try:
            with input_covariances(ctx.bank, ctx.bank.targets) as recorder, torch.no_grad():
                for batch in ctx.train_inputs():
                    recorder.batch = batch
                    ctx.run_model(batch)
            covs = recorder.covs
        finally:
            model.train(was_training)
        missing = [t for t in ctx.bank.targets if ctx.bank.specs[t].module_name not in covs]
        if missing:
            raise LiteLoraError(f"inflora: no inputs reached targets {missing[:3]} during the pass over task "
                                f"{ctx.task_id}'s training data (no batches, or the modules are never called)")
        return {t: covs[ctx.bank.specs[t].module_name] for t in ctx.bank.targets}

    def before_task(self, ctx: TaskContext) -> list[nn.Parameter]:
        bank = ctx.bank
        for target in bank.targets:
            r, d_in = rank_for(target, bank.config), bank.specs[target].in_features
            if r > d_in:
                raise ConfigError(f"inflora: rank {r} exceeds the input dimension {d_in} of target {target!r}; "
                                  "lower adapter.r (or its rank_pattern entry)")
        covs = self.covariances(ctx)
        self._design_covs = covs if self.config.memory_inputs == "before" else {}
        bank.add_task(ctx.task_id)
        params: list[nn.Parameter] = []
        with torch.no_grad():
            for target, adapter in bank.candidates(ctx.task_id).items():
                C = covs[target]
                total = float(torch.trace(C))  # the task's input energy, before the projection
                if target in self.memory:
                    C = project_off(C, self.memory[target].to(C.device), self.complement[target])
                U, S, _ = torch.linalg.svd(C)
                # Directions without energy are arbitrary (maybe inside M), and a row of A along one
                # would map every input to 0, leaving its column of B nothing to learn: the adapter
                # keeps only the directions with energy (none left: the inputs lie inside the
                # memory, and the candidate goes, so counts and exports hold only what can train).
                # Energy is relative to the unprojected inputs': what the projection leaves of a
                # task inside the memory is rounding, however large its top value is beside the rest.
                keep = int((S > _TOL * total).sum()) if total > 0 else 0
                n = min(adapter.r, keep)
                if n == 0:
                    bank.remove_candidate(target, ctx.task_id)
                    continue
                adapter = bank.resize_candidate(target, ctx.task_id, n)
                adapter.lora_A.copy_((U[:, :n].T / math.sqrt(3)).to(adapter.lora_A.dtype))
                adapter.lora_B.zero_()
            for adapter in bank.candidates(ctx.task_id).values():
                adapter.lora_A.requires_grad_(False)
                adapter.scale = 1.0  # InfLoRA has no alpha / r
                params.append(adapter.lora_B)
        return params

    def after_task(self, ctx: TaskContext) -> None:
        super().after_task(ctx)
        # A second pass after training, as InfLoRA does: the memory must hold the inputs
        # the trained model feeds each module, and earlier layers' adapters changed them.
        covs = self._design_covs or self.covariances(ctx)
        self._design_covs = {}
        eps = self.eps(ctx.task_id, ctx.num_tasks)
        for target in ctx.bank.targets:  # every target, also where a gate removed the candidate
            self.update_memory(target, covs[target], eps)

    def update_memory(self, target: str, C: torch.Tensor, eps: float) -> None:
        """DualGPM: add the residual's top eigenvectors until the memory holds ``eps`` of
        trace(C); store the basis M or its complement Q, whichever has fewer columns. On the
        ``covariance`` scale C is read as C^2: its energy is ||C||_F^2, what the memory holds of
        it ||M M^T C||_F^2, and the residual's directions are the left singular vectors of
        (I - M M^T) C, as in InfLoRA's code."""
        if self.config.energy == "covariance":
            C = C @ C
        d, total = C.shape[0], float(torch.trace(C))
        U = self.memory.get(target, C.new_zeros(d, 0)).to(C)
        complement = self.complement.get(target, False)
        if total <= 0:  # no input energy: nothing to protect
            self.memory[target], self.complement[target] = U, complement
            return
        Q = U if complement else complement_basis(U)
        K = Q.T @ C @ Q  # residual energy, in complement coordinates
        lam, W = torch.linalg.eigh((K + K.T) / 2)
        lam, W = lam.flip(0).clamp_min(0.0), W.flip(1)
        captured = total - float(lam.sum())
        gains = captured + torch.cumsum(lam, 0)
        useful = int((lam > _TOL * total).sum())
        r = min(int((gains < eps * total).sum()) + 1, useful) if captured < eps * total else 0
        new, rest = Q @ W[:, :r], Q @ W[:, r:]
        k = d - rest.shape[1]
        if complement or k > d - k:
            self.memory[target], self.complement[target] = rest, True
        else:
            self.memory[target], self.complement[target] = torch.cat([U, new], dim=1), False

    def state_dict(self) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        for target, U in self.memory.items():
            out[f"memory/{target}"] = U
            out[f"complement/{target}"] = torch.tensor(int(self.complement[target]), dtype=torch.int8)
        return out

    def load_state_dict(self, state: dict[str, torch.Tensor], bank: AdapterBank) -> None:
        memory, complement = {}, {}
        for key, value in state.items():
            kind, _, target = key.partition("/")
            if kind == "memory":
                memory[target] = value.to(torch.float64)
            elif kind == "complement":
                complement[target] = bool(value.item())
            else:
                raise ConfigError(f"inflora state: unexpected key {key!r}; expected memory/<t> or complement/<t>")
        if set(memory) != set(complement):
            raise ConfigError(f"inflora state: memory and complement flags name different targets: "
                              f"{sorted(set(memory) ^ set(complement))[:3]}")
        unknown = sorted(set(memory) - set(bank.targets))
        if unknown:
            raise ConfigError(f"inflora state holds memories of targets {unknown[:3]} that this model does not have")
        self.memory, self.complement = memory, complement
