"""The gate registry: building a gate from its config, and the warning for a field it ignores."""

from __future__ import annotations

import warnings

import pytest

from litelora.errors import ConfigError
from litelora.gates import GATES, GateConfig, HardConcreteGate, LiteLoRAGate, build_gate


def test_every_registered_gate_builds_from_its_kind() -> None:
    for kind in GATES.list():
        assert type(build_gate(GateConfig(kind=kind, budget=0.5), num_tasks=3)) is GATES.get(kind)
    assert build_gate(GateConfig(), num_tasks=3) is None


def test_another_gates_field_warns_and_names_who_reads_it() -> None:
    with pytest.warns(UserWarning, match=r"gate\.lam=0\.3 has no effect with gate\.kind='litelora' "
                                         r"\(it is read by hard_concrete\)"):
        assert isinstance(build_gate(GateConfig(kind="litelora", lam=0.3), num_tasks=3), LiteLoRAGate)
    with pytest.warns(UserWarning, match=r"gate\.novelty=0\.5 has no effect with gate\.kind='hard_concrete'"):
        build_gate(GateConfig(kind="hard_concrete", novelty=0.5), num_tasks=3)
    with pytest.warns(UserWarning, match=r"gate\.tau=0\.1 has no effect with gate\.kind='random'"):
        build_gate(GateConfig(kind="random", budget=0.5, tau=0.1), num_tasks=3)


def test_own_and_common_fields_do_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        build_gate(GateConfig(kind="hard_concrete", lam=0.3, lr=0.1, budget=0.5, group="layer", reuse="scale"), 3)
        build_gate(GateConfig(kind="litelora", novelty=0.4, probe=0.5, reuse_lr=1e-3), 3)
        build_gate(GateConfig(kind="representability", tau=0.01), 3)
    assert HardConcreteGate.settings >= {"lam", "threshold"}


def test_unknown_kind_names_the_field_and_close_matches() -> None:
    with pytest.raises(ConfigError, match=r"gate\.kind: unknown gate 'radnom'\. Did you mean 'random'"):
        build_gate(GateConfig(kind="radnom"), num_tasks=3)
