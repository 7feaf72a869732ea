"""One probe: a rehearsal of the task with its candidates held out, measuring per module what the
task still asks outside the old adapters' span (and, on request, in which directions and how far
the old adapters carry the task). Shared by the LiteLoRA gates and gradient initialisation."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
import torch.distributed as dist
from torch.utils.hooks import RemovableHandle

from litelora.adapters import AdapterBank, LoraAdapter, span_bases
from litelora.adapters.subspace import outside_directions
from litelora.context import TaskContext
from litelora.errors import ConfigError, NonFiniteError
from litelora.gates.base import earlier_adapters
from litelora.gates.probe import GradientProbe
from litelora.gates.spectrum import Spectrum, novel_spectrum

MIN_PROBE_STEPS = 4
# The probe's default length, a fraction of the task's steps: the gates' and gradient
# initialisation's alike, so a gate forced open (gate.budget=1) and the host with gradient
# initialisation are the same run. (A recruit the gate decides starts from the directions it
# measured, by gate.reuse: under frozen reuse the whole gradient's, not those outside the old span.)
DEFAULT_PROBE = 0.3


@dataclass
class ProbeReading:
    """What a probe measured.

    needs: target -> consistent novel share of the gradient, in [0, 1] (``probe.need``).
    progress: the probe's loss over its measurement window divided by its loss over its first
        steps, in [0, 1] (how much is left after what trains during the probe learned).
    closed_loss, base_loss: mean task loss over the measurement window with the candidates held
        out, and with every adapter disabled (``None`` unless a base reading was asked for).
    spectra: target -> the novel gradient's demands and directions (``spectrum=True`` only).
    """

    needs: dict[str, float]
    progress: float
    closed_loss: float
    base_loss: float | None = None
    spectra: dict[str, Spectrum] = field(default_factory=dict)

    @property
    def carried(self) -> float | None:
        """``closed_loss / base_loss`` clamped to [0, 1]: the share of the base model's loss that
        the old adapters leave (near 0: they already solve the task; 1: they add nothing)."""
        if self.base_loss is None:
            return None
        if self.base_loss <= 1e-12:
            return 0.0 if self.closed_loss <= self.base_loss else 1.0
        return min(1.0, max(0.0, self.closed_loss / self.base_loss))


def check_probe(fraction: float) -> None:
    """``gate.params.probe`` is a fraction of a task's training steps, in (0, 1]."""
    if not 0.0 < fraction <= 1.0:
        raise ConfigError(f"gate.params.probe must be in (0, 1] (fraction of a task's training steps), got {fraction}")


def probe_steps(fraction: float, task_steps: int) -> int:
    """Length of a probe: ``fraction`` of the task's steps, at least ``MIN_PROBE_STEPS``."""
    return max(MIN_PROBE_STEPS, round(fraction * task_steps))


Span = Literal["core", "scale", "none"]


def old_span(bank: AdapterBank, target: str, task_id: int) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Orthonormal bases (U, V) of the column and row spans of a target's earlier adapters."""
    olds = [a for _, a in earlier_adapters(bank, target, task_id)]
    if not olds:
        return None
    return span_bases([a.lora_A for a in olds], [a.lora_B for a in olds])


def old_directions(bank: AdapterBank, target: str, task_id: int) -> torch.Tensor:
    """Each earlier adapter's dense update ``B A`` (k, d_out, d_in), float32: what ``scale`` reuse rescales."""
    slot = bank.slot(target)
    olds = [a for _, a in earlier_adapters(bank, target, task_id)]
    if not olds:
        return torch.zeros(0, slot.out_features, slot.in_features)
    return torch.stack([(a.lora_B.detach().float() @ a.lora_A.detach().float()) for a in olds])


class _Sensor:
    """Keeps every probed slot's output in the graph (adding an exact zero) even where nothing
    upstream trains, so the probe's hooks see the slot's output gradient."""

    def __init__(self) -> None:
        self.zero = torch.nn.Parameter(torch.zeros(()))

    def __call__(self, module: torch.nn.Module, args: tuple[Any, ...], output: torch.Tensor | None) -> Any:
        if output is None or output.requires_grad or not torch.is_grad_enabled():
            return None
        return output + self.zero.to(output.device, output.dtype)


@contextmanager
def held_out(bank: AdapterBank, task_id: int, candidates: dict[str, LoraAdapter]) -> Iterator[None]:
    """The model exactly as closing every candidate would leave it (coefficient 0, frozen), restored
    on the way out."""
    held = {t: [p for p in (a.lora_A, a.lora_B) if p.requires_grad] for t, a in candidates.items()}
    for target in candidates:
        for p in held[target]:
            p.requires_grad_(False)
        bank.set_coefficient(target, task_id, _zero)
    try:
        yield
    finally:
        for target in candidates:
            for p in held[target]:
                p.requires_grad_(True)
            bank.set_coefficient(target, task_id, None)


