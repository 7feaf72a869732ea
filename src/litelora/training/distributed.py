"""Data-parallel training across processes (``torchrun`` / ``accelerate launch``), or none.

The launchers set ``WORLD_SIZE`` / ``RANK`` / ``LOCAL_RANK``; ``accelerate``'s ``PartialState``
reads them and starts the process group (gloo on CPU, NCCL on GPUs). A continual run changes
its trainable set at every task and at every gate decision, so the model is wrapped in
``DistributedDataParallel`` anew each time (``wrap``): DDP registers exactly the parameters
that train now, and a closed gate's deleted candidate is never waited for.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

import torch
from torch import nn

from litelora.errors import ConfigError

T = TypeVar("T")


class LossModule(nn.Module):
    """``forward(batch, labels) = owner.loss(batch, labels, task)``: DDP needs a module whose
    forward produces the loss, while the task model exposes ``loss`` as a method. The task is
    held here rather than passed, so DDP never walks it looking for tensors to move."""

    def __init__(self, owner: nn.Module, task: Any) -> None:
        super().__init__()
        self.owner = owner
        self.task = task

    def forward(self, batch: dict[str, torch.Tensor], labels: torch.Tensor) -> torch.Tensor:
        return self.owner.loss(batch, labels, self.task)


class Distributed:
    """The process group of a run. ``world_size == 1`` makes every method a no-op."""

    def __init__(self, device: str = "cpu", sharding: str = "none") -> None:
        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self.sharding = sharding
        if self.world_size > 1:
            from accelerate import PartialState

            state = PartialState(cpu=device == "cpu")
            self.rank = state.process_index
            self.device = state.device
        else:
            self.rank = 0
            self.device = torch.device(device)

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def fsdp(self) -> bool:
        """The base weights are sharded across the ranks (``train.sharding=fsdp``, several processes)."""
        return self.enabled and self.sharding == "fsdp"

    def shard_model(self, model: nn.Module) -> int:
        """With FSDP, shard ``model``'s parameters across the ranks: each transformer block its own
        unit (the classes a transformers model lists in ``_no_split_modules``), then the rest.
        Returns the number of units. Call it before any adapter or head row exists: whatever is
        added later (all that ever trains) stays whole on every rank, outside FSDP."""
        if not self.fsdp:
            return 0
        from torch.distributed.fsdp import fully_shard

        trainable = {p for p in model.parameters() if p.requires_grad}
        blocks = {name for m in model.modules() for name in (getattr(m, "_no_split_modules", None) or [])}
        units = [m for m in model.modules() if type(m).__name__ in blocks]
        for unit in units:
            fully_shard(unit, ignored_params=trainable)
        fully_shard(model, ignored_params=trainable)
        return len(units) + 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the only process that writes the run directory."""
        return self.rank == 0

    def wrap(self, module: nn.Module) -> nn.Module:
        """``module`` in DDP over its parameters that require grad now (itself when alone)."""
        if not self.enabled or self.fsdp or not any(p.requires_grad for p in module.parameters()):
            return module  # under FSDP every trainable parameter's gradient is averaged by hand
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=ids)

    def shard(self, items: Sequence[T]) -> list[T]:
        """This rank's equal share of ``items``: rank r takes r, r + W, ...; a short tail wraps
        around to the start (as ``DistributedSampler`` pads), so every rank runs the same steps."""
        if not self.enabled:
            return list(items)
        n = len(items)
        per_rank = -(-n // self.world_size)
        return [items[(self.rank + k * self.world_size) % n] for k in range(per_rank)] if n else []

    def eval_shard(self, items: Sequence[T]) -> Sequence[T]:
        """A disjoint share of ``items`` (no padding): shares sum to the whole for exact counts.
        Under FSDP every rank takes every item: each forward pass is a collective, so all ranks
        must run the same ones."""
        return items[self.rank :: self.world_size] if self.enabled and not self.fsdp else items

    def reduce_sum(self, value: int | float) -> float:
        """``value`` summed over the ranks' disjoint shares (under FSDP each rank saw everything)."""
        if not self.enabled or self.fsdp:
            return value
        import torch.distributed as dist

        t = torch.tensor([float(value)], dtype=torch.float64, device=self._comm_device)
        dist.all_reduce(t)
        return float(t.item())

    def average_grads(self, params: Iterable[nn.Parameter]) -> None:
        """Average the gradients of parameters DDP does not own (e.g. the gate's) over ranks."""
        if not self.enabled:
            return
        import torch.distributed as dist

        for p in params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            dist.all_reduce(p.grad)
            p.grad.div_(self.world_size)

    def check_same(self, value: Any, what: str) -> None:
        """Raise unless ``value`` is identical on every rank (e.g. the gate's decisions)."""
        if not self.enabled:
            return
        import torch.distributed as dist

        values: list[Any] = [None] * self.world_size
        dist.all_gather_object(values, value)
        if any(v != values[0] for v in values[1:]):
            raise RuntimeError(f"{what} differ across ranks: {values}; the ranks have diverged")

    def barrier(self) -> None:
        if self.enabled:
            import torch.distributed as dist

            dist.barrier()

    @property
    def _comm_device(self) -> torch.device:
        return self.device if self.device.type == "cuda" else torch.device("cpu")


def check_launch(device: str) -> None:
    """Fail early on a launch that cannot work (several processes sharing one GPU index)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and device.startswith("cuda:"):
        raise ConfigError(f"train.device={device!r} pins one GPU, but {world} processes were launched; "
                          "use train.device=cuda and let each rank take its LOCAL_RANK")
