"""``--resume`` continues the run it names and no other: a config, data or checkpoint that differs
from what the run was started on (``run.json``) is refused by field name, or accepted with
``--allow-change FIELD`` where continuing is sound; a forged or foreign checkpoint is skipped."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from hostile import assert_clean_error, fingerprint, resumed_from, run_cli

STEPS = ["--set", "gate.kind=none", "--set", "model.name=tiny-bert", "--set", "train.max_steps_per_task=3",
         "--set", "train.checkpoint_every=1",
         "--set", "train.log_every=2"]


def _write_task(root: Path, name: str, labels: tuple[str, str], texts: str = "item") -> None:
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    rows = "".join(json.dumps({"text": f"{w} {texts} {i}", "label": w}) + "\n" for i in range(4) for w in labels)
    (folder / "train.jsonl").write_text(rows)
    (folder / "test.jsonl").write_text(rows)


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    from litelora.cli.main import main

    base = tmp_path_factory.mktemp("resume")
    _write_task(base / "data", "news", ("markets", "sport"))
    _write_task(base / "data", "reviews", ("good", "bad"))
    run = base / "run"
    assert main(["train", "--no-progress", "-o", str(run), "--set", "benchmark.name=files",
                 "--set", f"benchmark.data_root={base / 'data'}", *STEPS]) == 0
    return base


@pytest.fixture
def run(finished, tmp_path) -> Path:
    shutil.copytree(finished / "data", tmp_path / "data")
    shutil.copytree(finished / "run", tmp_path / "run", symlinks=True)
    config = tmp_path / "run" / "config.yaml"  # the copy reads the copied data
    config.write_text(config.read_text().replace(str(finished / "data"), str(tmp_path / "data")))
    identity = tmp_path / "run" / "run.json"
    identity.write_text(identity.read_text().replace(str(finished / "data"), str(tmp_path / "data")))
    return tmp_path / "run"


def _resume(capsys, run: Path, *extra: str) -> tuple[int, str]:
    return run_cli(capsys, "train", "--no-progress", "--resume", str(run), *extra)


def _edit_config(run: Path, old: str, new: str) -> None:
    path = run / "config.yaml"
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new, 1))


# ----------------------------------------------------------------- config edited between kill and resume
CONFIG_EDITS = [
    ("  lr: 0.001\n", "  lr: 0.002\n", "train.lr"),
    ("epochs: 2.0", "epochs: 3.0", "train.epochs"),
    ("seed: 0\n  log_every", "seed: 7\n  log_every", "train.seed"),
    ("r: 8", "r: 4", "adapter.r"),
    ("max_steps_per_task: 3", "max_steps_per_task: 5", "train.max_steps_per_task"),
    ("name: inclora", "name: seqlora", "method.name"),
    ("log_every: 2", "log_every: 5", None),  # logging may always change
]


@pytest.mark.parametrize(("old", "new", "field"), CONFIG_EDITS, ids=[c[2] or "same" for c in CONFIG_EDITS])
def test_an_edited_config_is_refused_by_name_and_allowed_by_name(run, capsys, old, new, field) -> None:
    _edit_config(run, old, new)
    if field is None:
        code, err = _resume(capsys, run)
        assert code == 0, err
        return
    before = fingerprint(run)
    assert_clean_error(*_resume(capsys, run), rf"config fields \['{field}'\] differ from the config the run was "
                                              rf"started on \(run\.json: {field}=.+\).*--allow-change FIELD", "train")
    assert fingerprint(run) == before
    code, err = _resume(capsys, run, "--allow-change", field)
    assert code == 0, err
    recorded = json.loads((run / "run.json").read_text())
    assert recorded["changes"][-1]["fields"] == [field]
    code, err = _resume(capsys, run)  # the allowed change is now what the run continues with
    assert code == 0, err


def test_a_changed_benchmark_seed_cannot_be_allowed_into_a_new_class_order(tmp_path, capsys) -> None:
    run = tmp_path / "run"
    tiny = ["--set", "benchmark.name=tiny-text", "--set", "benchmark.options.num_tasks=2", *STEPS]
    assert run_cli(capsys, "train", "--no-progress", "-o", str(run), *tiny)[0] == 0
    _edit_config(run, "seed: 0\n  class_order", "seed: 5\n  class_order")
    assert_clean_error(*_resume(capsys, run), r"config fields \['benchmark\.seed'\] differ", "train")
    assert_clean_error(*_resume(capsys, run, "--allow-change", "benchmark.seed"),
                       r"the task stream's stream\.class_order differ .*cannot continue", "train")


def test_allow_change_names_must_be_fields(run, capsys) -> None:
    assert_clean_error(*_resume(capsys, run, "--allow-change", "train.lrr"),
                       r"--allow-change 'train\.lrr': not a config field; did you mean 'train\.lr'\?", "train")
    assert_clean_error(*_resume(capsys, run, "--allow-change", "stream.everything"),
                       r"--allow-change 'stream\.everything': not a config field", "train")


# ----------------------------------------------------------------- data changed between kill and resume
def _swap_labels(data: Path) -> None:
    path = data / "news" / "train.jsonl"
    path.write_text(path.read_text().replace("markets", "@").replace('"sport"', '"markets"').replace("@", "sport"))


DATA_EDITS = [
    ("labels swapped", _swap_labels, r"stream\.data\.news differ", "stream.data"),
    ("rows cut", lambda d: (d / "news" / "test.jsonl").write_text(
        "".join((d / "news" / "test.jsonl").read_text().splitlines(keepends=True)[:4])),
     r"stream\.data\.news differ", "stream.data"),
    ("a text edited", lambda d: (d / "reviews" / "train.jsonl").write_text(
        (d / "reviews" / "train.jsonl").read_text().replace("good item 0", "good item zero")),
     r"stream\.data\.reviews differ", "stream.data"),
    ("a class renamed", lambda d: [(d / "reviews" / s).write_text((d / "reviews" / s).read_text().replace(
        '"bad"', '"awful"')) for s in ("train.jsonl", "test.jsonl")], r"stream\.class_names differ",
     "stream.class_names"),
]


@pytest.mark.parametrize(("edit", "needle", "allow"), [c[1:] for c in DATA_EDITS], ids=[c[0] for c in DATA_EDITS])
def test_changed_data_is_refused_by_name_and_allowed_by_name(run, capsys, edit, needle, allow) -> None:
    edit(run.parent / "data")
    before = fingerprint(run)
    assert_clean_error(*_resume(capsys, run), needle + r" from what the run was started on \(run\.json\).*"
                       r"--allow-change stream\.data", "train")
    assert fingerprint(run) == before
    code, err = _resume(capsys, run, "--allow-change", allow)
    assert code == 0, err


STREAM_EDITS = [
    ("a task added", lambda d: _write_task(d, "alpha", ("x", "y")), r"stream\.task_order, stream\.classes"),
    ("a task removed", lambda d: shutil.rmtree(d / "reviews"), r"stream\.task_order, stream\.classes"),
    ("a class added", lambda d: _write_task(d, "news", ("markets", "sport", "weather")), r"stream\.classes"),
]


@pytest.mark.parametrize(("edit", "needle"), [c[1:] for c in STREAM_EDITS], ids=[c[0] for c in STREAM_EDITS])
def test_a_changed_task_order_or_class_set_is_refused_even_when_allowed(run, capsys, edit, needle) -> None:
    edit(run.parent / "data")
    for extra in ([], ["--allow-change", "stream.data", "--allow-change", "stream.class_names"]):
        assert_clean_error(*_resume(capsys, run, *extra), needle + r".* the trained model cannot continue", "train")


# ----------------------------------------------------------------- checkpoints checked against their run
def _ckpts(run: Path) -> list[Path]:
    return sorted((run / "checkpoints").glob("ckpt-*"))


def _forge_state(ckpt: Path, edit: Callable[[dict], None]) -> None:
    """Edit a checkpoint's state.json and recompute its manifest digest, as a careful forger would."""
    state = json.loads((ckpt / "state.json").read_text())
    edit(state)
    (ckpt / "state.json").write_text(json.dumps(state))
    manifest = json.loads((ckpt / "manifest.json").read_text())
    manifest["files"]["state.json"] = hashlib.sha256((ckpt / "state.json").read_bytes()).hexdigest()
    (ckpt / "manifest.json").write_text(json.dumps(manifest))


