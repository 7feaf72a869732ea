"""Hostile task data for the ``files`` and ``olora`` benchmarks: every ambiguous or malformed file
is a one-line ``litelora train: error:`` naming the file and line before anything is written, and
valid text the old readers split or stripped (line separators, form feeds, quoted line breaks,
TSV quotes) round-trips exactly."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from hostile import assert_clean_error, fingerprint, run_cli

from litelora.benchmarks import build_benchmark
from litelora.errors import DataError

MODEL = ["--set", "model.name=tiny-bert", "--set", "train.max_steps_per_task=1"]
GOOD_JSONL = "".join(json.dumps({"text": f"{w} item {i}", "label": w}) + "\n" for i in range(3) for w in ("a", "b"))
GOOD_CSV = "text,label\n" + "".join(f"{w} item {i},{w}\n" for i in range(3) for w in ("a", "b"))
GOOD_JSON = json.dumps([{"text": f"{w} item {i}", "label": w} for i in range(3) for w in ("a", "b")], indent=1)


def _task(root: Path, name: str, files: dict[str, str | bytes]) -> None:
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    for file, data in files.items():
        (folder / file).write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))


def _train_files(capsys, root: Path, out: Path, *extra: str) -> tuple[int, str]:
    return run_cli(capsys, "train", "--no-progress", "-o", str(out), "--set", "benchmark.name=files",
                   "--set", f"benchmark.data_root={root}", *MODEL, *extra)


# ----------------------------------------------------------------- ambiguous or malformed own files
FILES_CASES = [
    # (split files of task "t", needle)
    ({"train.csv": "text,label,label\nx,a,b\n", "test.csv": GOOD_CSV},
     r"train\.csv, line 1: column 'label' appears twice in the header"),
    ({"train.csv": "label,text,text\na,x,y\n", "test.csv": GOOD_CSV}, r"column 'text' appears twice"),
    ({"train.csv": GOOD_CSV + "hello, world,a\n", "test.csv": GOOD_CSV},
     r"train\.csv, line 8: 3 fields, the header has 2 \(quote a field that holds a comma"),
    ({"train.csv": GOOD_CSV + "lonely\n", "test.csv": GOOD_CSV}, r"train\.csv, line 8: 1 fields, the header has 2"),
    ({"train.csv": GOOD_CSV, "test.csv": "text,label\n\n\nx,a,extra\n"}, r"test\.csv, line 4: 3 fields"),
    ({"train.csv": GOOD_CSV + '"quoted"tail,a\n', "test.csv": GOOD_CSV}, r"train\.csv, line 8: malformed CSV"),
    ({"train.csv": GOOD_CSV + '"never closed,a\n', "test.csv": GOOD_CSV}, r"train\.csv, line 8: malformed CSV"),
    ({"train.tsv": "text\tlabel\tlabel\nx\ta\tb\n", "test.tsv": "text\tlabel\nx\ta\n"},
     r"train\.tsv, line 1: column 'label' appears twice"),
    ({"train.tsv": "text\tlabel\nx\ty\ta\n", "test.tsv": "text\tlabel\nx\ta\n"},
     r"train\.tsv, line 2: 3 fields, the header has 2 \(a TSV field cannot hold a tab"),
    ({"train.jsonl": GOOD_JSONL + '{"text": "x", "label": "a", "label": "b"}\n', "test.jsonl": GOOD_JSONL},
     r"train\.jsonl, line 7: key 'label' appears twice in one object"),
    ({"train.jsonl": '{"text": "x", "text": "y", "label": "a"}\n', "test.jsonl": GOOD_JSONL},
     r"train\.jsonl, line 1: key 'text' appears twice"),
    ({"train.jsonl": GOOD_JSONL, "test.jsonl": '{"text": "x", "label": "a"} {"text": "y", "label": "b"}\n'},
     r"test\.jsonl, line 1: broken JSON: extra data after the record"),
    ({"train.jsonl": GOOD_JSONL + '{"text": "x", "label": ' + "7" * 5000 + "}\n", "test.jsonl": GOOD_JSONL},
     r"train\.jsonl, line 7: a value cannot be read \(Exceeds the limit"),
    ({"train.jsonl": GOOD_JSONL + "[" * 50_000 + "\n", "test.jsonl": GOOD_JSONL},
     r"train\.jsonl, line 7: JSON nested too deeply"),
    ({"train.jsonl": GOOD_JSONL + '{"text": "x", "label": "a"\n', "test.jsonl": GOOD_JSONL},
     r"train\.jsonl, line 7: broken JSON at column 27: Expecting ',' delimiter"),
    ({"train.json": '[{"text": "x", "label": "a"},\n {"text": "y", "text": "z", "label": "b"}]', "test.json": GOOD_JSON},
     r"train\.json, line 2, record 1: key 'text' appears twice"),
    ({"train.json": GOOD_JSON + "\n[]\n", "test.json": GOOD_JSON}, r"train\.json: broken JSON at line \d+, column 1: "
                                                                    r"extra data after the document"),
    ({"train.json": '[{"text": "x", "label": "a"}\n {"text": "y", "label": "b"}]', "test.json": GOOD_JSON},
     r"train\.json: broken JSON at line 2, column 2: expected ',' or '\]'"),
    ({"train.json": '[{"text": "x", "label": "a"},]', "test.json": GOOD_JSON}, r"train\.json: broken JSON at line 1"),
    ({"train.json": '{"text": "x", "label": "a", "label": "b"}', "test.json": GOOD_JSON},
     r"train\.json: key 'label' appears twice"),
    ({"train.jsonl": GOOD_JSONL, "test.jsonl": GOOD_JSONL, "labels.json": '["a", ' + "[" * 50_000},
     r"labels\.json: JSON nested too deeply"),
    ({"train.jsonl": GOOD_JSONL, "test.jsonl": GOOD_JSONL, "labels.json": "[" + "9" * 5000 + "]"},
     r"labels\.json: a value cannot be read"),
    ({"train.jsonl": GOOD_JSONL, "test.jsonl": GOOD_JSONL, "labels.txt": b"a\n\xff\xfe\n"},
     r"labels\.txt: not UTF-8 text"),
    ({"train.jsonl": GOOD_JSONL, "test.jsonl": GOOD_JSONL, "labels.json": '{"a": 1, "a": 2}'},
     r"labels\.json: key 'a' appears twice"),
]


@pytest.mark.parametrize(("files", "needle"), FILES_CASES, ids=[n[:50] for _, n in FILES_CASES])
def test_ambiguous_or_malformed_files_name_file_and_line(tmp_path, capsys, files, needle) -> None:
    root, out = tmp_path / "data", tmp_path / "run"
    _task(root, "t", files)
    before = fingerprint(root)
    assert_clean_error(*_train_files(capsys, root, out), needle, "train")
    assert not out.exists() or not any(out.iterdir())
    assert fingerprint(root) == before


OLORA_GOOD = json.dumps([{"sentence": f"{w} {i}", "label": w} for i in range(3) for w in ("x", "y")])
OLORA_CASES = [
    ({"train.json": '[{"sentence": "s", "label": "x", "label": "y"}]'},
     r"dbpedia/train\.json, line 1, record 0: key 'label' appears twice"),
    ({"train.json": '[{"sentence": "s",\n "sentence": "t", "label": "x"}]'}, r"line 1, record 0: key 'sentence'"),
    ({"train.json": OLORA_GOOD + " trailing"}, r"train\.json: broken JSON at line 1, column \d+: extra data"),
    ({"test.json": '[{"sentence": "s", "label": ' + "1" * 5000 + "}]"}, r"test\.json, line 1, record 0: a value"),
    ({"labels.json": '["x", "y"] ["z"]'}, r"labels\.json: broken JSON .*extra data"),
]


@pytest.mark.parametrize(("files", "needle"), OLORA_CASES, ids=[n[:50] for _, n in OLORA_CASES])
def test_olora_files_are_read_strictly(tmp_path, capsys, files, needle) -> None:
    root, out = tmp_path / "data", tmp_path / "run"
    _task(root, "dbpedia", {"train.json": OLORA_GOOD, "test.json": OLORA_GOOD, **files})
    code, err = run_cli(capsys, "train", "--no-progress", "-o", str(out), "--set", "benchmark.name=olora",
                        "--set", f"benchmark.data_root={root}", "--set", "benchmark.options.tasks=[dbpedia]", *MODEL)
    assert_clean_error(code, err, needle, "train")
    assert not out.exists() or not any(out.iterdir())


# ----------------------------------------------------------------- saved datasets name only their own files
def _saved(root: Path, test_labels: list[int] | None = None) -> Path:
    datasets = pytest.importorskip("datasets")
    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["n", "p"])})
    train = datasets.Dataset.from_dict({"text": [f"r {i}" for i in range(4)], "label": [0, 1, 0, 1]},
                                       features=features)
    labels = test_labels if test_labels is not None else [0, 1]
    test = datasets.Dataset.from_dict({"text": [f"t {i}" for i in range(len(labels))], "label": labels},
                                      features=features)
    folder = root / "sst"
    datasets.DatasetDict({"train": train, "test": test}).save_to_disk(str(folder))
    return folder


def _edit(path: Path, edit: Callable[[dict], object]) -> None:
    path.write_text(json.dumps(edit(json.loads(path.read_text()))))


def _point_data_file(name: Callable[[Path], str]) -> Callable[[Path, Path], None]:
    def apply(folder: Path, outside: Path) -> None:
        _edit(folder / "train" / "state.json",
              lambda s: {**s, "_data_files": [{"filename": name(outside)}]})
    return apply


def _link_data_file(folder: Path, outside: Path) -> None:
    arrow = next((folder / "train").glob("*.arrow"))
    arrow.unlink()
    arrow.symlink_to(outside / "other.arrow")


SAVED_CASES = [
    ("data file up and out", _point_data_file(lambda o: "../../../outside/other.arrow"),
     r"train/state\.json: data file '\.\./\.\./\.\./outside/other\.arrow' is not a plain name"),
    ("data file absolute", _point_data_file(lambda o: str(o / "other.arrow")), r"state\.json: data file '/.*' is not"),
    ("data file dot-dot", _point_data_file(lambda o: ".."), r"data file '\.\.' is not a plain name"),
    ("data file not a string", _point_data_file(lambda o: 5), r"data file 5 is not a plain name"),
    ("data file missing", _point_data_file(lambda o: "gone.arrow"), r"data file .*gone\.arrow is missing or a link"),
    ("data file a link", _link_data_file, r"data file .*\.arrow is missing or a link"),
    ("split up and out", lambda f, o: _edit(f / "dataset_dict.json", lambda d: {"splits": ["train", "../outside"]}),
     r"dataset_dict\.json: split folder '\.\./outside' is not a plain name"),
    ("splits not a list", lambda f, o: _edit(f / "dataset_dict.json", lambda d: {"splits": "train"}),
     r"dataset_dict\.json: expected an object with a 'splits' list"),
    ("dataset_dict duplicate key", lambda f, o: (f / "dataset_dict.json").write_text(
        '{"splits": ["train", "test"], "splits": ["x"]}'), r"dataset_dict\.json: key 'splits' appears twice"),
    ("state not json", lambda f, o: (f / "train" / "state.json").write_text("{"), r"state\.json: broken JSON"),
    ("data files empty", lambda f, o: _edit(f / "train" / "state.json", lambda s: {**s, "_data_files": []}),
     r"state\.json: expected '_data_files', a list"),
    ("state linked out", lambda f, o: ((f / "train" / "state.json").unlink(),
                                       (f / "train" / "state.json").symlink_to(o / "other.arrow")),
     r"state file .*state\.json is missing or a link"),
]


@pytest.mark.parametrize(("damage", "needle"), [c[1:] for c in SAVED_CASES], ids=[c[0] for c in SAVED_CASES])
def test_a_saved_dataset_reads_only_its_own_files(tmp_path, capsys, damage, needle) -> None:
    root, out, outside = tmp_path / "data", tmp_path / "run", tmp_path / "outside"
    folder = _saved(root)
    outside.mkdir()
    (outside / "other.arrow").write_bytes(next((folder / "train").glob("*.arrow")).read_bytes())
    damage(folder, outside)
    assert_clean_error(*_train_files(capsys, root, out), needle, "train")
    assert not out.exists() or not any(out.iterdir())


def test_a_saved_dataset_label_that_is_no_class_is_refused(tmp_path, capsys) -> None:
    _saved(tmp_path / "data", test_labels=[0, -1])
    needle = r"sst\[test\], record 1: label -1 is not a class id of the ClassLabel \(0\.\.1\); -1 means no label"
    assert_clean_error(*_train_files(capsys, tmp_path / "data", tmp_path / "run"), needle, "train")


def test_a_saved_dataset_whose_class_names_were_cut_is_refused(tmp_path, capsys) -> None:
    folder = _saved(tmp_path / "data")
    for split in ("train", "test"):  # the arrow data keeps label 1; the info now names one class
        _edit(folder / split / "dataset_info.json", lambda info: {
            **info, "features": {**info["features"], "label": {**info["features"]["label"], "names": ["n"]}}})
    needle = r"sst\[train\], record 1: label 1 is not a class id of the ClassLabel \(0\.\.0\)"
    assert_clean_error(*_train_files(capsys, tmp_path / "data", tmp_path / "run"), needle, "train")


# ----------------------------------------------------------------- valid text round-trips exactly
def _read(tmp_path: Path, files: dict[str, str | bytes]) -> list[str]:
    _task(tmp_path, "t", files)
    task = build_benchmark("files", data_root=str(tmp_path)).tasks[0]
    return [e.input for e in task.train]


def test_a_quoted_csv_field_keeps_its_line_breaks(tmp_path) -> None:
    csv_text = 'text,label\n"first line\nsecond line",a\n"crlf\r\nkept",b\nplain,a\n'
    assert _read(tmp_path, {"train.csv": csv_text, "test.csv": GOOD_CSV}) == [
        "first line\nsecond line", "crlf\r\nkept", "plain"]


def test_a_form_feed_or_line_separator_inside_a_csv_field_is_text(tmp_path) -> None:
    csv_text = "text,label\npage\x0cbreak,a\nsep\u2028arated,b\nnext\x85line,a\n"
    assert _read(tmp_path, {"train.csv": csv_text, "test.csv": GOOD_CSV}) == [
        "page\x0cbreak", "sep\u2028arated", "next\x85line"]


def test_tsv_keeps_quotes_as_text(tmp_path) -> None:
    tsv = 'text\tlabel\nshe said "hi"\ta\n"fully quoted"\tb\n'
    assert _read(tmp_path, {"train.tsv": tsv, "test.tsv": tsv}) == ['she said "hi"', '"fully quoted"']


def test_jsonl_holding_raw_unicode_line_separators_is_valid(tmp_path) -> None:
    texts = ("x\u2028y", "p\u2029q", "n\x85m", "f\x0cg", "v\x0bw", "u\x1cv")
    lines = [json.dumps({"text": t, "label": "ab"[i % 2]}, ensure_ascii=False) for i, t in enumerate(texts)]
    text = "\r\n".join(lines) + "\r\n"
    assert "\u2028" in text  # written raw, not escaped
    assert _read(tmp_path, {"train.jsonl": text, "test.jsonl": GOOD_JSONL}) == list(texts)


def test_a_byte_order_mark_from_a_spreadsheet_is_not_part_of_the_header(tmp_path) -> None:
    assert _read(tmp_path, {"train.csv": "\ufeff" + GOOD_CSV, "test.csv": GOOD_CSV})[0] == "a item 0"


def test_a_json_list_over_many_lines_reads_every_record(tmp_path) -> None:
    assert len(_read(tmp_path, {"train.json": GOOD_JSON, "test.json": GOOD_JSON})) == 6
    with pytest.raises(DataError, match=r"test\.json: the split is empty"):
        _read(tmp_path / "empty", {"train.json": GOOD_JSON, "test.json": " [ ] "})