def _zero() -> torch.Tensor:
    return torch.zeros(())


def _fit_out(directions: torch.Tensor):  # noqa: ANN202 - a closure over one target's directions
    return lambda G: outside_directions(G, directions.to(G.device))


@torch.no_grad()
def run_probe(ctx: TaskContext, candidates: dict[str, LoraAdapter], steps: int, *, spectrum: bool = False,
              base_reading: bool = False, span: Span = "core", keep: bool = False) -> ProbeReading:
    """Rehearse ``steps`` steps with the candidates held out (the head and any reuse path train),
    measuring over the second half; with ``base_reading``, first rehearse with every adapter
    disabled for the base model's loss over the same window. Leaves the model as it found it, or,
    with ``keep``, with what trained during the probe kept (the probe's steps count as the task's).

    ``span``: what counts as novel, by what a closed module could still give: ``core`` (an update
    ``U C V^T`` inside the old adapters' spans, projected out), ``scale`` (a rescaling of each old
    adapter, fitted out) or ``none`` (frozen reuse gives nothing: the whole gradient counts)."""
    if ctx.rehearse is None:
        raise ConfigError("a LiteLoRA probe needs a trainer that can rehearse a task (TaskContext.rehearse)")
    bank = ctx.bank
    spans = {t: old_span(bank, t, ctx.task_id) if span == "core" else None for t in candidates}
    novel = None
    if span == "scale":
        novel = {t: _fit_out(old_directions(bank, t, ctx.task_id)) for t in candidates}
    probe = GradientProbe(bank, list(candidates), spans, spectrum=spectrum, novel=novel)
    measure_after = steps - max(2, (steps + 1) // 2)  # the second half: early gradients say
    first = max(1, steps // 4)                        # what a random head wants, not the task
    losses = [0.0] * 6  # first-steps sum, count; window sum, count; base window sum, count
    sensor = _Sensor()
    sensors: list[RemovableHandle] = []

    def measure() -> None:
        # Hooks, and the sensors that pull every probed slot into the backward pass, only over the
        # window: before it a step backpropagates only into what trains (the head), or not at all.
        sensors.extend(bank.slot(t).register_forward_hook(sensor) for t in candidates)
        probe.attach()

    def check(step: int, loss: float) -> None:
        # A diverged probe would read as a decision (a NaN loss clamps to "nothing left to learn").
        if not math.isfinite(loss):
            raise NonFiniteError(f"non-finite loss ({loss}) at task {ctx.task_id}, step {step} of the gate's probe; "
                                 "lower train.lr or train.head_lr, or check the data, then resume")

    def add(at: int, loss: float) -> None:  # a window's loss sum at ``at``, its step count next to it
        losses[at] += loss
        losses[at + 1] += 1

    def on_step(step: int, loss: float) -> None:
        check(step, loss)
        if step <= first:
            add(0, loss)
        if step > measure_after:
            add(2, loss)
        if step == measure_after:
            measure()

    def on_base_step(step: int, loss: float) -> None:
        check(step, loss)
        if step > measure_after:
            add(4, loss)

    with held_out(bank, ctx.task_id, candidates):
        if base_reading:  # first: the probe may keep what it trains, the base reading never does
            with bank.disable_adapters(), torch.enable_grad():
                ctx.rehearse(steps, on_base_step)
        if measure_after < 1:
            measure()
        try:
            with torch.enable_grad():
                # A rehearse_fn written before ``keep`` existed takes two arguments: pass it only when asked.
                if keep:
                    ctx.rehearse(steps, on_step, keep=True)
                else:
                    ctx.rehearse(steps, on_step)
        finally:
            probe.detach()
            for handle in sensors:
                handle.remove()
    probe.all_reduce()
    if dist.is_available() and dist.is_initialized():
        # On the probed layers' device, as the probe's own sums: an NCCL group reduces CUDA tensors only.
        device = bank.layer(next(iter(candidates))).base_layer.weight.device if candidates else None
        summed = torch.tensor(losses, dtype=torch.float64, device=device)
        dist.all_reduce(summed)
        losses = summed.tolist()
    start, n_start, end, n_end, base, n_base = losses
    progress = 1.0 if min(n_start, n_end) == 0 or start <= 0 else min(1.0, max(0.0, (end / n_end) / (start / n_start)))
    closed = end / n_end if n_end else 0.0
    spectra = {}
    if spectrum:
        for t in candidates:
            T, _, n = probe.stats[t].tolist()
            spectra[t] = novel_spectrum(probe.sums[t], probe.grams[t], T, int(n))
    return ProbeReading(needs={t: probe.need(t) for t in candidates}, progress=progress, closed_loss=closed,
                        base_loss=(base / n_base if n_base else None) if base_reading else None, spectra=spectra)
