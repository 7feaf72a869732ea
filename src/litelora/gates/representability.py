"""The training-free gate: train the candidate fully, then drop it where the earlier
adapters already represent its update (SD-LoRA-KD generalised to every host)."""

from __future__ import annotations

import torch

from dataclasses import dataclass

from litelora.adapters import CoreReuse, ScaleReuse, span_bases
from litelora.adapters.layer import LoraAdapter
from litelora.adapters.subspace import frobenius_inner, project_onto_span, representability
from litelora.gates.base import GatePlugin, earlier_adapters, reuse_name, top_fraction
from litelora.context import TaskContext
from litelora.errors import ConfigError


@dataclass
class RepresentabilityParams:
    """Settings of the ``representability`` gate.

    tau: keep a candidate whose representability residual reaches it (SD-LoRA-KD uses 9e-4), >= 0.
    """

    tau: float = 9e-4

    def __post_init__(self) -> None:
        if self.tau < 0:
            raise ConfigError(f"gate.params.tau must be >= 0, got {self.tau}")


class RepresentabilityGate(GatePlugin):
    """After training: residual < ``tau`` -> delete the candidate and fold it into reuse.

    With ``budget``, the threshold is relative instead: per task, the ``budget`` fraction of
    candidates with the largest residuals (the least representable) are kept and the rest are
    folded, so the adapter count can be matched to another gate's.
    """

    Params = RepresentabilityParams

    @torch.no_grad()
    def after_training(self, ctx: TaskContext) -> None:
        bank, task = ctx.bank, ctx.task_id
        gated = self.gated(ctx)
        scored = []
        for target, cand in bank.candidates(task).items():
            slot = bank.slot(target)
            olds = earlier_adapters(bank, target, task)
            if not gated or not olds:
                self.record(bank, task, target, group=target, value=1.0, rank=cand.r, full_rank=cand.r,
                            full_params=cand.num_parameters())
                continue
            coef = slot.effective_magnitudes()[[n for n, a in slot.adapters.items() if a is cand][0]] * cand.scale
            new = (cand.lora_B * coef, cand.lora_A)
            old_pairs = [(a.lora_B * (a.magnitude * a.scale), a.lora_A) for _, a in olds]  # type: ignore[union-attr]
            residual, beta = representability(old_pairs, new)
            scored.append((target, cand, slot, olds, coef, beta, new, float(residual)))
        keep = self._keep([s[-1] for s in scored])
        for (target, cand, slot, olds, coef, beta, new, residual), kept in zip(scored, keep):
            if not kept:
                self._fold(slot, task, olds, cand, coef, beta, new)
                bank.remove_candidate(target, task)
            self.record(bank, task, target, group=target, value=residual, rank=cand.r if kept else 0,
                        full_rank=cand.r, full_params=cand.num_parameters())

    def _keep(self, residuals: list[float]) -> list[bool]:
        """Recruit where the residual reaches ``tau``, or the top ``budget`` fraction by residual."""
        if self.config.budget is None:
            return [r >= self.params.tau for r in residuals]
        return top_fraction(residuals, self.config.budget)

    def _fold(self, slot, task: int, olds, cand: LoraAdapter, coef, beta, new) -> None:  # noqa: ANN001
        names = [n for n, _ in olds]
        if self.config.reuse == "scale":
            # beta weighs unit directions D_i = sign(m_i) B_i A_i / ||B_i A_i||; convert each to a
            # magnitude delta of its adapter, whose update is m_i s_i B_i A_i.
            norm_new = frobenius_inner(*new, *new).sqrt()
            module = ScaleReuse(names, like=olds[0][1].magnitude)
            for i, (_, a) in enumerate(olds):
                norm_i = frobenius_inner(a.lora_B, a.lora_A, a.lora_B, a.lora_A).sqrt()
                delta = beta[i] * norm_new * torch.sign(a.magnitude.detach()) / (a.scale * norm_i)
                module.coeffs[i] = delta.to(module.coeffs.dtype)
        elif self.config.reuse == "core":
            U, V = span_bases([a.lora_A for _, a in olds], [a.lora_B for _, a in olds])
            module = CoreReuse(names, U, V)
            module.core.copy_(project_onto_span(U, V, cand.lora_B * coef, cand.lora_A))
        else:
            return
        module.requires_grad_(False)
        slot.reuse[reuse_name(task)] = module
