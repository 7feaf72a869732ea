"""GradientProbe: what a task still asks of each target module, from hooks, per batch.

For a slot with input rows ``x`` (tokens, d_in) and output gradient ``delta = dL/dy``
(tokens, d_out), the gradient of the batch loss with respect to a dense update of the slot's
weight is ``G_b = delta^T x``. The probe never touches the forward pass (a run with it
attached computes exactly what it computes without it); tokens the loss never reads
(padding) have ``delta = 0`` and add nothing. Per target it keeps, over the batches it sees:

- ``S = sum_b N(G_b)``, with ``N(G) = G - U U^T G V V^T`` the part of the gradient outside
  the span of the module's older adapters (no reuse update ``U C V^T`` can give it);
- ``T = sum_b ||G_b||_F^2`` and ``T_N = sum_b ||N(G_b)||_F^2``.

From these, :func:`need` estimates how much of the per-batch gradient is a *consistent*
demand outside the old span, as opposed to minibatch noise (which cancels in ``S``). With
``spectrum=True`` it also keeps ``Q = sum_b N(G_b)^T N(G_b)`` (d_in x d_in), from which
:mod:`litelora.gates.spectrum` splits that demand into directions.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.distributed as dist
from torch.utils.hooks import RemovableHandle

from litelora.adapters import AdapterBank
from litelora.adapters.subspace import outside_span


def need(S: torch.Tensor, T: float, T_N: float, n: int) -> float:
    """Consistent novel share of the gradient, in [0, 1] (clamped).

    With per-batch gradients ``G_b = mu + noise`` (``E||noise||^2 = sigma^2``), ``||S||^2 - T_N``
    estimates ``n (n - 1) ||N(mu)||^2`` without the noise term, and ``T / n`` estimates
    ``||mu||^2 + sigma^2``; so the result estimates ``||N(mu)||^2 / (||mu||^2 + sigma^2)``:
    near 0 when the task asks nothing of the module that the old span cannot give (or asks
    only noise), near 1 when every batch asks the same thing outside it. Needs ``n >= 2``.
    """
    if n < 2 or T <= 0.0:
        return 0.0
    value = (float((S.double() ** 2).sum()) - T_N) / ((n - 1) * T)
    return min(1.0, max(0.0, value))


class GradientProbe:
    """Per-target running sums ``S``, ``T``, ``T_N`` and the batch count, while attached."""

    def __init__(self, bank: AdapterBank, targets: list[str],
                 spans: dict[str, tuple[torch.Tensor, torch.Tensor] | None], spectrum: bool = False,
                 novel: dict[str, Callable[[torch.Tensor], torch.Tensor]] | None = None) -> None:
        """``spans``: per target the old span's bases ``(U, V)`` that ``N`` projects out (``None``: none);
        ``novel`` replaces ``N`` per target with another map (what another reuse path cannot give)."""
        self.bank = bank
        self.targets = list(targets)
        self.spans = spans
        self.novel = novel or {}
        self.sums: dict[str, torch.Tensor] = {}
        self.grams: dict[str, torch.Tensor] = {}  # Q per target (spectrum=True only), float64
        self.stats: dict[str, torch.Tensor] = {}  # (T, T_N, n) per target, float64
        self._handles: list[RemovableHandle] = []
        for target in self.targets:
            slot = bank.slot(target)
            device = bank.layer(target).base_layer.weight.device
            self.sums[target] = torch.zeros(slot.out_features, slot.in_features, device=device, dtype=torch.float32)
            self.stats[target] = torch.zeros(3, device=device, dtype=torch.float64)
            if spectrum:
                self.grams[target] = torch.zeros(slot.in_features, slot.in_features, device=device,
                                                 dtype=torch.float64)

    def attach(self) -> None:
        """Start accumulating (idempotent)."""
        if self._handles:
            return
        for target in self.targets:
            self._handles.append(self.bank.slot(target).register_forward_hook(self._forward_hook(target)))

    def detach(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _forward_hook(self, target: str):  # noqa: ANN202 - a hook closure
        span = self.spans.get(target)
        U, V = (None, None) if span is None else (span[0].float(), span[1].float())
        project = self.novel.get(target) or (lambda G: outside_span(G, U, V))

        def hook(module: torch.nn.Module, args: tuple[torch.Tensor, ...], output: torch.Tensor | None) -> None:
            if output is None or not output.requires_grad:
                return  # evaluation, or nothing trainable upstream of the loss
            x = args[0].detach()

            def on_grad(delta: torch.Tensor) -> None:
                G = delta.reshape(-1, delta.shape[-1]).float().T @ x.reshape(-1, x.shape[-1]).float()
                novel = project(G)
                self.sums[target].add_(novel)
                if target in self.grams:
                    self.grams[target].add_((novel.T @ novel).double())
                self.stats[target].add_(torch.stack([(G.double() ** 2).sum(), (novel.double() ** 2).sum(),
                                                     torch.ones((), dtype=torch.float64, device=G.device)]))

            output.register_hook(on_grad)

        return hook

    def all_reduce(self) -> None:
        """Sum over processes, so every rank scores the same statistics."""
        if dist.is_available() and dist.is_initialized():
            for target in self.targets:
                dist.all_reduce(self.sums[target])
                dist.all_reduce(self.stats[target])
                if target in self.grams:
                    dist.all_reduce(self.grams[target])

    def need(self, target: str) -> float:
        T, T_N, n = self.stats[target].tolist()
        return need(self.sums[target], T, T_N, int(n))
