"""The adapter bank: per-task LoRA adapters on any unmodified PyTorch model."""

from litelora.adapters.bank import AdapterBank, AdapterRecord, adapter_name
from litelora.adapters.config import AdapterConfig
from litelora.adapters.layer import AdapterSlot, BankConv1x1, BankLinear, LoraAdapter
from litelora.adapters.peft_io import export_peft, import_peft, import_peft_tasks
from litelora.adapters.reuse import CoreReuse, ReusePath, ScaleReuse, span_bases
from litelora.adapters.serialization import bank_state_dict, load_bank, restore_bank, save_bank
from litelora.adapters.targeting import TargetSpec, find_targets

__all__ = [
    "AdapterBank",
    "AdapterConfig",
    "AdapterRecord",
    "AdapterSlot",
    "BankConv1x1",
    "BankLinear",
    "CoreReuse",
    "LoraAdapter",
    "ReusePath",
    "ScaleReuse",
    "TargetSpec",
    "adapter_name",
    "bank_state_dict",
    "export_peft",
    "find_targets",
    "import_peft",
    "import_peft_tasks",
    "load_bank",
    "restore_bank",
    "save_bank",
    "span_bases",
]
