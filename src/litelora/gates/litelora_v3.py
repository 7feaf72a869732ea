"""The LiteLoRA gate, v3 (``litelora-v3``): per module, the rank a task's new adapter needs, in the
task's novel subspace; rank 0 = reuse the old adapters.

For a gated task of ``S`` training steps:

1. *Probe* (``round(gate.params.probe * S)`` rehearsal steps, at least 4, undone afterwards
   unless ``gate.params.probe_counts``, where they are the task's first steps):
   the candidates are held out, so the model is what closing every module would leave; the head
   and any reuse path train. Over the probe's second half a
   :class:`~litelora.gates.probe.GradientProbe` keeps per module, batch by batch, the part of the
   task's gradient that what a closed module keeps cannot give: with ``gate.reuse: core`` the part
   outside the old adapters' spans, with ``scale`` what rescaling each old adapter cannot fit, with
   ``frozen`` (the default: a closed module changes nothing) the whole gradient. The old adapters
   then enter through step 2.
2. *Carried*: how far the old adapters already carry the task. By default (``unsolved:
   carried``) the probe's loss over its window is divided by the loss of the base model (every
   adapter disabled, the head trained the same way) over the same window: near 0 when the old
   adapters solve the task, 1 when they add nothing. This reads the same with or without a head,
   where v2's "late over early loss" reads 1 whenever nothing trains during the probe. With
   ``unsolved: chance`` the probe's loss is divided by ``ln K`` instead (no base reading): how
   much of the task the closed model leaves, on the scale where a uniform guess is 1.
3. *Demand per direction*: the consistent novel gradient's spectrum
   (:mod:`litelora.gates.spectrum`): direction ``i`` of a module demands the share ``d_i`` of a
   batch's gradient energy that points along it, every batch alike, outside the old span.
4. *Rank*: a direction is recruited where ``d_i x unsolved > gate.params.novelty``; a module's
   rank is the number of its recruited directions (at most the host's ``r``), filled largest
   demand first under ``gate.params.param_budget`` (a fraction of the parameters the host would
   add for the task). With ``gate.budget`` the top fraction of groups by ``need x unsolved``
   recruit (at their spectral rank, at least 1). ``gate.params.min_rank`` raises that floor
   (``adapter.r``: the demands decide where, every recruit is full rank). Rank 0 removes the
   candidate; a smaller rank keeps its first directions (``AdapterBank.resize_candidate``).
5. *Train*: the task's steps run on the sized structure. With ``adapter.init_lora_weights:
   gradient`` each recruit starts from its module's leading novel directions (B = 0).

The probe restores parameters, buffers and random generators, so a run draws the same random
numbers as its host; nothing is sampled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal


from litelora.adapters.config import check_rank
from litelora.context import TaskContext
from litelora.errors import ConfigError
from litelora.gates.config import GateConfig
from litelora.gates.base import GatePlugin, group_targets, top_fraction
from litelora.gates.gradient_init import init_candidates, wants_gradient_init
from litelora.gates.probe_run import DEFAULT_PROBE, ProbeReading, check_probe, probe_steps, run_probe
from litelora.gates.spectrum import Spectrum, allocate_ranks


@dataclass
class LiteLoRAV3Params:
    """Settings of the ``litelora-v3`` gate.

    probe: length of the probe before a gated task, as a fraction of the task's training steps
        (at least 4 steps), in (0, 1].
    novelty: a direction of a module's novel gradient is recruited where its demand (its share of
        a batch's gradient energy, consistent across batches, outside the old span) times the
        task's unsolved share exceeds it, in [0, 1); higher recruits fewer and smaller adapters.
    param_budget: at most this fraction of the adapter parameters the host would add for the
        task, filled largest demand first, in (0, 1]; ``null``: no cap beyond ``novelty``. It caps
        module by module, so it needs ``gate.group: module`` and no ``gate.budget``.
    unsolved: how the task's unsolved share is read: ``carried`` (the probe's loss over the base
        model's, every adapter disabled), ``chance`` (the probe's loss over a chance-level loss,
        ``ln K`` for a task of K classes; no base reading), ``progress`` (v2's late over early
        probe loss) or ``none`` (1: the demands alone decide).
    probe_counts: keep what trained during the probe (the head, reuse paths) and count the probe's
        steps as the task's first, so the task trains the rest: a gated task then costs about
        what the host's does (plus the base reading), and its recruits train ``probe`` fewer
        steps. ``false`` (the default): the probe is undone and the task trains all its steps.
    min_rank: the least rank of a recruit (capped at the module's ``adapter.r``), >= 1; the
        demands then decide only where to recruit, not how much: ``adapter.r`` recruits every
        chosen module at full rank. Not with ``param_budget``, which a raised floor could exceed.
    """

    probe: float = DEFAULT_PROBE
    novelty: float = 0.1
    param_budget: float | None = None
    unsolved: Literal["carried", "chance", "progress", "none"] = "carried"
    probe_counts: bool = False
    min_rank: int = 1

    def __post_init__(self) -> None:
        check_probe(self.probe)
        if self.probe_counts and self.probe >= 1.0:
            raise ConfigError("gate.params.probe_counts=true with gate.params.probe=1 leaves the recruits no steps "
                              "of their own: set probe below 1")
        check_rank("gate.params.min_rank", self.min_rank)
        if self.min_rank > 1 and self.param_budget is not None:
            raise ConfigError("gate.params.min_rank > 1 can exceed gate.params.param_budget: set one of them "
                              "(min_rank: 1, or param_budget: null)")
        if not 0.0 <= self.novelty < 1.0:
            raise ConfigError(f"gate.params.novelty must be in [0, 1) (a direction's demand to recruit it), "
                              f"got {self.novelty}")
        if self.param_budget is not None and not 0.0 < self.param_budget <= 1.0:
            raise ConfigError(f"gate.params.param_budget must be in (0, 1] (fraction of the host's parameters "
                              f"for the task) or null, got {self.param_budget}")


# What a closed module keeps decides what counts as novel: only what its reuse path cannot give.
REUSE_SPAN = {"frozen": "none", "scale": "scale", "core": "core"}


class LiteLoRAV3Gate(GatePlugin):
    """Probe with the candidates held out, then size each module's recruit from its novel demand."""

    Params = LiteLoRAV3Params
    initialises_candidates = True  # with adapter.init_lora_weights=gradient it sets A from its own probe

    def __init__(self, config: GateConfig, num_tasks: int, seed: int = 0, adapter_lr: float = 1e-3) -> None:
        super().__init__(config, num_tasks, seed=seed, adapter_lr=adapter_lr)
        # The cap is filled module by module; a group chosen as a whole (by gate.budget, or any
        # module of a layer or task) gets rank >= 1 in every module afterwards, past the cap.
        if self.params.param_budget is not None and (config.budget is not None or config.group != "module"):
            raise ConfigError("gate.params.param_budget caps parameters module by module, so it needs "
                              f"gate.group=module and no gate.budget (got group={config.group!r}, "
                              f"budget={config.budget}): set one of the two budgets")

    @property
    def forced_open(self) -> bool:
        """``gate.budget=1``: every group recruits at full rank; the gate changes nothing."""
        return self.config.budget is not None and self.config.budget >= 1.0

    def before_task(self, ctx: TaskContext) -> list[dict[str, Any]]:
        candidates = ctx.bank.candidates(ctx.task_id)
        steps = probe_steps(self.params.probe, ctx.steps)
        if not self.gated(ctx) or self.forced_open:
            if wants_gradient_init(ctx):
                init_candidates(candidates, run_probe(ctx, candidates, steps, spectrum=True).spectra)
            self.record_all_open(ctx)
            return []
        # ln K, read before the probe so that a task of unknown classes fails before any work
        chance = _chance_loss(ctx) if self.params.unsolved == "chance" else None
        groups = group_targets(list(candidates), self.config.group)
        reuse = self.attach_reuse(ctx, list(candidates))
        reading = run_probe(ctx, candidates, steps, spectrum=True, base_reading=self.params.unsolved == "carried",
                            span=REUSE_SPAN[self.config.reuse], keep=self.params.probe_counts)
        if self.params.probe_counts:
            ctx.consumed = steps
        unsolved = self.unsolved(reading, chance)
        ranks, directions = self.ranks(candidates, groups, reading, unsolved)
        if wants_gradient_init(ctx):
            init_candidates({t: a for t, a in candidates.items() if ranks[t] > 0}, reading.spectra)
        scores = {t: {"need": reading.needs[t], "unsolved": unsolved, "score": reading.needs[t] * unsolved,
                      "demand_1": _top(reading.spectra[t]), "directions": float(directions[t])}
                  for t in candidates}
        losses = {"closed_loss": reading.closed_loss}
        if reading.base_loss is not None:
            losses["base_loss"] = reading.base_loss
        if chance is not None:
            losses["chance_loss"] = chance
        for row in scores.values():
            row.update(losses)
        self.apply_ranks(ctx, groups, ranks, {t: scores[t]["score"] for t in candidates}, scores)
        reuse = [p for p in reuse if p.requires_grad]
        if not reuse:
            return []
        return [{"params": reuse, "lr": self.reuse_lr, "weight_decay": 0.0, "name": "reuse"}]

    def unsolved(self, reading: ProbeReading, chance_loss: float | None = None) -> float:
        """The task's unsolved share, in [0, 1], as ``gate.params.unsolved`` reads it
        (``chance_loss``: ``ln K`` where it reads ``chance``, else ``None``)."""
        if chance_loss is not None:
            # clamped at 0 too: an own loop's loss may be negative, which would flip every demand
            return min(1.0, max(0.0, reading.closed_loss / chance_loss))
        if self.params.unsolved == "carried":
            carried = reading.carried
            return 1.0 if carried is None else carried
        return reading.progress if self.params.unsolved == "progress" else 1.0

    def ranks(self, candidates: dict[str, Any], groups: dict[str, list[str]], reading: ProbeReading,
              unsolved: float) -> tuple[dict[str, int], dict[str, int]]:
        """(rank per target, eligible directions per target before any budget)."""
        spectra = {t: Spectrum(reading.spectra[t].demands * unsolved, reading.spectra[t].directions)
                   for t in candidates}
        max_ranks = {t: candidates[t].r for t in candidates}
        costs = {t: candidates[t].lora_A.shape[1] + candidates[t].lora_B.shape[0] for t in candidates}
        directions = allocate_ranks(spectra, max_ranks, costs, self.params.novelty)
        budget = None
        if self.params.param_budget is not None:
            host = sum(candidates[t].num_parameters() for t in candidates)
            budget = int(self.params.param_budget * host)
        ranks = allocate_ranks(spectra, max_ranks, costs, self.params.novelty, budget) if budget is not None \
            else dict(directions)
        names = list(groups)
        if self.config.budget is not None:
            group_scores = [sum(reading.needs[t] for t in ts) * unsolved / len(ts) for ts in groups.values()]
            chosen = {names[g] for g, keep in enumerate(top_fraction(group_scores, self.config.budget)) if keep}
        else:
            chosen = {name for name, ts in groups.items() if any(ranks[t] > 0 for t in ts)}
        for name, targets in groups.items():
            for t in targets:
                ranks[t] = max(min(self.params.min_rank, max_ranks[t]), ranks[t]) if name in chosen else 0
        return ranks, directions


def _chance_loss(ctx: TaskContext) -> float:
    """``ln K``: the cross-entropy of a uniform guess among the task's K classes (nats)."""
    if ctx.num_classes is None:
        raise ConfigError("gate.params.unsolved=chance needs the task's number of classes: `litelora train` passes it; "
                          "an own loop passes LiteLoRA.start_task(..., num_classes=K), LiteLoRATrainer and "
                          "LiteLoRACallback take num_classes=K; or set gate.params.unsolved=carried")
    return math.log(ctx.num_classes)


def _top(spectrum: Spectrum) -> float:
    return float(spectrum.demands[0]) if spectrum.demands.numel() else 0.0


__all__ = ["LiteLoRAV3Gate", "LiteLoRAV3Params"]
