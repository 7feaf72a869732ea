"""BankLinear: a frozen linear layer plus a bank of per-task LoRA adapters per output slot."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from litelora.adapters.reuse import CoreReuse, ScaleReuse
from litelora.errors import AdapterError

Coefficient = Callable[[], torch.Tensor]


class LoraAdapter(nn.Module):
    """One task's low-rank update of one slot: ``magnitude * scale * B A``.

    Shapes: ``lora_A`` (r, d_in), ``lora_B`` (d_out, r), ``magnitude`` a scalar.
    """

    def __init__(
        self, d_in: int, d_out: int, r: int, scale: float, task_id: int, init: str = "lora",
        device: torch.device | None = None, dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.task_id = task_id
        self.scale = float(scale)
        self.lora_A = nn.Parameter(torch.empty(r, d_in, device=device, dtype=dtype))
        self.lora_B = nn.Parameter(torch.zeros(d_out, r, device=device, dtype=dtype))
        self.magnitude = nn.Parameter(torch.ones((), device=device, dtype=dtype), requires_grad=False)
        if init != "zeros":
            nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        if init == "gaussian":
            nn.init.normal_(self.lora_B, std=0.1)

    @property
    def r(self) -> int:
        return self.lora_A.shape[0]

    def num_parameters(self) -> int:
        return self.lora_A.numel() + self.lora_B.numel()

    def extra_repr(self) -> str:
        return f"task={self.task_id}, r={self.r}, scale={self.scale:g}"


class AdapterSlot(nn.Module):
    """The adapters writing rows ``[out_start, out_stop)`` of one linear layer's output."""

    def __init__(self, out_start: int, out_stop: int, in_features: int, dropout: float) -> None:
        super().__init__()
        self.out_start, self.out_stop, self.in_features = out_start, out_stop, in_features
        self.adapters = nn.ModuleDict()
        self.reuse = nn.ModuleDict()
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        # Candidate coefficients (the gate's hook); plain callables so that the gate's
        # parameters stay owned by the gate, not registered twice in the model.
        self.coefficients: dict[str, Coefficient] = {}

    @property
    def out_features(self) -> int:
        return self.out_stop - self.out_start

    def effective_magnitudes(self) -> dict[str, torch.Tensor]:
        """Per adapter: magnitude, plus every scale-reuse delta, times its coefficient."""
        mags = {name: a.magnitude for name, a in self.adapters.items()}
        for reuse in self.reuse.values():
            if isinstance(reuse, ScaleReuse):
                for i, name in enumerate(reuse.adapter_names):
                    mags[name] = mags[name] + reuse.coeffs[i]
        for name, fn in self.coefficients.items():
            mags[name] = mags[name] * fn()
        return mags

    def forward(self, x: torch.Tensor) -> torch.Tensor | None:
        if not self.adapters and not self.reuse:
            return None
        x = self.dropout(x)
        out = None
        if self.adapters:
            mags = self.effective_magnitudes()
            adapters = list(self.adapters.items())
            if len(adapters) == 1:
                name, a = adapters[0]
                # Scale the rank-r intermediate, not the d_out-wide output: less work both ways.
                out = F.linear(F.linear(x, a.lora_A) * (mags[name] * a.scale), a.lora_B)
            else:
                # One pair of matmuls for the whole bank: exactly the concatenated LoRA.
                A_cat = torch.cat([a.lora_A for _, a in adapters], dim=0)
                B_cat = torch.cat([a.lora_B for _, a in adapters], dim=1)
                coef = torch.cat([(mags[n] * a.scale).expand(a.r) for n, a in adapters])
                out = F.linear(F.linear(x, A_cat) * coef, B_cat)
        for reuse in self.reuse.values():
            if isinstance(reuse, CoreReuse):
                out = reuse(x) if out is None else out + reuse(x)
        return out

    def concatenated(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The bank as one LoRA: ``A_cat`` (sum r, d_in), ``B_cat`` (d_out, sum r) with
        magnitudes, scales and coefficients folded into B; core reuse appended as
        ``V^T`` rows and ``U C`` columns. ``B_cat @ A_cat`` is the slot's whole update."""
        if not self.adapters and not self.reuse:
            raise AdapterError("slot holds no adapters to concatenate")
        mags = self.effective_magnitudes()
        As = [a.lora_A for a in self.adapters.values()]
        Bs = [a.lora_B * (mags[n] * a.scale) for n, a in self.adapters.items()]
        for reuse in self.reuse.values():
            if isinstance(reuse, CoreReuse):
                As.append(reuse.V.T)
                Bs.append(reuse.U @ reuse.core)
        return torch.cat(As, dim=0), torch.cat(Bs, dim=1)

    def delta_weight(self) -> torch.Tensor:
        """Dense update (d_out_slot x d_in), for merging."""
        A, B = self.concatenated()
        return B @ A


class BankLinear(nn.Module):
    """Wraps a frozen ``nn.Linear``; ``slots`` hold adapters per output slice.

    The key ``"all"`` is the whole output; slice targets use their slice name (``"q"``).
    """

    FULL = "all"

    def __init__(self, base_layer: nn.Linear, dropout: float = 0.0) -> None:
        super().__init__()
        self.base_layer = base_layer
        self.slots = nn.ModuleDict()
        self.dropout_p = dropout
        self.merged = False
        self.disabled = False

    @property
    def in_features(self) -> int:
        return self.base_layer.in_features

    @property
    def out_features(self) -> int:
        return self.base_layer.out_features

    @property
    def weight(self) -> torch.Tensor:  # models that read ``.weight`` directly keep working
        return self.base_layer.weight

    @property
    def bias(self) -> torch.Tensor | None:
        return self.base_layer.bias

    def add_slot(self, key: str, out_start: int, out_stop: int) -> AdapterSlot:
        slot = AdapterSlot(out_start, out_stop, self.in_features, self.dropout_p)
        self.slots[key] = slot
        return slot

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.base_layer(x)
        if self.merged or self.disabled:
            return y
        for slot in self.slots.values():
            d = slot(x)
            if d is None:
                continue
            if slot.out_start == 0 and slot.out_stop == self.out_features:
                y = y + d
            else:
                y = y + F.pad(d, (slot.out_start, self.out_features - slot.out_stop))
        return y

    def delta_weight(self) -> torch.Tensor:
        """Dense update of every slot (d_out x d_in)."""
        W = self.base_layer.weight
        delta = torch.zeros_like(W)
        for slot in self.slots.values():
            if slot.adapters or slot.reuse:
                delta[slot.out_start : slot.out_stop] += slot.delta_weight().to(W.dtype)
        return delta

    @torch.no_grad()
    def merge(self, safe_merge: bool = False) -> None:
        """Fold every adapter into ``base_layer.weight``; ``unmerge`` subtracts it again."""
        if self.merged:
            return
        delta = self.delta_weight().detach()
        W = self.base_layer.weight
        if safe_merge:
            merged = W.data + delta
            if not torch.isfinite(merged).all():
                raise AdapterError("merging produced NaN/inf weights; the adapters hold non-finite values")
            W.data.copy_(merged)
        else:
            W.data += delta
        self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        if not self.merged:
            return
        # The bank refuses structural changes while merged, so the delta is the same one.
        self.base_layer.weight.data -= self.delta_weight().detach()
        self.merged = False
