"""Prompt templates as data, label words, and exact-match normalisation."""

from __future__ import annotations

import pytest

from litelora.errors import ConfigError
from litelora.generative import PromptTemplates, exact_match, normalize_answer, target_text
from litelora.training.config import RunConfig


@pytest.mark.parametrize(("text", "expected"), [
    ("  Business\n", "business"),
    ("SPORTS", "sports"),
    ("\tvery  negative  ", "very negative"),  # whitespace runs collapse
    ("Yes.", "yes"),  # punctuation goes, as in the O-LoRA evaluation
    ("not_entailment", "notentailment"),  # ... all of it, also inside a word
    ("", ""),
])
def test_normalize_answer(text: str, expected: str) -> None:
    assert normalize_answer(text) == expected


def test_exact_match_cases() -> None:
    assert exact_match(" Fresh", "fresh")
    assert exact_match("tech\n", "Tech")
    assert exact_match("Fresh!", "fresh")
    assert exact_match("very  negative", "very negative")
    assert not exact_match("fres", "fresh")
    assert not exact_match("very negative", "negative")


def test_target_text_drops_the_task_prefix() -> None:
    assert target_text("rt-sentiment:fresh") == "fresh"
    assert target_text("noun.animal") == "noun.animal"
    assert target_text("a:b:c") == "c"


@pytest.mark.parametrize(("task", "kind"), [
    ("dbpedia", "topic"), ("AGNews", "topic"), ("bbc-topics-a", "topic"), ("rt-sentiment", "sentiment"),
    ("SST-2", "sentiment"), ("MNLI", "nli"), ("BoolQ", "yes_no"), ("rt-plot-or-review", "classify"),
])
def test_packaged_task_types(task: str, kind: str) -> None:
    assert PromptTemplates().task_type(task) == kind


def test_render_splits_around_the_input_and_keeps_braces_in_it() -> None:
    t = PromptTemplates({"classify": "Pick {options} for [{input}] ({task})"}, {".*": "classify"})
    p = t.render("toy", "a {b} c", ["x", "y"])
    assert (p.prefix, p.input, p.suffix) == ("Pick x, y for [", "a {b} c", "] (toy)")
    assert p.text == "Pick x, y for [a {b} c] (toy)"


def test_run_overrides_come_before_the_packaged_mapping() -> None:
    t = PromptTemplates({"mine": "{input} ->"}, {"dbpedia": "mine"})
    assert t.task_type("dbpedia") == "mine"
    assert t.task_type("yahoo") == "topic"


def test_unknown_template_field_is_a_config_error_naming_it() -> None:
    with pytest.raises(ConfigError, match=r"templates\['topic'\]: unknown field\(s\) \['label'\].*'input', 'options'"):
        RunConfig.from_dict({"model": {"generation": {"templates": {"topic": "{input} is {label}"}}}})


def test_template_without_input_and_unknown_type_are_errors() -> None:
    with pytest.raises(ConfigError, match="never places the example; add {input}"):
        PromptTemplates({"topic": "no example here"})
    with pytest.raises(ConfigError, match=r"task_types\['x'\]: unknown task type 'nope'"):
        PromptTemplates(task_types={"x": "nope"})
    with pytest.raises(ConfigError, match="not a valid template"):
        PromptTemplates({"topic": "{input"})
    with pytest.raises(ConfigError, match=r"templates\['topic'\]: the template places the example 2 times; write \{input\} once"):
        PromptTemplates({"topic": "{input}\nAgain: {input}\nAnswer:"})
    for spec in ("{input!r}", "{input:.3}"):
        with pytest.raises(ConfigError, match=r"templates\['topic'\]: write the example as a plain \{input\}"):
            PromptTemplates({"topic": f"Review: {spec}\nAnswer:"})
