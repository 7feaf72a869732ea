"""The aligned head: a growing head re-fitted after every task on features sampled from each
seen class's Gaussian (classifier alignment, as in SLCA, Zhang et al., ICCV 2023).

A plain growing head learns task t's rows with a loss over task t's classes only, so the rows of
different tasks are never trained against each other and class-incremental prediction is swamped
by their uncalibrated biases. After each task this head keeps, per class of the task, the mean and
covariance of the pooled features (statistics only: no example is kept), then trains every row
together on features drawn from ``N(mu_c, Sigma_c)`` of every class seen so far.

A class's statistics are those of the model that had just learned it; later adapters move the
features of old classes. ``drift="none"`` ignores that (as SLCA does); ``drift="sdc"`` shifts each
old class mean by the feature displacement of the new task's own training examples, weighted by
their closeness to that mean (semantic drift compensation, Yu et al., CVPR 2020): no old example
is needed, only the new task's features before and after it trains.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.distributed as dist
import torch.nn.functional as F

from litelora._io import check_tensor
from litelora.errors import DataError
from litelora.models.config import AlignmentConfig
from litelora.models.heads import GrowingHead


class AlignedHead(GrowingHead):
    """A :class:`GrowingHead` plus per-class feature statistics and the re-fit.

    ``stats[c]`` is ``(mean (D,), covariance (D, D) or variances (D,))`` in float64.
    """

    def __init__(self, feature_dim: int, config: AlignmentConfig | None = None, seed: int = 0) -> None:
        super().__init__(feature_dim)
        self.config = config or AlignmentConfig()
        self.seed = seed
        self.stats: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    @torch.no_grad()
    def learn_classes(self, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], classes: list[int]) -> None:
        """Accumulate the mean and covariance of the features of ``classes`` over ``batches`` of
        (features (B, D), labels (B,)); sums are added over processes before use."""
        D, full = self.feature_dim, self.config.covariance == "full"
        index = {c: k for k, c in enumerate(classes)}
        n = torch.zeros(len(classes), dtype=torch.float64)
        s = torch.zeros(len(classes), D, dtype=torch.float64)
        ss = torch.zeros(len(classes), D, D, dtype=torch.float64) if full else torch.zeros(len(classes), D,
                                                                                          dtype=torch.float64)
        for features, labels in batches:
            f = features.detach().double().cpu()
            for label in labels.unique().tolist():
                if label not in index:
                    continue
                rows = f[labels.cpu() == label]
                k = index[label]
                n[k] += rows.shape[0]
                s[k] += rows.sum(0)
                ss[k] += rows.T @ rows if full else (rows**2).sum(0)
        if dist.is_available() and dist.is_initialized():
            for t in (n, s, ss):
                dist.all_reduce(t)
        empty = [c for c, k in index.items() if n[k] < 2]
        if empty:
            raise DataError(f"aligned head: classes {empty[:5]} have fewer than 2 training examples; their "
                            "feature statistics are undefined (use model.head=linear, or more examples)")
        for c, k in index.items():
            mean = s[k] / n[k]
            second = ss[k] / n[k]
            cov = second - torch.outer(mean, mean) if full else second - mean**2
            cov = cov * (n[k] / (n[k] - 1))  # unbiased
            var = cov.diagonal().mean() if full else cov.mean()
            jitter = self.config.shrinkage * float(var.clamp_min(1e-12))
            cov = cov + jitter * torch.eye(D, dtype=cov.dtype) if full else cov + jitter
            self.stats[c] = (mean, cov)

    @torch.no_grad()
    def compensate_drift(self, before: torch.Tensor, after: torch.Tensor) -> None:
        """Shift every recorded class mean by the displacement ``after - before`` (N, D) of the new
        task's examples, weighted by ``exp(-||before_i - mu_c||^2 / (2 s_c^2))``, with ``s_c^2`` the
        mean squared distance of the closest tenth of those examples to ``mu_c`` (a bandwidth that
        follows the features' scale and keeps the shift local to the class)."""
        if not self.stats or before.shape[0] == 0:
            return
        classes = sorted(self.stats)
        means = torch.stack([self.stats[c][0] for c in classes])  # (C, D)
        b, shift = before.double().cpu(), (after - before).double().cpu()
        d2 = torch.cdist(b, means) ** 2  # (N, C)
        k = max(1, d2.shape[0] // 10)
        scale = d2.topk(k, dim=0, largest=False).values.mean(0).clamp_min(1e-12)  # (C,)
        w = torch.exp(-(d2 - d2.min(0).values) / (2 * scale))
        num, den = w.T @ shift, w.sum(0)  # (C, D), (C,)
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(num)
            dist.all_reduce(den)
        for k, c in enumerate(classes):
            if den[k] > 0:
                mean, cov = self.stats[c]
                self.stats[c] = (mean + num[k] / den[k], cov)

    def align(self, task_id: int) -> list[float]:
        """Re-fit every row on features sampled from every seen class; returns the losses.

        The samples come from a generator seeded by the head's seed and ``task_id`` (never the
        global one), so a run with this head draws the same global random numbers as without it.
        """
        classes = [c for c in self.class_ids if c in self.stats]
        if not classes:
            return []
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + task_id)
        samplers = [self._sampler(c) for c in classes]
        columns = self.columns(classes)
        device = self.blocks[0].weight.device
        targets = torch.arange(len(classes)).repeat_interleave(self.config.samples_per_class).to(device)
        params = [p for block in self.blocks for p in block.parameters()]
        flags = [p.requires_grad for p in params]
        for p in params:
            p.requires_grad_(True)
        optimizer = torch.optim.AdamW(params, lr=self.config.lr, weight_decay=0.0)
        losses = []
        with torch.enable_grad():
            for _ in range(self.config.steps):
                x = torch.cat([draw(self.config.samples_per_class, generator) for draw in samplers])
                logits = self(x.to(device=device, dtype=self.blocks[0].weight.dtype))[:, columns.to(device)]
                loss = F.cross_entropy(logits, targets)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                losses.append(float(loss.detach()))
        for p, flag in zip(params, flags):
            p.requires_grad_(flag)
            p.grad = None
        return losses

    def _sampler(self, c: int):  # noqa: ANN202 - a closure
        mean, cov = self.stats[c]
        if self.config.covariance == "full":
            L = torch.linalg.cholesky(cov)

            def draw(n: int, g: torch.Generator) -> torch.Tensor:
                z = torch.randn(n, mean.shape[0], generator=g, dtype=torch.float64)
                return (mean + z @ L.T).float()
        else:
            std = cov.sqrt()

            def draw(n: int, g: torch.Generator) -> torch.Tensor:
                z = torch.randn(n, mean.shape[0], generator=g, dtype=torch.float64)
                return (mean + z * std).float()

        return draw

    def state_tensors(self) -> dict[str, torch.Tensor]:
        out = super().state_tensors()
        for c, (mean, cov) in self.stats.items():
            out[f"stats.{c}.mean"] = mean
            out[f"stats.{c}.cov"] = cov
        return out

    def restore(self, structure: list[list[int]], tensors: dict[str, torch.Tensor],
                num_classes: int | None = None, where: str = "head") -> None:
        super().restore(structure, tensors, num_classes, where)
        self.stats = {}
        d = self.feature_dim
        cov_shape = (d, d) if self.config.covariance == "full" else (d,)
        for c in self.class_ids:
            if f"stats.{c}.mean" in tensors:
                self.stats[c] = (check_tensor(tensors, f"stats.{c}.mean", (d,), where).double().cpu(),
                                 check_tensor(tensors, f"stats.{c}.cov", cov_shape, where).double().cpu())
