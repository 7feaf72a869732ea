"""The LiteLoRA gate: before a task trains, test per module whether the task asks something
of it that the head and the old adapters cannot give; recruit a new adapter only there.

For a gated task of ``S`` training steps:

1. *Probe* (``p = round(gate.probe * S)`` rehearsal steps, at least 4, before the task's own
   steps and undone afterwards): the candidates are held out (frozen, coefficient 0), so the
   model is exactly what closing every gate would leave, and the head (and any reuse path)
   trains. Over the second half of the probe, once the head has adapted, a
   :class:`GradientProbe` measures per module the *need*: the consistent share of the task's
   weight gradient outside the span of the module's old adapters (minibatch noise cancels,
   what an update inside the old span could give is projected out). The task's *unsolved*
   share is its loss over that window divided by its loss over the first steps, in [0, 1].
2. *Decide*: a module scores need x unsolved, "the share of what is left of the task that
   points consistently at what only a new adapter here can give". Recruit where the score
   exceeds ``gate.novelty``, or the top ``gate.budget`` fraction of groups by score. Closed
   candidates are deleted before the optimizer exists; recruited ones train every step of
   the task, as in the host.
3. *Train*: the task's steps run on the fixed structure.

Nothing is sampled and the probe restores parameters, buffers and random generators, so a run
draws the same random numbers as its host and, with every group recruited, equals it; the
decision reads the data and the threshold, not a learning rate times a number of steps.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist

from litelora.adapters import AdapterBank, span_bases
from litelora.errors import ConfigError
from litelora.gates.base import GatePlugin, drop_reuse, earlier_adapters, group_targets, top_fraction
from litelora.gates.config import GateConfig
from litelora.gates.probe import GradientProbe
from litelora.context import TaskContext

MIN_PROBE_STEPS = 4


class LiteLoRAGate(GatePlugin):
    """Probe with the candidates held out, then recruit where the task still needs them."""

    settings = frozenset({"probe", "novelty"})

    def __init__(self, config: GateConfig, num_tasks: int, seed: int = 0, adapter_lr: float = 1e-3) -> None:
        super().__init__(config, num_tasks, seed=seed, adapter_lr=adapter_lr)
        self._sensor = torch.nn.Parameter(torch.zeros(()))

    @property
    def forced_open(self) -> bool:
        """``gate.budget=1``: every group recruits, so the gate does nothing at all."""
        return self.config.budget is not None and self.config.budget >= 1.0

    def probe_steps(self, task_steps: int) -> int:
        """Length of the probe: ``gate.probe`` of the task's steps, at least ``MIN_PROBE_STEPS``."""
        return max(MIN_PROBE_STEPS, round(self.config.probe * task_steps))

    def before_task(self, ctx: TaskContext) -> list[dict[str, Any]]:
        candidates = ctx.bank.candidates(ctx.task_id)
        if not self.gated(ctx) or self.forced_open:
            for target, adapter in candidates.items():
                self.record(ctx.task_id, target, target, 1.0, True, adapter, ctx.bank)
            return []
        if ctx.rehearse is None:
            raise ConfigError("gate.kind='litelora' needs a trainer that can rehearse a task (TaskContext.rehearse)")
        groups = group_targets(list(candidates), self.config.group)
        reuse = self.attach_reuse(ctx.bank, ctx.task_id, list(candidates))
        scores = self.measure(ctx, candidates)
        group_scores = [sum(scores[t]["score"] for t in ts) / len(ts) for ts in groups.values()]
        if self.config.budget is not None:
            recruit = top_fraction(group_scores, self.config.budget)
        else:
            recruit = [s > self.config.novelty for s in group_scores]
        for g, (name, targets) in enumerate(groups.items()):
            for target in targets:
                if recruit[g]:
                    drop_reuse(ctx.bank, target, ctx.task_id)
                else:
                    ctx.bank.remove_candidate(target, ctx.task_id)
                self.record(ctx.task_id, target, name, scores[target]["score"], recruit[g], candidates[target],
                            ctx.bank, **scores[target])
        reuse = [p for p in reuse if p.requires_grad]
        if not reuse:
            return []
        return [{"params": reuse, "lr": self.reuse_lr, "weight_decay": 0.0, "name": "reuse"}]

    @torch.no_grad()
    def measure(self, ctx: TaskContext, candidates: dict[str, Any]) -> dict[str, dict[str, float]]:
        """Run the probe; target -> {need, unsolved, score}. Leaves the model as it found it."""
        assert ctx.rehearse is not None
        spans = {t: _old_span(ctx.bank, t, ctx.task_id) for t in candidates}
        probe = GradientProbe(ctx.bank, list(candidates), spans)
        held = {t: [p for p in (a.lora_A, a.lora_B) if p.requires_grad] for t, a in candidates.items()}
        steps = self.probe_steps(ctx.steps)
        measure_after = steps - max(2, (steps + 1) // 2)  # the second half: early gradients say
        first = max(1, steps // 4)                        # what a random head wants, not the task
        losses = torch.zeros(4, dtype=torch.float64)  # first-steps sum, count; window sum, count

        def on_step(step: int, loss: float) -> None:
            if step <= first:
                losses[:2] += torch.tensor([loss, 1.0], dtype=torch.float64)
            if step > measure_after:
                losses[2:] += torch.tensor([loss, 1.0], dtype=torch.float64)
            if step == measure_after:
                probe.reset()

        sensors = [ctx.bank.slot(t).register_forward_hook(self._sense) for t in candidates]
        for target in candidates:
            for p in held[target]:
                p.requires_grad_(False)
            ctx.bank.set_coefficient(target, ctx.task_id, _zero)
        probe.attach()
        try:
            with torch.enable_grad():
                ctx.rehearse(steps, on_step)
        finally:
            probe.detach()
            for handle in sensors:
                handle.remove()
            self._sensor.grad = None
            for target in candidates:
                for p in held[target]:
                    p.requires_grad_(True)
                ctx.bank.set_coefficient(target, ctx.task_id, None)
        probe.all_reduce()
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(losses)
        start, n_start, end, n_end = losses.tolist()
        unsolved = 1.0 if min(n_start, n_end) == 0 or start <= 0 else min(1.0, max(0.0, (end / n_end) / (start / n_start)))
        needs = {t: probe.need(t) for t in candidates}
        return {t: {"need": v, "unsolved": unsolved, "score": v * unsolved} for t, v in needs.items()}

    def _sense(self, module: torch.nn.Module, args: tuple[Any, ...], output: torch.Tensor | None) -> Any:
        """Keep every probed slot's output in the graph (adding an exact zero) even where nothing
        upstream trains, so the probe sees its gradient."""
        if output is None or output.requires_grad or not torch.is_grad_enabled():
            return None
        return output + self._sensor.to(output.device, output.dtype)


def _zero() -> torch.Tensor:
    return torch.zeros(())


def _old_span(bank: AdapterBank, target: str, task_id: int) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Orthonormal bases (U, V) of the column and row spans of a target's earlier adapters."""
    olds = [a for _, a in earlier_adapters(bank, target, task_id)]
    if not olds:
        return None
    return span_bases([a.lora_A for a in olds], [a.lora_B for a in olds])  # type: ignore[union-attr]
