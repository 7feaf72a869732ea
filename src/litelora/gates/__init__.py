"""The LiteLoRA gate: per task and group, recruit a new adapter or reuse the old ones."""

from litelora.gates.base import GatePlugin, group_targets
from litelora.gates.config import GateConfig
from litelora.gates.decision import GateDecision
from litelora.gates.hard_concrete import HardConcreteGate, deterministic_gate, prob_open, sample_gate
from litelora.gates.litelora import LiteLoRAGate
from litelora.gates.random_choice import RandomGate
from litelora.gates.registry import GATES, build_gate
from litelora.gates.representability import RepresentabilityGate

__all__ = [
    "GATES",
    "GateConfig",
    "GateDecision",
    "GatePlugin",
    "HardConcreteGate",
    "LiteLoRAGate",
    "RandomGate",
    "RepresentabilityGate",
    "build_gate",
    "deterministic_gate",
    "group_targets",
    "prob_open",
    "sample_gate",
]