def _progress(field: str, value: object) -> Callable[[dict], None]:
    return lambda s: s["start"]["progress"].__setitem__(field, value)


def _live_step(value: object) -> Callable[[dict], None]:
    return lambda s: s.__setitem__("live", {**(s["live"] or {}), "step": value})


FORGED = [
    ("next_task 99", _progress("next_task", 99), r"next_task=99 is outside this run's tasks 0\.\.2"),
    ("next_task -1", _progress("next_task", -1), r"next_task=-1 is outside"),
    ("next_task text", _progress("next_task", "2"), r"next_task='2' is outside"),
    ("matrix 1x1", _progress("R", [[0.0]]), r"accuracy matrix is not 2x2"),
    ("times cut", _progress("wall", []), r"records 0 task times for \d finished tasks"),
    ("live step 0", _live_step(0), r"mid-task step 0 is outside"),
    ("live step 99", _live_step(99), r"mid-task step 99 is outside"),
    ("no progress", lambda s: s.pop("start"), r"its state lacks the run's progress"),
    ("another run", lambda s: s.__setitem__("run", {**s["run"], "id": "0" * 32}),
     r"belongs to another run \(run id 0{32}"),
]


@pytest.mark.parametrize(("edit", "needle"), [c[1:] for c in FORGED], ids=[c[0] for c in FORGED])
def test_a_checkpoint_with_recomputed_digests_is_checked_against_the_run(run, capsys, edit, needle) -> None:
    for ckpt in _ckpts(run):
        _forge_state(ckpt, edit)
    before = fingerprint(run)
    with pytest.warns(UserWarning, match="skipping checkpoint"):
        code, err = _resume(capsys, run)
    assert_clean_error(code, err, r"no intact checkpoint .*" + needle + r".*nothing was deleted", "train")
    assert fingerprint(run) == before


