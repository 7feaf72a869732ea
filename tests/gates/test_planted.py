"""The gate on the planted-redundancy benchmark, where the right decision is known."""

import pytest

from litelora.training.build import build_trainer
from litelora.training.config import RunConfig


def _run(tmp_path, gate: dict, seed: int = 0):
    cfg = RunConfig.from_dict({
        "benchmark": {"name": "planted-redundancy", "seed": seed},
        "model": {"name": "planted-mlp"},
        "adapter": {"target_modules": ["in_a", "in_b", "fc"], "r": 2, "lora_alpha": 2},
        "gate": gate,
        "train": {"epochs": 8, "batch_size": 32, "lr": 0.01, "head_lr": 0.05, "progress": False, "seed": seed},
        "output_dir": str(tmp_path / gate["kind"]),
    })
    trainer = build_trainer(cfg)
    return trainer, trainer.run()


def _match_rate(trainer, result) -> float:
    truth = trainer.stream.meta["truth"]
    decided = [d for d in result.gate_decisions if d.task > 0]
    hits = [truth[d.task][d.target] == (d.decision == "recruit") for d in decided]
    return sum(hits) / len(hits)


def test_gate_matches_planted_truth_and_accuracy(tmp_path) -> None:
    trainer, gated = _run(tmp_path, {"kind": "hard_concrete", "params": {"lam": 0.1, "lr": 0.1}})
    _, full = _run(tmp_path, {"kind": "none"})
    assert _match_rate(trainer, gated) >= 0.9
    assert gated.metrics["final_acc_task_mean"] >= full.metrics["final_acc_task_mean"] - 0.01
    assert gated.metrics["active_adapters"] < full.metrics["active_adapters"] == 15
    assert gated.metrics["adapter_reduction"] > 0.2


@pytest.mark.parametrize(("lam", "active"), [(0.0, 15), (100.0, 3)])
def test_lambda_extremes(tmp_path, lam: float, active: int) -> None:
    """lambda = 0 closes nothing; a huge lambda closes everything after the first task."""
    _, result = _run(tmp_path, {"kind": "hard_concrete", "params": {"lam": lam, "lr": 0.1}})
    assert result.metrics["active_adapters"] == active
