"""Commands that read a run never write over it (``export``, ``report``, ``analyze``, ``compare``
outputs are checked against the run; ``export --force`` replaces only a previous export, whole, and a failed
export leaves it as it was), and ``report`` on damaged run files is a one-line error
naming the file, not an internal error."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hostile import assert_clean_error, edit_tensors, fingerprint, run_cli

TRAIN = ["--set", "benchmark.name=tiny-text", "--set", "model.name=tiny-bert", "--set", "train.max_steps_per_task=2",
         "--set", "benchmark.options.num_tasks=2"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    from litelora.cli.main import main

    run = tmp_path_factory.mktemp("outputs") / "run"
    assert main(["train", "--no-progress", "-o", str(run), *TRAIN]) == 0
    assert main(["analyze", str(run)]) == 0
    return run


@pytest.fixture
def run(finished, tmp_path) -> Path:
    shutil.copytree(finished, tmp_path / "run", symlinks=True)
    return tmp_path / "run"


INTO_THE_RUN = [
    (["export", "{run}", "{run}/adapters", "--force"], r"adapters is inside the run being exported"),
    (["export", "{run}", "{run}/head", "--force"], r"head is inside the run being exported"),
    (["export", "{run}", "{run}/checkpoints", "--force"], r"is inside the run being exported"),
    (["export", "{run}", "{run}/config.yaml", "--force"], r"config\.yaml is inside the run being exported"),
    (["export", "{run}", "{run}/new-folder"], r"new-folder is inside the run being exported"),
    (["export", "{run}", "{link}", "--force"], r"holds the run being exported"),
    (["export", "{run}", "{link}/adapters", "--force"], r"is inside the run being exported"),
    (["report", "{run}", "-o", "{run}/config.yaml"], r"is inside the run being reported .*leave the default"),
    (["report", "{run}", "-o", "{run}/adapters/page.html"], r"adapters/page\.html is inside the run being reported"),
    (["report", "{run}", "-o", "{run}/../run/results.html"], r"is inside the run being reported"),
    (["report", "{run}", "-o", ""], r"-o is empty; name the HTML file"),
    (["report", "{run}", "{other}", "-o", "{run}"], r"holds the run being compared"),
    (["report", "{run}", "{other}", "-o", "{other}/cmp"], r"cmp is inside the run being compared"),
    (["compare", "{run}", "{other}", "-o", "{run}/head"], r"head is inside the run being compared"),
    (["analyze", "{run}", "-o", "{run}"], r"holds the run being analysed"),
    (["analyze", "{run}", "-o", "{run}/adapters"], r"adapters is inside the run being analysed"),
]


@pytest.mark.parametrize(("argv", "needle"), INTO_THE_RUN, ids=[" ".join(a[:1] + a[2:3]) for a, _ in INTO_THE_RUN])
def test_no_command_writes_over_the_run_it_reads(run, tmp_path, capsys, argv, needle) -> None:
    other = tmp_path / "other"
    shutil.copytree(run, other, symlinks=True)
    (tmp_path / "link").symlink_to(run)
    before, before_other = fingerprint(run), fingerprint(other)
    args = [a.format(run=run, other=other, link=tmp_path / "link") for a in argv]
    assert_clean_error(*run_cli(capsys, *args), needle, argv[0])
    assert fingerprint(run) == before and fingerprint(other) == before_other


def test_the_commands_own_folders_in_the_run_stay_allowed(run, capsys) -> None:
    code, err = run_cli(capsys, "report", str(run), "-o", str(run / "report" / "custom.html"))
    assert code == 0, err
    assert (run / "report" / "custom.html").is_file() and (run / "report" / "data.json").is_file()
    code, err = run_cli(capsys, "analyze", str(run), "-o", str(run / "analysis" / "again"))
    assert code == 0, err


def test_an_export_removes_the_staging_folders_a_killed_export_left(run, tmp_path, capsys) -> None:
    out = tmp_path / "exp"
    for name in (".exp.abcd1234.tmp", ".exp.efgh5678.old"):
        (tmp_path / name / "x").mkdir(parents=True)
    (tmp_path / ".other.abcd1234.tmp").mkdir()  # another folder's: left alone
    code, err = run_cli(capsys, "export", str(run), str(out))
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == [".other.abcd1234.tmp"]


def _json(path: Path, value: object) -> None:
    path.write_text(json.dumps(value))


DAMAGED = [
    ("results.json", lambda r: (r / "results.json").write_text("{"), r"results\.json: not as litelora writes it "
                                                                     r"\(JSONDecodeError"),
    ("results.json", lambda r: _json(r / "results.json", []), r"results\.json: not as litelora writes it"),
    ("results.json", lambda r: _json(r / "results.json", {"metrics": {"active_adapters_per_task": "x"}}),
     r"results\.json: .*active_adapters_per_task"),
    ("results.json", lambda r: _json(r / "results.json", {"run_info": 5}), r"results\.json: not as"),
    ("results.json", lambda r: (r / "results.json").write_bytes(b"\xff\xfe"), r"results\.json: not as"),
    ("accuracy_matrix.csv", lambda r: (r / "accuracy_matrix.csv").write_text("a,b\nx,y\n"),
     r"accuracy_matrix\.csv: not as litelora writes it \(ValueError"),
    ("accuracy_matrix.csv", lambda r: (r / "accuracy_matrix.csv").write_bytes(b"after_task,task_0\n0,\xff\n"),
     r"accuracy_matrix\.csv: not as litelora writes it \(UnicodeDecodeError"),
    ("gates.json", lambda r: _json(r / "gates.json", [{"task": 0}]), r"gates\.json: not as litelora writes it"),
    ("gates.json", lambda r: _json(r / "gates.json", [1, 2]), r"gates\.json: not as litelora writes it"),
    ("gates.json", lambda r: _json(r / "gates.json", {"a": 1}), r"gates\.json: not as litelora writes it"),
    ("events.jsonl", lambda r: (r / "events.jsonl").write_text('{"event": "train", "loss": 1, "task": "x", '
                                                               '"step": 1}\n'), r"events\.jsonl: not as"),
    ("events.jsonl", lambda r: (r / "events.jsonl").write_text('{"event": "task_end"}\n'),
     r"events\.jsonl: not as litelora writes it \(KeyError"),
    ("analysis.json", lambda r: _json(r / "analysis" / "analysis.json", {"modules": {"a": 1}}),
     r"analysis\.json: not as litelora writes it"),
    ("analysis.json", lambda r: _json(r / "analysis" / "analysis.json", {"functional": [1]}),
     r"analysis\.json: not as litelora writes it"),
    ("analysis.json", lambda r: (r / "analysis" / "analysis.json").write_text("[" * 100_000),
     r"analysis\.json: not as litelora writes it"),
]


@pytest.mark.parametrize(("name", "damage", "needle"), DAMAGED, ids=[f"{n}-{i}" for i, (n, _, _) in
                                                                      enumerate(DAMAGED)])
def test_report_on_damaged_run_files_names_the_file(run, capsys, name, damage, needle) -> None:
    damage(run)
    assert_clean_error(*run_cli(capsys, "report", str(run)), needle, "report")


@pytest.mark.parametrize(("flag", "needle"), [("-o", r"-o is empty; name the run directory"),
                                              ("--resume", r"--resume is empty; name the run directory")])
def test_an_empty_run_directory_is_refused_not_defaulted(tmp_path, monkeypatch, capsys, flag, needle) -> None:
    monkeypatch.chdir(tmp_path)
    assert_clean_error(*run_cli(capsys, "train", "--no-progress", flag, "", *TRAIN), needle, "train")
    assert not any(tmp_path.iterdir())  # no ./runs/default


def test_export_with_force_replaces_the_whole_folder(run, tmp_path, capsys) -> None:
    out = tmp_path / "exp"
    assert run_cli(capsys, "export", str(run), str(out))[0] == 0
    assert (out / "adapter_config.json").is_file() and (out / "litelora_head" / "head.json").is_file()
    assert_clean_error(*run_cli(capsys, "export", str(run), str(out), "--format", "merged"),
                       r"is not empty; pass --force", "export")
    code, err = run_cli(capsys, "export", str(run), str(out), "--format", "merged", "--force")
    assert code == 0, err
    names = {p.name for p in out.iterdir()}
    assert "adapter_config.json" not in names and "adapter_model.safetensors" not in names
    assert "config.json" in names and (out / "litelora_head" / "head.safetensors").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".exp.")]  # no staging left behind


def test_export_into_the_run_itself_is_refused(run, capsys) -> None:
    before = fingerprint(run)
    assert_clean_error(*run_cli(capsys, "export", str(run), str(run), "--force"), r"holds the run being exported",
                       "export")
    assert_clean_error(*run_cli(capsys, "export", str(run), str(run.parent), "--force"),
                       r"holds the run being exported", "export")
    assert fingerprint(run) == before


def test_a_failed_export_leaves_the_previous_one(run, tmp_path, capsys) -> None:
    out = tmp_path / "exp"
    assert run_cli(capsys, "export", str(run), str(out))[0] == 0
    before = fingerprint(out)
    edit_tensors(run / "head" / "head.safetensors", lambda t: t["blocks.0.weight"].fill_(float("nan")))
    code, err = run_cli(capsys, "export", str(run), str(out), "--force")
    assert_clean_error(code, err, r"NaN", "export")
    assert fingerprint(out) == before


def test_report_refuses_a_folder_that_is_not_a_run(tmp_path, capsys) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    assert_clean_error(*run_cli(capsys, "report", str(folder)), r"not a litelora run directory", "report")
    assert not any(folder.iterdir())
