"""A 2-task toy stream of prompts -> label words, and short-prompt configs for tiny models."""

from __future__ import annotations

import random
from typing import Any

from litelora.benchmarks.stream import Example, Task, TaskStream

# Task 0 names what kind of thing the words are; task 1 names the mood. Every input is two
# words of one class, so a model that reads the words can answer exactly.
TOY_WORDS = {
    "kinds:fruit": ["apple", "pear", "plum", "fig"],
    "kinds:tool": ["saw", "drill", "axe", "file"],
    "moods:glad": ["joy", "fun", "smile", "cheer"],
    "moods:sad": ["tears", "gloom", "grief", "loss"],
}
SHORT_PROMPTS = {"templates": {"classify": "{input}:"}, "task_types": {".*": "classify"}}


def toy_stream(train_per_class: int = 24, test_per_class: int = 8, seed: int = 0) -> TaskStream:
    rng = random.Random(seed)
    names = list(TOY_WORDS)
    tasks = []
    for t in range(2):
        classes = (2 * t, 2 * t + 1)

        def draw(n: int) -> list[Example]:
            out = [Example(" ".join(rng.choices(TOY_WORDS[names[c]], k=2)), c) for c in classes for _ in range(n)]
            rng.shuffle(out)
            return out

        tasks.append(Task(t, names[2 * t].split(":")[0], classes, draw(train_per_class), draw(test_per_class)))
    return TaskStream("toy-words", "cil", tasks, names, class_order=list(range(4)), seed=seed).validate()


def toy_config(model_name: str, out: str, **sections: dict[str, Any]) -> dict[str, Any]:
    """A RunConfig dict for ``model_name`` on the toy stream: short prompts, the model's default
    LoRA targets, a few epochs at a high learning rate."""
    config: dict[str, Any] = {
        "model": {"name": model_name, "max_length": 32, "generation": {"max_target_length": 8, **SHORT_PROMPTS}},
        "train": {"epochs": 12, "batch_size": 8, "lr": 1e-2, "progress": False, "log_every": 1000},
        "output_dir": out,
    }
    for name, values in sections.items():
        config[name] = {**config.get(name, {}), **values}
    return config