def test_one_forged_checkpoint_falls_back_to_the_one_before(run, capsys) -> None:
    previous, newest = _ckpts(run)[-2:]
    _forge_state(newest, _progress("next_task", 99))
    with pytest.warns(UserWarning, match=r"skipping checkpoint: ckpt-\d+: next_task=99"):
        code, err = _resume(capsys, run)
    assert code == 0, err
    assert resumed_from(run) == previous.name


def test_a_checkpoint_copied_from_another_run_with_its_number_edited_is_refused(run, tmp_path, capsys) -> None:
    other = tmp_path / "other"
    shutil.copytree(run, other)
    (other / "run.json").write_text(json.dumps({**json.loads((other / "run.json").read_text()), "run_id": "f" * 32}))
    for ckpt in _ckpts(other):  # the other run's checkpoints carry its id
        _forge_state(ckpt, lambda s: s["run"].__setitem__("id", "f" * 32))
    foreign = _ckpts(other)[-1]
    seq = len(_ckpts(run)) + 50
    target = run / "checkpoints" / f"ckpt-{seq:08d}"
    shutil.copytree(foreign, target)
    _forge_state(target, lambda s: None)
    manifest = json.loads((target / "manifest.json").read_text())
    (target / "manifest.json").write_text(json.dumps({**manifest, "seq": seq}))
    own = _ckpts(run)[-2].name  # the run's newest own checkpoint: the foreign one sorts after it
    with pytest.warns(UserWarning, match=r"belongs to another run \(run id f{32}"):
        code, err = _resume(capsys, run)
    assert code == 0, err
    assert resumed_from(run) == own  # the run's own checkpoint before it is used


RUN_FILE_DAMAGE = [
    ("not json", lambda r: (r / "run.json").write_text("{"), r"run\.json: unreadable .*--force"),
    ("a list", lambda r: (r / "run.json").write_text("[]"), r"run\.json: unreadable"),
    ("no run id", lambda r: (r / "run.json").write_text('{"config": {}, "stream": {}}'), r"run\.json: unreadable"),
    ("not utf-8", lambda r: (r / "run.json").write_bytes(b"\xff\xfe"), r"run\.json: unreadable"),
]


@pytest.mark.parametrize("damage", [c[1] for c in RUN_FILE_DAMAGE], ids=[c[0] for c in RUN_FILE_DAMAGE])
def test_a_damaged_run_record_is_refused_by_name(run, capsys, damage) -> None:
    damage(run)
    assert_clean_error(*_resume(capsys, run), r"run\.json: unreadable", "train")


def test_a_deleted_run_record_leaves_no_checkpoint_to_trust(run, capsys) -> None:
    (run / "run.json").unlink()
    with pytest.warns(UserWarning, match="skipping checkpoint"):
        code, err = _resume(capsys, run)
    assert_clean_error(code, err, r"no intact checkpoint .*it records run [0-9a-f]{32}, but the run directory has "
                                  r"no run\.json", "train")
