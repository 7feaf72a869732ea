"""BankLinear: a frozen linear layer plus a bank of per-task LoRA adapters per output slot;
BankConv1x1: the same for a 1x1 convolution, a linear map over channels at every pixel."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from litelora.adapters.reuse import ReusePath
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

    @torch.no_grad()
    def truncate(self, rank: int) -> None:
        """Keep the first ``rank`` rows of A and columns of B, in place: the parameters stay the same
        objects (an optimizer group or a method holding them keeps working), only their data shrink."""
        if not 0 < rank <= self.r:
            raise AdapterError(f"cannot truncate a rank-{self.r} adapter to rank {rank}: need 1 <= rank <= {self.r}")
        self.lora_A.data = self.lora_A.data[:rank].clone()
        self.lora_B.data = self.lora_B.data[:, :rank].clone()

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
        # Adapters whose update currently lives in the layer's working weight (BankLinear.fold).
        self.folded: set[str] = set()

    def foldable(self) -> list[str]:
        """Adapters nothing can change while a task trains: A, B and magnitude frozen, no gate
        coefficient, no scale-reuse path reading their magnitude."""
        scaled = {n for r in self.reuse_paths() for n in r.scaled_adapters}
        return [name for name, a in self.adapters.items()
                if not any(p.requires_grad for p in a.parameters())
                and name not in self.coefficients and name not in scaled]

    @property
    def out_features(self) -> int:
        return self.out_stop - self.out_start

    def reuse_paths(self) -> list[ReusePath]:
        """The slot's reuse modules through the one interface they share."""
        return [r for r in self.reuse.values() if isinstance(r, ReusePath)]

    def effective_magnitudes(self) -> dict[str, torch.Tensor]:
        """Per adapter: magnitude, plus every scale-reuse delta, times its coefficient."""
        mags = {name: a.magnitude for name, a in self.adapters.items()}
        for reuse in self.reuse_paths():
            for name, delta in reuse.magnitude_deltas().items():
                mags[name] = mags[name] + delta
        for name, fn in self.coefficients.items():
            mags[name] = mags[name] * fn()
        return mags

    def forward(self, x: torch.Tensor) -> torch.Tensor | None:
        if not self.adapters and not self.reuse:
            return None
        x = self.dropout(in_dtype(x, self.dtype()))
        out = None
        if self.adapters:
            mags = self.effective_magnitudes()
            # Frozen adapters run as one concatenated LoRA whose factors need no gradient, so
            # backward computes only the input gradient through them, never their weight
            # gradients; the trainable ones form a second pair. Without autograd: one pair.
            frozen: list[tuple[str, LoraAdapter]] = []
            trainable: list[tuple[str, LoraAdapter]] = []
            for name, a in self.adapters.items():
                if name in self.folded:
                    continue
                needs_grad = torch.is_grad_enabled() and (a.lora_A.requires_grad or a.lora_B.requires_grad)
                (trainable if needs_grad else frozen).append((name, a))  # type: ignore[arg-type]
            for group in (frozen, trainable):
                if group:
                    d = _concat_lora(x, group, mags)
                    out = d if out is None else out + d
        for reuse in self.reuse_paths():
            own = reuse.output(x)
            if own is not None:
                out = own if out is None else out + own
        return out

    def dtype(self) -> torch.dtype | None:
        """The dtype the slot's adapters (else its reuse paths) are stored in; None when it has neither."""
        for module in (*self.adapters.values(), *self.reuse.values()):
            for p in module.parameters():
                return p.dtype
        return None

    def concatenated(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The bank as one LoRA: ``A_cat`` (sum r, d_in), ``B_cat`` (d_out, sum r) with
        magnitudes, scales and coefficients folded into B; core reuse appended as
        ``V^T`` rows and ``U C`` columns. ``B_cat @ A_cat`` is the slot's whole update."""
        if not self.adapters and not self.reuse:
            raise AdapterError("slot holds no adapters to concatenate")
        mags = self.effective_magnitudes()
        As = [a.lora_A for a in self.adapters.values()]
        Bs = [a.lora_B * (mags[n] * a.scale) for n, a in self.adapters.items()]
        for reuse in self.reuse_paths():
            factors = reuse.factors()
            if factors is not None:
                As.append(factors[0])
                Bs.append(factors[1])
        return torch.cat(As, dim=0), torch.cat(Bs, dim=1)

    def delta_weight(self, only: set[str] | None = None) -> torch.Tensor:
        """Dense update (d_out_slot x d_in), for merging; ``only``: of these adapters alone."""
        if only is not None:
            # Foldable adapters have no coefficient and no scale reuse: their own magnitude is the
            # effective one (and a gate's coefficient is never called here: it may draw a sample).
            chosen = [a for n, a in self.adapters.items() if n in only]
            A = torch.cat([a.lora_A for a in chosen], dim=0)
            B = torch.cat([a.lora_B * (a.magnitude * a.scale) for a in chosen], dim=1)
            return B @ A
        A, B = self.concatenated()
        return B @ A


def in_dtype(x: torch.Tensor, dtype: torch.dtype | None) -> torch.Tensor:
    """``x`` in the adapters' ``dtype``: adapters of a half-precision layer may live in float32
    (``AdapterConfig.autocast_adapter_dtype``) and read its input in float32; the layer casts their
    update back to its output's dtype. Under ``torch.autocast`` the matmuls pick their own dtype,
    so a cast would only copy."""
    if dtype is None or x.dtype == dtype or torch.is_autocast_enabled(x.device.type):
        return x
    return x.to(dtype)


def _concat_lora(x: torch.Tensor, adapters: list[tuple[str, LoraAdapter]],
                 mags: dict[str, torch.Tensor]) -> torch.Tensor:
    """``x`` (..., d_in, already in the adapters' dtype: the slot casts it) through the adapters as
    one LoRA of rank sum(r): one pair of matmuls. The coefficients take the adapters' dtype (a gate's
    float32 coefficient would otherwise promote a bfloat16 group)."""
    if len(adapters) == 1:
        name, a = adapters[0]
        # Scale the rank-r intermediate, not the d_out-wide output: less work both ways.
        coef = (mags[name] * a.scale).to(a.lora_A.dtype)
        return F.linear(F.linear(x, a.lora_A) * coef, a.lora_B)
    A_cat = torch.cat([a.lora_A for _, a in adapters], dim=0)
    B_cat = torch.cat([a.lora_B for _, a in adapters], dim=1)
    coef = torch.cat([(mags[n] * a.scale).expand(a.r) for n, a in adapters]).to(A_cat.dtype)
    return F.linear(F.linear(x, A_cat) * coef, B_cat)


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
        self._pristine: torch.Tensor | None = None  # the base weight while frozen adapters are folded in

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

    def rows(self, x: torch.Tensor) -> torch.Tensor:
        """The layer input as the adapters read it: (..., d_in), features last."""
        return x

    def from_rows(self, delta: torch.Tensor) -> torch.Tensor:
        """The adapters' (..., d_out) update in the layout of the base layer's output."""
        return delta

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.base_layer(x)
        if self.merged or self.disabled:
            return y
        # One cast of the input for every slot (a fused layer's slices share it).
        dtypes = [d for d in (slot.dtype() for slot in self.slots.values()) if d is not None]
        rows, total = in_dtype(self.rows(x), dtypes[0] if dtypes else None), None
        for slot in self.slots.values():
            d = slot(rows)
            if d is None:
                continue
            if slot.out_start != 0 or slot.out_stop != self.out_features:
                d = F.pad(d, (slot.out_start, self.out_features - slot.out_stop))
            total = d if total is None else total + d
        return y if total is None else (y + self.from_rows(total)).to(y.dtype)

    def delta_weight(self) -> torch.Tensor:
        """Dense update of every slot, shaped like ``base_layer.weight`` (d_out x d_in for a
        linear layer, d_out x d_in x 1 x 1 for a 1x1 convolution)."""
        W = self.base_layer.weight
        delta = W.new_zeros(self.out_features, self.in_features)
        for slot in self.slots.values():
            if slot.adapters or slot.reuse:
                delta[slot.out_start : slot.out_stop] += slot.delta_weight().to(W.dtype)
        return delta.view_as(W)

    @torch.no_grad()
    def merge(self, safe_merge: bool = False) -> None:
        """Fold every adapter into ``base_layer.weight``; ``unmerge`` subtracts it again."""
        if self.merged:
            return
        if self.folded:
            raise AdapterError("cannot merge while frozen adapters are folded into the working weight; unfold first")
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

    @property
    def folded(self) -> bool:
        return self._pristine is not None

    @torch.no_grad()
    def fold(self) -> int:
        """Move the adapters nothing trains (``AdapterSlot.foldable``) into a working copy of the base
        weight, so a training step runs them as part of one matmul; returns how many. The base
        weight is kept as it was and put back, bit for bit, by ``unfold``."""
        if self.merged or self.folded:
            return 0
        W = self.base_layer.weight
        if any(slot.dtype() not in (None, W.dtype) for slot in self.slots.values()):
            return 0  # float32 adapters of a bfloat16 weight would be rounded into it: they run as LoRA
        chosen = {key: set(slot.foldable()) for key, slot in self.slots.items()}
        if not any(chosen.values()):
            return 0
        delta = W.new_zeros(self.out_features, self.in_features, dtype=torch.float64)
        for key, slot in self.slots.items():
            if chosen[key]:
                delta[slot.out_start : slot.out_stop] += slot.delta_weight(chosen[key]).double()
        self._pristine = W.data.clone()
        W.data.copy_((W.data.double() + delta.view_as(W)).to(W.dtype))
        for key, slot in self.slots.items():
            slot.folded = chosen[key]
        return sum(len(v) for v in chosen.values())

    @torch.no_grad()
    def unfold(self) -> None:
        """Put the base weight back and run every adapter from its factors again."""
        if self._pristine is None:
            return
        self.base_layer.weight.data.copy_(self._pristine)
        self._pristine = None
        for slot in self.slots.values():
            slot.folded = set()

    @torch.no_grad()
    def unmerge(self) -> None:
        if not self.merged:
            return
        # The bank refuses structural changes while merged, so the delta is the same one.
        self.base_layer.weight.data -= self.delta_weight().detach()
        self.merged = False


class BankConv1x1(BankLinear):
    """Wraps a frozen 1x1 ``nn.Conv2d`` (groups 1, no padding): the adapters act on the
    channel vector of every output pixel, so ``lora_A`` is (r, C_in), ``lora_B`` (C_out, r).

    A stride ``s`` makes the conv read every ``s``-th pixel; the adapters read the same ones.
    """

    def __init__(self, base_layer: nn.Conv2d, dropout: float = 0.0) -> None:
        super().__init__(base_layer, dropout)  # type: ignore[arg-type]

    @property
    def in_features(self) -> int:
        return self.base_layer.in_channels  # type: ignore[return-value]

    @property
    def out_features(self) -> int:
        return self.base_layer.out_channels  # type: ignore[return-value]

    def rows(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C_in, H, W) (or unbatched (C_in, H, W)) -> (N, H', W', C_in) at the strided pixels."""
        sh, sw = self.base_layer.stride  # type: ignore[misc]
        if sh != 1 or sw != 1:
            x = x[..., ::sh, ::sw]
        return x.movedim(-3, -1)

    def from_rows(self, delta: torch.Tensor) -> torch.Tensor:
        return delta.movedim(-1, -3)


# Target kind (``TargetSpec.kind``) -> the wrapper the bank puts in the layer's place.
WRAPPERS: dict[str, type[BankLinear]] = {"linear": BankLinear, "conv1x1": BankConv1x1}
