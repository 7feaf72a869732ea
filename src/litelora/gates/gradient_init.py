"""Gradient initialisation: start each candidate in the task's novel subspace.

A candidate's A rows become the leading input-side directions of the task's consistent gradient
outside the earlier adapters' span (:mod:`litelora.gates.spectrum`), at Kaiming's expected row
norm; B = 0, so the model is unchanged at the start of the task and merges and exports stay
exact. The directions come from a probe (:func:`~litelora.gates.probe_run.run_probe`) that leaves
the model and the random generators as it found them, so a run with gradient initialisation
draws the same random numbers as one without.
"""

from __future__ import annotations

from litelora.adapters import LoraAdapter
from litelora.context import TaskContext
from litelora.gates.probe_run import DEFAULT_PROBE, ProbeReading, probe_steps, run_probe
from litelora.gates.spectrum import Spectrum, init_from_directions


def wants_gradient_init(ctx: TaskContext) -> bool:
    """``adapter.init_lora_weights == "gradient"`` for this run's bank."""
    return ctx.bank.config.init_lora_weights == "gradient"


def init_candidates(candidates: dict[str, LoraAdapter], spectra: dict[str, Spectrum]) -> None:
    """Set every candidate's A from its target's directions (all r rows where available), B = 0."""
    for target, adapter in candidates.items():
        init_from_directions(adapter.lora_A, adapter.lora_B, spectra[target].directions)


def gradient_init(ctx: TaskContext, probe: float = DEFAULT_PROBE) -> ProbeReading:
    """Probe the task (``probe`` of its steps) and initialise every candidate of ``ctx.task_id``
    from it; returns the reading."""
    candidates = ctx.bank.candidates(ctx.task_id)
    reading = run_probe(ctx, candidates, probe_steps(probe, ctx.steps), spectrum=True)
    init_candidates(candidates, reading.spectra)
    return reading
