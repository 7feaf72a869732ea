"""The LiteLoRA gate, v2 (``litelora-v2``): before a task trains, test per module whether the task asks something
of it that the head and the old adapters cannot give; recruit a new adapter only there.

For a gated task of ``S`` training steps:

1. *Probe* (``p = round(gate.params.probe * S)`` rehearsal steps, at least 4, before the task's own
   steps and undone afterwards): the candidates are held out (frozen, coefficient 0), so the
   model is exactly what closing every gate would leave, and the head (and any reuse path)
   trains. Over the second half of the probe, once the head has adapted, a
   :class:`GradientProbe` measures per module the *need*: the consistent share of the task's
   weight gradient outside the span of the module's old adapters (minibatch noise cancels,
   what an update inside the old span could give is projected out). The task's *unsolved*
   share is its loss over that window divided by its loss over the first steps, in [0, 1].
2. *Decide*: a module scores need x unsolved, "the share of what is left of the task that
   points consistently at what only a new adapter here can give". Recruit where the score
   exceeds ``gate.params.novelty``, or the top ``gate.budget`` fraction of groups by score. Closed
   candidates are deleted before the optimizer exists; recruited ones train every step of
   the task, as in the host.
3. *Train*: the task's steps run on the fixed structure.

Nothing is sampled and the probe restores parameters, buffers and random generators, so a run
draws the same random numbers as its host and, with every group recruited, equals it; the
decision reads the data and the threshold, not a learning rate times a number of steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from litelora.errors import ConfigError
from litelora.gates.base import GatePlugin, group_targets, top_fraction
from litelora.gates.probe_run import DEFAULT_PROBE, check_probe, run_probe
from litelora.gates.probe_run import probe_steps as _probe_steps
from litelora.context import TaskContext


@dataclass
class LiteLoRAV2Params:
    """Settings of the ``litelora-v2`` gate.

    probe: length of the probe that runs before a gated task (candidates held out, the head
        trains, the need is measured; then everything is undone), as a fraction of the task's
        training steps (at least 4 steps), in (0, 1].
    novelty: recruit where the module's score (need x unsolved, in [0, 1]) exceeds it, in [0, 1)
        (ignored with ``gate.budget``); higher recruits fewer.
    """

    probe: float = DEFAULT_PROBE
    novelty: float = 0.2

    def __post_init__(self) -> None:
        check_probe(self.probe)
        if not 0.0 <= self.novelty < 1.0:
            raise ConfigError(f"gate.params.novelty must be in [0, 1) (the score a module must exceed), "
                              f"got {self.novelty}")


class LiteLoRAGate(GatePlugin):
    """Probe with the candidates held out, then recruit where the task still needs them (v2: a
    candidate is kept at full rank or removed)."""

    Params = LiteLoRAV2Params

    @property
    def forced_open(self) -> bool:
        """``gate.budget=1``: every group recruits, so the gate does nothing at all."""
        return self.config.budget is not None and self.config.budget >= 1.0

    def probe_steps(self, task_steps: int) -> int:
        """Length of the probe: ``gate.params.probe`` of the task's steps, at least 4."""
        return _probe_steps(self.params.probe, task_steps)

    def before_task(self, ctx: TaskContext) -> list[dict[str, Any]]:
        candidates = ctx.bank.candidates(ctx.task_id)
        if not self.gated(ctx) or self.forced_open:
            self.record_all_open(ctx)
            return []
        groups = group_targets(list(candidates), self.config.group)
        reuse = self.attach_reuse(ctx, list(candidates))
        scores = self.measure(ctx, candidates)
        group_scores = [sum(scores[t]["score"] for t in ts) / len(ts) for ts in groups.values()]
        if self.config.budget is not None:
            recruit = top_fraction(group_scores, self.config.budget)
        else:
            recruit = [s > self.params.novelty for s in group_scores]
        ranks = {t: candidates[t].r if recruit[g] else 0 for g, ts in enumerate(groups.values()) for t in ts}
        self.apply_ranks(ctx, groups, ranks, {t: scores[t]["score"] for t in candidates}, scores)
        reuse = [p for p in reuse if p.requires_grad]
        if not reuse:
            return []
        return [{"params": reuse, "lr": self.reuse_lr, "weight_decay": 0.0, "name": "reuse"}]

    @torch.no_grad()
    def measure(self, ctx: TaskContext, candidates: dict[str, Any]) -> dict[str, dict[str, float]]:
        """Run the probe; target -> {need, unsolved, score}. Leaves the model as it found it."""
        reading = run_probe(ctx, candidates, self.probe_steps(ctx.steps))
        unsolved = reading.progress
        return {t: {"need": v, "unsolved": unsolved, "score": v * unsolved} for t, v in reading.needs.items()}
