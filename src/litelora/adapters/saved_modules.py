"""Modules that train in full beside the adapters (PEFT's ``modules_to_save``: a classifier head),
written the way PEFT writes them so ``PeftModel.from_pretrained`` restores them.

PEFT stores such a module's ``state_dict`` under ``base_model.model.<module path>.<tensor>`` and
lists the module in ``adapter_config.json``'s ``modules_to_save``; on loading it wraps every module
whose full name *ends with* a listed string (a plain string suffix, not a dotted one), so the
names written must not also be the tail of another module's name.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from litelora.errors import AdapterError


def resolve_saved_modules(model: nn.Module, names: Sequence[str], wrapped: Sequence[str] = ()) -> dict[str, nn.Module]:
    """Full module path -> module for each of ``names`` (a module's full path, or a dotted suffix of
    it, as ``LiteLoRA(modules_to_save=...)`` reads them).

    ``wrapped``: the modules holding LoRA adapters; a saved module may not be one nor hold one
    (PEFT cannot both wrap a layer with LoRA and save it whole). Raises ``AdapterError`` naming the
    entry for a name that matches nothing, or when PEFT's suffix rule would also pick up a module
    that was not asked for.
    """
    modules = dict(model.named_modules())
    found: dict[str, nn.Module] = {}
    for wanted in names:
        hits = {n: m for n, m in modules.items() if n == wanted or n.endswith("." + wanted)}
        if not hits:
            raise AdapterError(f"modules_to_save: no module named {wanted!r} in the model (give its full name, "
                               "as model.named_modules() lists it)")
        found.update(hits)
    for path in found:
        inner = [w for w in wrapped if w == path or w.startswith(path + ".")]
        if inner:
            raise AdapterError(f"modules_to_save: {path!r} holds LoRA adapters ({inner[0]!r}); a module is either "
                               "a LoRA target or saved whole, not both")
    inside_adapters = tuple(w + "." for w in wrapped)
    for name in modules:
        if name in found or name.startswith(inside_adapters) or any(name.startswith(p + ".") for p in found):
            continue
        clash = [p for p in found if name.endswith(p)]
        if clash:
            raise AdapterError(f"modules_to_save: PEFT loads every module whose name ends with {clash[0]!r}, so it "
                               f"would also replace {name!r}; rename one of the modules")
    return found


@torch.no_grad()
def saved_module_tensors(found: dict[str, nn.Module], prefix: str) -> dict[str, torch.Tensor]:
    """``prefix + <path>.<key>`` -> a contiguous CPU copy of every entry of each module's
    ``state_dict`` (parameters and persistent buffers), the keys PEFT's ``save_pretrained`` writes."""
    out: dict[str, torch.Tensor] = {}
    for path, module in found.items():
        for key, tensor in module.state_dict().items():
            out[f"{prefix}{path}.{key}"] = tensor.detach().cpu().contiguous()
    return out
