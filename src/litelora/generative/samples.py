"""A few generations of a task next to their targets (``litelora eval RUN --show N``)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from litelora.benchmarks.stream import Task
from litelora.generative.exact_match import exact_match
from litelora.generative.lm import GenerativeModel


@dataclass(frozen=True)
class Sample:
    input: str
    prediction: str
    target: str

    @property
    def correct(self) -> bool:
        return exact_match(self.prediction, self.target)


@torch.no_grad()
def sample_generations(model: GenerativeModel, task: Task, n: int) -> list[Sample]:
    """Greedy generations for the first ``n`` test examples of ``task``."""
    examples = task.test[:n]
    if not examples:
        return []
    was_training = model.training
    model.eval()
    batch = {k: v.to(model.device) for k, v in model.collate(examples, task).items()}
    predictions = model.generate_text(batch)
    model.train(was_training)
    return [Sample(str(ex.input), p, model.target(ex.label)) for ex, p in zip(examples, predictions)]


def format_samples(task: Task, samples: list[Sample], width: int = 60) -> str:
    """One line per sample: ``ok``/``--``, the target, the generation, the start of the input."""
    lines = [f"task {task.task_id} ({task.name}): {len(samples)} generations"]
    for s in samples:
        text = " ".join(s.input.split())
        text = text if len(text) <= width else text[: width - 3] + "..."
        lines.append(f"  {'ok' if s.correct else '--'}  target {s.target!r:<16} generated {s.prediction!r:<20} {text}")
    return "\n".join(lines)
