"""What a resume compares: a gate setting written out equals its default left out, and runs
recorded before ``gate.kind: auto`` looked at the model resume as what they ran."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from litelora.errors import ConfigError
from litelora.reporting import RunDirectory
from litelora.training.config import RunConfig
from litelora.training.pairing import resolve_gate
from litelora.training.run_identity import check_allowed_names, check_resumable, start_identity

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "generative"))
from gen_helpers import toy_stream  # noqa: E402


def _record(tmp_path, gate: dict) -> tuple[RunDirectory, dict]:
    run_dir = RunDirectory(tmp_path / "run")
    run_dir.root.mkdir()
    config = RunConfig.from_dict({"gate": gate}).to_dict()
    return run_dir, start_identity(run_dir, config, toy_stream(2, 1))


def _resume(run_dir: RunDirectory, identity: dict, gate: dict, headless: bool = False) -> dict:
    config = resolve_gate(RunConfig.from_dict({"gate": gate}), headless).to_dict()
    return check_resumable(run_dir, identity, config, toy_stream(2, 1), allow_changes=())


def test_a_default_written_out_is_the_same_setting(tmp_path) -> None:
    run_dir, identity = _record(tmp_path, {"kind": "litelora-v3"})
    assert _resume(run_dir, identity, {"kind": "litelora-v3", "params": {"unsolved": "carried", "novelty": 0.1}}) \
        is identity  # nothing changed: nothing rewritten


def test_a_headless_run_started_on_the_carried_reading_is_refused_by_name(tmp_path) -> None:
    """Recorded before auto read chance without a head: resuming with auto would switch readings
    mid-run, so it is refused by the field, and naming the run's reading continues it."""
    run_dir, identity = _record(tmp_path, {"kind": "litelora-v3"})
    with pytest.raises(ConfigError, match=r"\['gate\.params\.unsolved'\] differ .*run\.json: gate\.params\.unsolved='carried'\); set them back"):
        _resume(run_dir, identity, {}, headless=True)
    assert _resume(run_dir, identity, {"params": {"unsolved": "carried"}}, headless=True) is identity


def test_a_recorded_auto_resumes_as_the_gate_it_ran(tmp_path) -> None:
    """A trainer built directly once recorded gate.kind auto, which then meant litelora-v3 reading
    carried whatever the model; a classifier run resumes, a headless one is refused by name."""
    run_dir, identity = _record(tmp_path, {})
    assert identity["config"]["gate"]["kind"] == "auto"
    assert _resume(run_dir, identity, {}) is identity
    with pytest.raises(ConfigError, match=r"gate\.params\.unsolved"):
        _resume(run_dir, identity, {}, headless=True)


def test_a_changed_gate_setting_is_still_refused(tmp_path) -> None:
    run_dir, identity = _record(tmp_path, {"kind": "litelora-v3"})
    with pytest.raises(ConfigError, match=r"\['gate\.params\.novelty'\]"):
        _resume(run_dir, identity, {"kind": "litelora-v3", "params": {"novelty": 0.2}})


def test_a_changed_gate_kind_is_one_change(tmp_path) -> None:
    """Across kinds the defaults of either gate are not changes: allowing gate.kind covers it, and a
    param the user wrote is still named."""
    run_dir, identity = _record(tmp_path, {"kind": "litelora-v2"})
    with pytest.raises(ConfigError, match=r"config fields \['gate\.kind'\] differ .*gate\.kind='litelora-v2'"):
        _resume(run_dir, identity, {"kind": "litelora-v3"})
    config = RunConfig.from_dict({"gate": {"kind": "litelora-v3"}}).to_dict()
    resumed = check_resumable(run_dir, identity, config, toy_stream(2, 1), allow_changes=("gate.kind",))
    assert resumed["changes"] == [{"fields": ["gate.kind"]}]
    config = RunConfig.from_dict({"gate": {"kind": "litelora-v3", "params": {"novelty": 0.2}}}).to_dict()
    with pytest.raises(ConfigError, match=r"\['gate\.params\.novelty'\]"):
        check_resumable(run_dir, identity, config, toy_stream(2, 1), allow_changes=("gate.kind",))


def test_allow_change_accepts_a_gate_param_left_at_its_default(tmp_path) -> None:
    """A refusal may name a default the new config leaves out; --allow-change takes that name."""
    run_dir, identity = _record(tmp_path, {"kind": "litelora-v3", "params": {"unsolved": "chance"}})
    config = RunConfig.from_dict({"gate": {"kind": "litelora-v3"}}).to_dict()
    with pytest.raises(ConfigError, match=r"gate\.params\.unsolved='chance'"):
        check_resumable(run_dir, identity, config, toy_stream(2, 1), allow_changes=())
    check_allowed_names(["gate.params.unsolved"], config)
    check_resumable(run_dir, identity, config, toy_stream(2, 1), allow_changes=("gate.params.unsolved",))
    with pytest.raises(ConfigError, match=r"'gate\.params\.unsolve': not a config field; did you mean 'gate\.params\.unsolved'"):
        check_allowed_names(["gate.params.unsolve"], config)


def test_a_recorded_auto_with_a_retired_field_is_refused_by_name(tmp_path) -> None:
    """Resolving a recorded auto gate reads the method and gate only: a field retired since elsewhere
    is named by the comparison instead of failing the resume check itself."""
    run_dir, identity = _record(tmp_path, {})
    identity["config"]["train"]["retired_field"] = 1
    with pytest.raises(ConfigError, match=r"config fields \['train\.retired_field'\] differ .*retired_field=1"):
        _resume(run_dir, identity, {})
