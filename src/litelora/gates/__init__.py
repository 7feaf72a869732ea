"""The LiteLoRA gate: per task and module, the rank of a new adapter (0 = reuse the old ones)."""

from litelora.gates.base import GatePlugin, group_targets
from litelora.gates.config import GateConfig
from litelora.gates.decision import GateDecision
from litelora.gates.hard_concrete import HardConcreteGate, deterministic_gate, prob_open, sample_gate
from litelora.gates.litelora import LiteLoRAGate, LiteLoRAV2Params
from litelora.gates.litelora_v3 import LiteLoRAV3Gate, LiteLoRAV3Params
from litelora.gates.random_choice import RandomGate
from litelora.gates.registry import GATES, LITELORA_DEFAULT, build_gate
from litelora.gates.representability import RepresentabilityGate
from litelora.gates.shuffled import ShuffledGate

__all__ = [
    "GATES",
    "GateConfig",
    "GateDecision",
    "GatePlugin",
    "HardConcreteGate",
    "LITELORA_DEFAULT",
    "LiteLoRAGate",
    "LiteLoRAV2Params",
    "LiteLoRAV3Gate",
    "LiteLoRAV3Params",
    "RandomGate",
    "RepresentabilityGate",
    "ShuffledGate",
    "build_gate",
    "deterministic_gate",
    "group_targets",
    "prob_open",
    "sample_gate",
]
