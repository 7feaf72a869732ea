"""The gate registry: building a gate from its config, and the warning for a field it ignores."""

from __future__ import annotations

import warnings

import pytest

from litelora.errors import ConfigError
from litelora.gates import GATES, GateConfig, build_gate


def test_every_registered_gate_builds_from_its_kind() -> None:
    required = {"shuffled": {"decisions": "ref/gates.json"}}  # settings a gate has no default for
    for kind in GATES.list():
        gate = build_gate(GateConfig(kind=kind, budget=0.5, params=required.get(kind, {})), num_tasks=3)
        assert type(gate) is GATES.get(kind)
    assert build_gate(GateConfig(kind="none"), num_tasks=3) is None
    with pytest.raises(ConfigError, match=r"gate\.kind='auto' is resolved against the method"):
        build_gate(GateConfig(), num_tasks=3)


def test_another_gates_setting_fails_and_names_who_reads_it() -> None:
    with pytest.raises(ConfigError, match=r"gate\.params\.lam is not a setting of gate\.kind='litelora' "
                                          r"\(it is read by hard_concrete\); its settings: novelty, probe"):
        build_gate(GateConfig(kind="litelora", params={"lam": 0.3}), num_tasks=3)
    with pytest.raises(ConfigError, match=r"gate\.params\.novelty is not a setting of gate\.kind='hard_concrete' "
                                          r"\(it is read by litelora, litelora-v2, litelora-v3\)"):
        build_gate(GateConfig(kind="hard_concrete", params={"novelty": 0.5}), num_tasks=3)
    with pytest.raises(ConfigError, match=r"gate\.params\.tau is not a setting of gate\.kind='random'"):
        build_gate(GateConfig(kind="random", budget=0.5, params={"tau": 0.1}), num_tasks=3)


def test_own_and_common_fields_do_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gate = build_gate(GateConfig(kind="hard_concrete", budget=0.5, group="layer", reuse="scale",
                                     params={"lam": 0.3, "lr": 0.1}), 3)
        assert gate.params.lam == 0.3 and gate.params.threshold == 0.5  # set, and the default
        build_gate(GateConfig(kind="litelora", reuse_lr=1e-3, params={"novelty": 0.4, "probe": 0.5}), 3)
        build_gate(GateConfig(kind="representability", params={"tau": 0.01}), 3)


def test_flat_fields_of_older_configs_move_into_params_or_are_dropped_by_name(monkeypatch) -> None:
    from litelora._config import from_dict
    from litelora.gates import config as gate_config

    monkeypatch.setattr(gate_config, "_warned", set())  # once per process: start this test afresh
    with pytest.warns(FutureWarning, match=r"gate\.lam is now gate\.params\.lam"):
        config = from_dict(GateConfig, {"kind": "hard_concrete", "lam": 0.25}, "gate")
    assert config.params == {"lam": 0.25}
    with pytest.warns(UserWarning, match=r"gate\.tau=0\.1 has no effect with gate\.kind='random' "
                                         r"\(it is read by representability\)"):
        config = from_dict(GateConfig, {"kind": "random", "budget": 0.5, "tau": 0.1}, "gate")
    assert config.params == {}
    with pytest.raises(ConfigError, match=r"gate\.novelty=0\.3 and gate\.params\.novelty=0\.4 disagree"):
        from_dict(GateConfig, {"kind": "litelora", "novelty": 0.3, "params": {"novelty": 0.4}}, "gate")


def test_gate_settings_with_no_gate_warn_by_name_and_reach_a_methods_own_gate() -> None:
    from litelora.methods import create_method
    from litelora.training.pairing import gate_config_for, gate_for

    with pytest.warns(UserWarning, match=r"gate\.budget, gate\.params\.tau has no effect: gate\.kind='none'"):
        gate_config_for(create_method("inclora"), GateConfig(kind="none", budget=0.5, params={"tau": 0.1}))
    gate = gate_for(create_method("sdlora-kd"), GateConfig(params={"tau": 0.1}), num_tasks=3)
    assert gate.params.tau == 0.1 and gate.config.reuse == "scale"
    assert gate_for(create_method("sdlora-kd"), GateConfig(), num_tasks=3).params.tau == 9e-4


def test_unknown_kind_names_the_field_and_close_matches() -> None:
    with pytest.raises(ConfigError, match=r"gate\.kind: unknown gate 'radnom'\. Did you mean 'random'"):
        build_gate(GateConfig(kind="radnom"), num_tasks=3)
