"""ContinualMethod: the hooks a LoRA continual-learning method implements."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from litelora._config import from_dict, to_dict
from litelora.adapters.bank import AdapterBank
from litelora.adapters.config import AdapterConfig
from litelora.context import TaskContext
from litelora.errors import ConfigError

__all__ = ["ContinualMethod", "TaskContext"]


class ContinualMethod:
    """Base class. Subclasses override hooks and declare their hyper-parameters as a
    dataclass ``Params`` (typed fields with defaults; its ``__post_init__`` checks ranges):
    ``method.params`` is read into it, unknown keys and wrong types failing with the field's
    name, and the method reads ``self.config``.

    ``adds_candidates``: the method adds one candidate adapter per task and target, so a
    gate can decide over them (``seqlora`` does not). ``wants_joint_stream``: train on all
    tasks merged into one (the ``joint`` upper bound). ``keeps_old_adapters``: a task never
    changes earlier tasks' adapters (false where it retrains them or their magnitudes), so the
    model after task t can be rebuilt from the final bank. ``designs_down_projection``: the
    method sets each candidate's A itself (InfLoRA), so ``adapter.init_lora_weights: gradient``
    cannot apply to it.
    """

    name: ClassVar[str] = ""
    adds_candidates: ClassVar[bool] = True
    keeps_old_adapters: ClassVar[bool] = True
    wants_joint_stream: ClassVar[bool] = False
    designs_down_projection: ClassVar[bool] = False
    Params: ClassVar[type[Any] | None] = None

    def __init__(self, **params: Any) -> None:
        if self.Params is None:
            if params:
                raise ConfigError(f"method.params: {self.name!r} takes no parameters, got {sorted(params)}")
            self.config: Any = None
        else:
            self.config = from_dict(self.Params, params, "method.params")

    @property
    def params(self) -> dict[str, Any]:
        """The hyper-parameters as a plain dict (defaults filled in)."""
        return {} if self.config is None else to_dict(self.config)

    def check_num_tasks(self, num_tasks: int) -> None:
        """Raise ``ConfigError`` before anything trains where the settings cannot serve a stream of
        ``num_tasks`` tasks (a per-task schedule too short); nothing to check by default."""

    def check_adapter(self, adapter: AdapterConfig) -> None:
        """Raise ``ConfigError`` before anything trains where ``adapter`` cannot apply to this method
        (warn where a field has no effect). ``init_lora_weights='gradient'`` needs a method that adds
        an adapter per task and leaves its down-projection to the bank."""
        if adapter.init_lora_weights == "gradient" and (self.designs_down_projection or not self.adds_candidates):
            raise ConfigError(f"adapter.init_lora_weights='gradient' cannot apply to method {self.name!r}: "
                              + ("it designs each adapter's A itself" if self.designs_down_projection
                                 else "it adds no new adapter per task") + "; use 'lora'")

    def before_task(self, ctx: TaskContext) -> list[nn.Parameter]:
        """Add or reopen adapters for ``ctx.task_id``; return the parameters to train."""
        raise NotImplementedError

    def no_weight_decay(self) -> list[nn.Parameter]:
        """Those of ``before_task``'s parameters that weight decay must not shrink (none by default):
        they train in their own group with ``weight_decay=0``."""
        return []

    def extra_loss(self, ctx: TaskContext) -> torch.Tensor | None:
        """A regulariser added to the task loss at every step (``None``: nothing)."""
        return None

    def after_task(self, ctx: TaskContext) -> None:
        """Consolidate at the end of the task (freeze, update memories, ...)."""
        if ctx.task_id in ctx.bank.tasks:
            ctx.bank.freeze_task(ctx.task_id)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Method tensors that must survive a checkpoint (memories, magnitudes)."""
        return {}

    def load_state_dict(self, state: dict[str, torch.Tensor], bank: AdapterBank) -> None:
        """Restore ``state_dict()`` output; ``bank`` is the restored bank (to re-tie shared tensors)."""
        if state:
            raise ConfigError(f"method {self.name!r} keeps no state, but the checkpoint holds {sorted(state)[:3]}")
