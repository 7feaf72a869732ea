"""Hostile run directories: links, forged manifests, damaged or foreign tensors and JSON. Each
case is a one-line error naming the file (or, where a fallback is the designed answer, a clean
run), and nothing outside the run directory is read into the model, written or deleted."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from hostile import assert_clean_error, edit_tensors, fingerprint, resumed_from, run_cli

from litelora.reporting.run_dir import RunLock

TRAIN = ["--set", "benchmark.name=tiny-text", "--set", "model.name=tiny-bert", "--set", "train.max_steps_per_task=2",
         "--set", "benchmark.options.num_tasks=2"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("finished") / "run"
    from litelora.cli.main import main

    assert main(["train", "--no-progress", "-o", str(run), *TRAIN]) == 0
    return run


@pytest.fixture
def run(finished, tmp_path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(finished, copy, symlinks=True)
    return copy


@pytest.fixture
def outside(tmp_path) -> Path:
    """A folder beside the run that no command may touch; holds a file and a fake checkpoint."""
    out = tmp_path / "outside"
    (out / "ckpt-00000001").mkdir(parents=True)
    (out / "ckpt-00000001" / "unrelated.txt").write_text("keep me")
    (out / "secret.txt").write_text("secret")
    return out


def _link(path: Path, target: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
    path.symlink_to(target)


def _edit_json(path: Path, edit: Callable[[object], object]) -> None:
    path.write_text(json.dumps(edit(json.loads(path.read_text()))))


def _first(tensors: dict[str, torch.Tensor], suffix: str) -> str:
    return sorted(k for k in tensors if k.endswith(suffix))[0]


def _set_first_adapter(field: str, value: object) -> Callable[[object], object]:
    def edit(desc):
        entry = next(iter(desc["targets"].values()))
        entry["adapters"][0][field] = value
        return desc
    return edit


# ----------------------------------------------------------------- links out of the run directory
LINKS = [
    # (what becomes a link, to what under outside/, command, needle)
    ("adapters", ".", ["train", "--no-progress", "--resume", "{run}"], r"adapters is a symbolic link"),
    ("adapters", ".", ["eval", "{run}"], r"adapters is a symbolic link"),
    ("adapters", ".", ["export", "{run}", "{tmp}/exp"], r"adapters is a symbolic link"),
    ("adapters/adapters.safetensors", "secret.txt", ["eval", "{run}"], r"adapters\.safetensors is a symbolic link"),
    ("adapters/bank.json", "secret.txt", ["eval", "{run}"], r"bank\.json is a symbolic link"),
    ("adapters/bank.json", "secret.txt", ["analyze", "{run}"], r"bank\.json is a symbolic link"),
    ("head", ".", ["eval", "{run}"], r"head is a symbolic link"),
    ("head", ".", ["export", "{run}", "{tmp}/exp"], r"head is a symbolic link"),
    ("head/head.json", "secret.txt", ["eval", "{run}"], r"head\.json is a symbolic link"),
    ("head/head.safetensors", "secret.txt", ["eval", "{run}"], r"head\.safetensors is a symbolic link"),
    ("analysis", ".", ["analyze", "{run}"], r"analysis is a symbolic link"),
    ("report", ".", ["report", "{run}"], r"report is a symbolic link"),
    ("checkpoints", ".", ["train", "--no-progress", "--resume", "{run}"], r"checkpoints is a symbolic link"),
    ("events.jsonl", "secret.txt", ["train", "--no-progress", "--resume", "{run}"], r"events\.jsonl is a symbolic"),
    ("config.yaml", "secret.txt", ["eval", "{run}"], r"config\.yaml is a symbolic link"),
    ("config.yaml", "secret.txt", ["train", "--no-progress", "--resume", "{run}"], r"config\.yaml is a symbolic"),
    ("results.json", "secret.txt", ["eval", "{run}"], r"results\.json is a symbolic link"),
    ("stream.json", "secret.txt", ["train", "--no-progress", "--force", "-o", "{run}", *TRAIN], None),
    (".lock", "secret.txt", ["train", "--no-progress", "--resume", "{run}"], r"\.lock is a symbolic link"),
]


@pytest.mark.parametrize(("name", "target", "argv", "needle"), LINKS,
                         ids=[f"{n}->{a[0]}" for n, _, a, _ in LINKS])
def test_links_inside_a_run_are_never_followed(run, outside, tmp_path, capsys, name, target, argv, needle) -> None:
    _link(run / name, outside / target)
    before = fingerprint(outside)
    code, err = run_cli(capsys, *[a.format(run=run, tmp=tmp_path) for a in argv])
    if needle is None:  # --force deletes the link itself, never what it points to
        assert code == 0, err
        assert not (run / name).is_symlink()
    else:
        assert_clean_error(code, err, needle, argv[0])
    assert fingerprint(outside) == before


def test_force_removes_a_linked_checkpoints_folder_not_its_target(run, outside, capsys) -> None:
    _link(run / "checkpoints", outside)
    before = fingerprint(outside)
    code, err = run_cli(capsys, "train", "--no-progress", "--force", "-o", str(run), *TRAIN)
    assert code == 0, err
    assert fingerprint(outside) == before
    assert (run / "checkpoints").is_dir() and not (run / "checkpoints").is_symlink()


def test_a_linked_checkpoint_folder_is_skipped_for_the_intact_one(run, outside, capsys) -> None:
    newest = sorted((run / "checkpoints").glob("ckpt-*"))[-1]
    _link(newest, outside / "ckpt-00000001")
    before = fingerprint(outside)
    code, err = run_cli(capsys, "train", "--no-progress", "--resume", str(run))
    assert code == 0, err
    assert fingerprint(outside) == before


# ----------------------------------------------------------------- forged or damaged checkpoints
def _ckpts(run: Path) -> list[Path]:
    return sorted((run / "checkpoints").glob("ckpt-*"))


def _forge_manifest(name_of: Callable[[Path, Path], str]) -> Callable[[Path, Path], None]:
    """Point every checkpoint's manifest entry for state.json at ``name_of(ckpt, outside)``,
    with the digest of the file it names, so only the name check can stop it."""
    import hashlib

    def forge(run: Path, outside: Path) -> None:
        for ckpt in _ckpts(run):
            manifest = json.loads((ckpt / "manifest.json").read_text())
            name = name_of(ckpt, outside)
            target = (ckpt / name) if not os.path.isabs(name) else Path(name)
            manifest["files"][name] = hashlib.sha256(target.read_bytes()).hexdigest()
            (ckpt / "manifest.json").write_text(json.dumps(manifest))
    return forge


def _all_manifests(edit: Callable[[dict], object]) -> Callable[[Path, Path], None]:
    def apply(run: Path, outside: Path) -> None:
        for ckpt in _ckpts(run):
            path = ckpt / "manifest.json"
            path.write_text(json.dumps(edit(json.loads(path.read_text()))))
    return apply


def _all_files(name: str, data: bytes) -> Callable[[Path, Path], None]:
    def apply(run: Path, outside: Path) -> None:
        for ckpt in _ckpts(run):
            (ckpt / name).write_bytes(data)
    return apply


def _rel_outside(ckpt: Path, outside: Path) -> str:
    return os.path.relpath(outside / "secret.txt", ckpt)


CHECKPOINTS = [
    ("relative name out", _forge_manifest(_rel_outside), r"is not a plain file name"),
    ("absolute name", _forge_manifest(lambda c, o: str(o / "secret.txt")), r"is not a plain file name"),
    ("hidden name", _forge_manifest(lambda c, o: "../" + c.name + "/state.json"), r"is not a plain file name"),
    ("manifest not json", _all_files("manifest.json", b"{not json"), r"unreadable manifest"),
    ("manifest a list", _all_manifests(lambda m: [m]), r"unreadable manifest"),
    ("manifest files a list", _all_manifests(lambda m: {**m, "files": list(m["files"])}), r"unreadable manifest"),
    ("manifest seq differs", _all_manifests(lambda m: {**m, "seq": m["seq"] + 100}), r"unreadable manifest"),
    ("manifest lists no state", _all_manifests(lambda m: {**m, "files": {}}), r"lists no state\.json"),
    ("state damaged", _all_files("state.json", b"{}garbage"), r"checksum mismatch"),
    ("manifest missing", lambda run, o: [(c / "manifest.json").unlink() for c in _ckpts(run)],
     r"incomplete checkpoint"),
]


@pytest.mark.parametrize(("damage", "needle"), [c[1:] for c in CHECKPOINTS], ids=[c[0] for c in CHECKPOINTS])
def test_resume_refuses_when_no_checkpoint_is_intact_and_deletes_nothing(run, outside, capsys, damage,
                                                                         needle) -> None:
    damage(run, outside)
    before_run, before_out = fingerprint(run), fingerprint(outside)
    with pytest.warns(UserWarning, match="skipping checkpoint"):
        code, err = run_cli(capsys, "train", "--no-progress", "--resume", str(run))
    assert_clean_error(code, err, r"no intact checkpoint .*" + needle + r".*nothing was deleted", "train")
    assert fingerprint(run) == before_run and fingerprint(outside) == before_out


def test_one_forged_checkpoint_falls_back_to_the_intact_one(run, outside, capsys) -> None:
    previous, newest = _ckpts(run)[-2:]
    manifest = json.loads((newest / "manifest.json").read_text())
    manifest["files"]["../../../outside/secret.txt"] = manifest["files"]["state.json"]
    (newest / "manifest.json").write_text(json.dumps(manifest))
    with pytest.warns(UserWarning, match="not a plain file name"):
        code, err = run_cli(capsys, "train", "--no-progress", "--resume", str(run))
    assert code == 0, err
    assert resumed_from(run) == previous.name


# ----------------------------------------------------------------- damaged or foreign contents
def _bank(run: Path) -> Path:
    return run / "adapters" / "adapters.safetensors"


def _header_claiming(size: int) -> bytes:
    header = json.dumps({"x": {"dtype": "F32", "shape": [size], "data_offsets": [0, 4 * size]}}).encode()
    return len(header).to_bytes(8, "little") + header + b"\0" * 16


CONTENTS = [
    ("lora_A one row", lambda r: edit_tensors(_bank(r), lambda t: t.__setitem__(
        _first(t, "lora_A"), t[_first(t, "lora_A")][:1].clone())), ["eval"], r"has shape \(1, \d+\), expected \(\d+, \d+\)"),
    ("lora_B transposed", lambda r: edit_tensors(_bank(r), lambda t: t.__setitem__(
        _first(t, "lora_B"), t[_first(t, "lora_B")].T.contiguous())), ["eval"], r"lora_B' has shape"),
    ("lora_A NaN", lambda r: edit_tensors(_bank(r), lambda t: t[_first(t, "lora_A")].fill_(float("nan"))),
     ["eval"], r"holds NaN or infinite values"),
    ("magnitude inf", lambda r: edit_tensors(_bank(r), lambda t: t[_first(t, "magnitude")].fill_(float("inf"))),
     ["eval"], r"magnitude' holds NaN or infinite"),
    ("magnitude missing", lambda r: edit_tensors(_bank(r), lambda t: t.pop(_first(t, "magnitude"))),
     ["eval"], r"magnitude' is missing"),
    ("lora_A integer", lambda r: edit_tensors(_bank(r), lambda t: t.__setitem__(
        _first(t, "lora_A"), t[_first(t, "lora_A")].long())), ["eval"], r"expected a floating-point type"),
    ("bank truncated", lambda r: _bank(r).write_bytes(_bank(r).read_bytes()[:100]), ["eval"],
     r"adapters\.safetensors: not a readable safetensors file"),
    ("bank empty", lambda r: _bank(r).write_bytes(b""), ["eval"], r"not a readable safetensors file"),
    ("bank huge header", lambda r: _bank(r).write_bytes(_header_claiming(10**10)), ["eval"],
     r"not a readable safetensors file"),
    ("bank truncated analyze", lambda r: _bank(r).write_bytes(b"\0" * 8), ["analyze"],
     r"not a readable safetensors file"),
    ("lora_A NaN analyze", lambda r: edit_tensors(_bank(r), lambda t: t[_first(t, "lora_A")].fill_(float("nan"))),
     ["analyze"], r"holds NaN or infinite values"),
    ("bank.json a list", lambda r: _edit_json(r / "adapters/bank.json", lambda d: [d]), ["eval"],
     r"bank\.json: expected an object with 'config', 'targets' and 'tasks'"),
    ("bank.json no targets", lambda r: _edit_json(r / "adapters/bank.json", lambda d: {"config": d["config"],
                                                                                        "tasks": d["tasks"]}),
     ["eval"], r"bank\.json: expected an object"),
    ("bank.json huge rank", lambda r: _edit_json(r / "adapters/bank.json", _set_first_adapter("r", 10**9)),
     ["eval"], r"r=1000000000 is above the largest supported rank"),
    ("bank.json rank string", lambda r: _edit_json(r / "adapters/bank.json", _set_first_adapter("r", "eight")),
     ["eval"], r"must be a positive integer rank"),
    ("bank.json huge rank analyze", lambda r: _edit_json(r / "adapters/bank.json", _set_first_adapter("r", 10**9)),
     ["analyze"], r"above the largest supported rank"),
    ("bank.json scale NaN", lambda r: _edit_json(r / "adapters/bank.json", _set_first_adapter("scale", float("nan"))),
     ["eval"], r"scale must be a finite number"),
    ("bank.json task id negative", lambda r: _edit_json(r / "adapters/bank.json", _set_first_adapter("task_id", -1)),
     ["eval"], r"bad name or task_id"),
    ("bank.json adapter lacks r", lambda r: _edit_json(r / "adapters/bank.json", lambda d: (
        next(iter(d["targets"].values()))["adapters"][0].pop("r"), d)[1]), ["eval"], r"lacks name, r, scale"),
    ("bank.json not json", lambda r: (r / "adapters/bank.json").write_text("{"), ["eval"],
     r"bank\.json: cannot be read as JSON"),
    ("bank.json foreign target", lambda r: _edit_json(r / "adapters/bank.json", lambda d: {
        **d, "targets": {"no.such.module": next(iter(d["targets"].values()))}}), ["eval"], r"do not exist in this model"),
    ("bank.json config rank 0", lambda r: _edit_json(r / "adapters/bank.json", lambda d: {
        **d, "config": {**d["config"], "r": 0}}), ["eval"], r"bank\.json: .*r must be a positive integer rank"),
    ("bank.json config unknown key", lambda r: _edit_json(r / "adapters/bank.json", lambda d: {
        **d, "config": {**d["config"], "evil": 1}}), ["eval"], r"'config' is not an adapter config"),
    ("bank.json tasks not ints", lambda r: _edit_json(r / "adapters/bank.json", lambda d: {**d, "tasks": ["a"]}),
     ["eval"], r"'tasks' must be a list of non-negative task ids"),
    ("head class ids foreign", lambda r: _edit_json(r / "head/head.json", lambda h: {
        **h, "blocks": [[99, 100]] + h["blocks"][1:]}), ["eval"], r"class id \d+ is not a class of this benchmark"),
    ("head duplicate ids", lambda r: _edit_json(r / "head/head.json", lambda h: {
        **h, "blocks": [h["blocks"][0], h["blocks"][0]]}), ["eval"], r"a class id appears in two head blocks"),
    ("head negative id", lambda r: _edit_json(r / "head/head.json", lambda h: {**h, "blocks": [[-1, 0]]}),
     ["eval"], r"class ids must be non-negative integers"),
    ("head blocks not lists", lambda r: _edit_json(r / "head/head.json", lambda h: {**h, "blocks": 5}),
     ["eval"], r"blocks must be a list of non-empty lists"),
    ("head feature_dim", lambda r: _edit_json(r / "head/head.json", lambda h: {**h, "feature_dim": 7}),
     ["eval"], r"feature_dim 7 does not match this model's"),
    ("head.json a list", lambda r: _edit_json(r / "head/head.json", lambda h: [h]), ["eval"],
     r"head\.json: expected an object with 'blocks'"),
    ("head.json not json", lambda r: (r / "head/head.json").write_text("nope"), ["eval"],
     r"head\.json: cannot be read as JSON"),
    ("head one row", lambda r: edit_tensors(r / "head/head.safetensors", lambda t: t.__setitem__(
        "blocks.0.weight", t["blocks.0.weight"][:1].clone())), ["eval"], r"blocks\.0\.weight' has shape \(1, \d+\)"),
    ("head bias missing", lambda r: edit_tensors(r / "head/head.safetensors", lambda t: t.pop("blocks.0.bias")),
     ["eval"], r"blocks\.0\.bias' is missing"),
    ("head NaN", lambda r: edit_tensors(r / "head/head.safetensors", lambda t: t["blocks.0.weight"].fill_(
        float("nan"))), ["eval"], r"holds NaN or infinite values"),
    ("head truncated", lambda r: (r / "head/head.safetensors").write_bytes(b"\x10"), ["eval"],
     r"head\.safetensors: not a readable safetensors file"),
    ("config not yaml", lambda r: (r / "config.yaml").write_text("model: [\n"), ["eval"], r"is not valid YAML"),
    ("config unknown field", lambda r: (r / "config.yaml").write_text("modle: {}\n"), ["eval"],
     r"modle: unknown field; did you mean 'model'\?"),
    ("config duplicate key", lambda r: (r / "config.yaml").write_text("model: {}\nmodel: {}\n"), ["eval"],
     r"key 'model' appears twice"),
    ("config hub model", lambda r: (r / "config.yaml").write_text(
        (r / "config.yaml").read_text().replace("name: tiny-bert", "name: hf:evil-org/evil-model")), ["eval"],
     r"model\.name='hf:evil-org/evil-model' is not on this machine.*--allow-download"),
    ("config hub model export", lambda r: (r / "config.yaml").write_text(
        (r / "config.yaml").read_text().replace("name: tiny-bert", "name: hf:evil-org/evil-model")),
     ["export", "{tmp}/exp"], r"is not on this machine.*--allow-download"),
    ("unfinished eval", lambda r: (r / "results.json").unlink(), ["eval"], r"has not finished .*--resume"),
    ("unfinished export", lambda r: (r / "results.json").unlink(), ["export", "{tmp}/exp"], r"has not finished"),
    ("unfinished analyze", lambda r: (r / "results.json").unlink(), ["analyze"], r"has not finished .*--resume"),
    ("no config eval", lambda r: (r / "config.yaml").unlink(), ["eval"], r"holds no config\.yaml"),
    ("no config analyze", lambda r: (r / "config.yaml").unlink(), ["analyze"], r"holds no config\.yaml"),
    ("no config report", lambda r: (r / "config.yaml").unlink(), ["report"], r"not a litelora run directory"),
    ("no bank", lambda r: shutil.rmtree(r / "adapters"), ["eval"], r"bank\.json is missing"),
]


@pytest.mark.parametrize(("damage", "argv", "needle"), [c[1:] for c in CONTENTS], ids=[c[0] for c in CONTENTS])
def test_damaged_contents_are_refused_by_name(run, outside, tmp_path, capsys, damage, argv, needle) -> None:
    damage(run)
    before = fingerprint(outside)
    command, *rest = argv
    code, err = run_cli(capsys, command, str(run), *[a.format(tmp=tmp_path) for a in rest])
    assert_clean_error(code, err, needle, command)
    assert fingerprint(outside) == before
    assert not (tmp_path / "exp").exists()


# ----------------------------------------------------------------- overwriting, output paths, locks
# (export's own overwrite rules: test_hostile_outputs.py)
def test_training_into_a_finished_run_is_refused_and_leaves_it_as_it_was(run, capsys) -> None:
    before = fingerprint(run)
    code, err = run_cli(capsys, "train", "--no-progress", "-o", str(run), *TRAIN)
    assert_clean_error(code, err, r"is not empty .*--resume.*--force", "train")
    assert fingerprint(run) == before


def test_force_starts_over_with_checkpoint_numbers_from_one(run, capsys) -> None:
    (run / "checkpoints" / "ckpt-00000099").mkdir()  # a stray newer folder goes with the old run
    code, err = run_cli(capsys, "train", "--no-progress", "--force", "-o", str(run), *TRAIN)
    assert code == 0, err
    names = [p.name for p in _ckpts(run)]
    assert names == ["ckpt-00000001", "ckpt-00000002"]
    code, err = run_cli(capsys, "train", "--no-progress", "--resume", str(run))
    assert code == 0, err


def test_force_refuses_a_folder_that_holds_no_run(tmp_path, capsys) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "thesis.tex").write_text("precious")
    code, err = run_cli(capsys, "train", "--no-progress", "--force", "-o", str(folder), *TRAIN)
    assert_clean_error(code, err, r"holds no litelora run .*--force only clears run directories", "train")
    assert (folder / "thesis.tex").read_text() == "precious"


def test_output_paths_that_cannot_be_folders(tmp_path, capsys) -> None:
    file = tmp_path / "file"
    file.write_text("x")
    assert_clean_error(*run_cli(capsys, "train", "--no-progress", "-o", str(file), *TRAIN), r"is a file", "train")
    assert_clean_error(*run_cli(capsys, "train", "--no-progress", "-o", str(file / "run"), *TRAIN),
                       r"file/run: Not a directory", "train")
    assert file.read_text() == "x"


def test_a_fresh_run_killed_before_its_first_checkpoint_restarts_on_resume(run, capsys) -> None:
    for name in ("checkpoints", "adapters", "head"):
        shutil.rmtree(run / name)
    for name in ("results.json", "accuracy_matrix.csv"):
        (run / name).unlink()
    code, err = run_cli(capsys, "train", "--no-progress", "--resume", str(run))
    assert code == 0, err
    assert (run / "results.json").is_file()


def test_a_torn_event_line_hides_nothing_after_it(run) -> None:
    from litelora.reporting import RunDirectory

    events = run / "events.jsonl"
    lines = events.read_text().splitlines()
    events.write_text("\n".join([*lines[:3], '{"event": "tr', *lines[3:]]) + "\n")
    assert len(RunDirectory(run).events()) == len(lines)


def test_a_lock_left_by_a_dead_or_reused_pid_is_taken_over(tmp_path) -> None:
    lock = tmp_path / ".lock"
    lock.write_text("999999999")  # no such process
    with RunLock(tmp_path):
        assert lock.read_text().split()[0] == str(os.getpid())
    lock.write_text("1 12345")  # pid 1 runs, but it started at another time: the pid was reused
    with RunLock(tmp_path):
        pass


def test_a_lock_held_by_a_live_process_names_the_way_out(tmp_path) -> None:
    from litelora.errors import LiteLoraError
    from litelora.reporting.run_dir import _process_start

    started = _process_start(1)
    (tmp_path / ".lock").write_text(f"1 {started}" if started is not None else "1")
    with pytest.raises(LiteLoraError, match=r"being written by another run \(pid 1\).*delete .*\.lock"):
        with RunLock(tmp_path):
            pass
