"""The LiteLoRA gate (gate.kind=litelora): probe, decide by need, leave no trace of the probe."""

import json

import pytest
import torch

from litelora.adapters import AdapterBank, AdapterConfig
from litelora.errors import ConfigError
from litelora.gates import GateConfig, GateDecision, LiteLoRAGate
from litelora.methods import TaskContext, create_method
from litelora.testing import tiny_mlp
from litelora.training.build import build_trainer
from litelora.training.config import RunConfig


def _planted(tmp_path, gate: dict, seed: int = 0, epochs: int = 8, name: str | None = None):
    cfg = RunConfig.from_dict({
        "benchmark": {"name": "planted-redundancy", "seed": seed},
        "model": {"name": "planted-mlp"},
        "adapter": {"target_modules": ["in_a", "in_b", "fc"], "r": 2, "lora_alpha": 2},
        "gate": gate,
        "train": {"epochs": epochs, "batch_size": 32, "lr": 0.01, "head_lr": 0.05, "progress": False, "seed": seed},
        "output_dir": str(tmp_path / (name or f"{gate['kind']}_{seed}_{epochs}")),
    })
    trainer = build_trainer(cfg)
    return trainer, trainer.run()


def _decisions(result) -> list[tuple[int, str, str]]:
    return [(d.task, d.target, d.decision) for d in result.gate_decisions]


def _match(trainer, result) -> float:
    truth = trainer.stream.meta["truth"]
    later = [d for d in result.gate_decisions if d.task > 0]
    return sum(truth[d.task][d.target] == (d.decision == "recruit") for d in later) / len(later)


def test_every_group_recruited_after_the_probe_equals_the_host_exactly(tmp_path) -> None:
    """The probe trains the head and then undoes it (parameters, buffers, random state): when every
    group recruits anyway, the run is the host's, bit for bit."""
    _, host = _planted(tmp_path, {"kind": "none"}, epochs=2)
    trainer, gated = _planted(tmp_path, {"kind": "litelora", "budget": 0.99}, epochs=2)  # probes, keeps 3 of 3
    assert all(d.decision == "recruit" for d in gated.gate_decisions)
    assert any(d.scores["need"] > 0 for d in gated.gate_decisions if d.task > 0)  # it did probe
    assert gated.accuracy_matrix == host.accuracy_matrix
    assert gated.metrics["adapter_bytes"] == host.metrics["adapter_bytes"]


def test_forced_open_is_the_host(tmp_path) -> None:
    _, host = _planted(tmp_path, {"kind": "none"}, epochs=2)
    _, gated = _planted(tmp_path, {"kind": "litelora", "budget": 1.0}, epochs=2)
    assert gated.accuracy_matrix == host.accuracy_matrix
    assert gated.metrics["adapter_bytes"] == host.metrics["adapter_bytes"]
    assert gated.metrics["active_adapters"] == 15


@pytest.mark.slow
def test_planted_long_search_matches_the_truth_and_the_host(tmp_path) -> None:
    """Three seeds: at least 90% of the later decisions match the planted truth on average, the
    gate recruits a third of the adapters, and its mean final accuracy is at least the host's."""
    matches, gated_acc, host_acc = [], [], []
    for seed in (0, 1, 2):
        trainer, gated = _planted(tmp_path, {"kind": "litelora"}, seed=seed)
        _, host = _planted(tmp_path, {"kind": "none"}, seed=seed)
        matches.append(_match(trainer, gated))
        gated_acc.append(gated.metrics["final_acc_task_mean"])
        host_acc.append(host.metrics["final_acc_task_mean"])
        assert gated.metrics["active_adapters"] <= 7
    assert sum(matches) / 3 >= 0.9, matches
    assert sum(gated_acc) / 3 >= sum(host_acc) / 3 - 0.005, (gated_acc, host_acc)


def test_planted_decisions_on_a_long_search(tmp_path) -> None:
    trainer, gated = _planted(tmp_path, {"kind": "litelora"}, seed=1)
    assert _match(trainer, gated) >= 0.9
    assert gated.metrics["active_adapters"] == 5


def test_at_equal_count_the_decisions_beat_random_and_representability(tmp_path) -> None:
    """One recruit per later task (budget 0.34): the gate picks the module the task needs (10 of 12
    decisions right is the best any one-per-task choice can do), a random choice and the
    representability ranking do not."""
    rates = {kind: _match(*_planted(tmp_path, {"kind": kind, "budget": 0.34}, name=f"eq-{kind}"))
             for kind in ("litelora", "random", "representability")}
    assert rates["litelora"] == pytest.approx(10 / 12)
    assert rates["litelora"] > max(rates["random"], rates["representability"])


def test_short_search_keeps_every_needed_module(tmp_path) -> None:
    """With 2 epochs the head cannot learn a task from old features during the probe, so the
    gate must not close a module the task needs (it keeps more than the truth instead)."""
    trainer, gated = _planted(tmp_path, {"kind": "litelora"}, epochs=2)
    truth = trainer.stream.meta["truth"]
    needed = [d for d in gated.gate_decisions if d.task > 0 and truth[d.task][d.target]]
    assert needed and all(d.decision == "recruit" for d in needed)
    assert gated.metrics["active_adapters"] < 15


def test_lower_threshold_recruits_at_least_as_much(tmp_path) -> None:
    counts = [_planted(tmp_path, {"kind": "litelora", "params": {"novelty": nv}}, name=f"nv{nv}")[1].metrics["active_adapters"]
              for nv in (0.05, 0.2, 0.6)]
    assert counts[0] >= counts[1] >= counts[2] >= 3
    assert counts[0] > counts[2]


def test_gates_json_records_the_measurements(tmp_path) -> None:
    trainer, result = _planted(tmp_path, {"kind": "litelora"}, epochs=2)
    rows = json.loads((trainer.run_dir.root / "gates.json").read_text())
    later = [r for r in rows if r["task"] > 0]
    assert len(later) == 12
    for r in later:
        assert 0.0 <= r["need"] <= 1.0 and 0.0 <= r["unsolved"] <= 1.0
        assert r["score"] == pytest.approx(r["need"] * r["unsolved"])
        assert r["gate"] == r["score"]
        assert (r["decision"] == "recruit") == (r["score"] > 0.2)
    # the rows read back as the gate's own decisions
    assert [GateDecision.from_dict(r) for r in rows] == result.gate_decisions


# ---------------------------------------------------------------------------------------- unit level
def _gated_task(gate: LiteLoRAGate, losses: list[float], candidate_b: float = 0.0):
    """Task 0 trains freely, task 1 is gated; ``rehearse`` returns ``losses`` after a fixed fake step."""
    model = tiny_mlp()
    bank = AdapterBank(model, AdapterConfig(target_modules=["0", "2", "4"], r=2))
    method = create_method("inclora")
    ctx0 = TaskContext(task_id=0, num_tasks=2, bank=bank)
    method.before_task(ctx0)
    assert gate.before_task(ctx0) == []
    with torch.no_grad():
        for a in bank.candidates(0).values():
            a.lora_B.normal_()
    method.after_task(ctx0)
    seen: dict[str, object] = {}

    def rehearse(steps, on_step):
        seen["steps"] = steps
        seen["trainable"] = [n for n, p in model.named_parameters() if p.requires_grad]
        seen["candidate_output"] = bank.slot("2").effective_magnitudes()["task_001"].item()
        g = torch.Generator().manual_seed(0)
        for step in range(1, steps + 1):
            x = torch.randn(16, 8, generator=g)
            out = model(x)[:, :2].sum()  # a consistent demand
            if out.requires_grad:  # nothing trains, and nothing is measured, before the probe's window
                out.backward()
            on_step(step, losses[min(step - 1, len(losses) - 1)])
        return losses

    ctx1 = TaskContext(task_id=1, num_tasks=2, bank=bank, steps=20, rehearse=rehearse)
    method.before_task(ctx1)
    with torch.no_grad():
        for a in bank.candidates(1).values():
            a.lora_B.fill_(candidate_b)
    groups = gate.before_task(ctx1)
    return bank, ctx1, groups, seen


def test_probe_holds_candidates_out_and_releases_the_recruited() -> None:
    gate = LiteLoRAGate(GateConfig(kind="litelora", budget=0.34), num_tasks=2)
    bank, _, groups, seen = _gated_task(gate, [2.0] * 20)
    assert seen["steps"] == 6  # 0.3 of 20 steps
    assert seen["trainable"] == [] and seen["candidate_output"] == 0.0
    recruited = [t for t, a in bank.candidates(1).items()]
    assert len(recruited) == 1  # round(0.34 * 3)
    adapter = bank.candidates(1)[recruited[0]]
    assert adapter.lora_A.requires_grad and adapter.lora_B.requires_grad
    assert bank.slot(recruited[0]).effective_magnitudes()["task_001"].item() == 1.0
    assert groups == []  # frozen reuse: nothing else to train


def test_the_probe_reads_the_model_without_the_candidates() -> None:
    """Candidates are held out during the probe (coefficient 0): whatever they hold, the needs are
    the same; a probe that let them act would read a different gradient."""
    needs = []
    for fill in (0.0, 3.0):
        torch.manual_seed(0)  # task 0's adapters are drawn from the global stream
        gate = LiteLoRAGate(GateConfig(kind="litelora"), num_tasks=2)
        _gated_task(gate, [2.0] * 20, candidate_b=fill)
        needs.append([d.scores["need"] for d in gate.decisions_for(1)])
    assert needs[0] == needs[1] and max(needs[0]) > 0


def test_a_solved_task_closes_everything() -> None:
    """The loss fell to a tenth during the probe: unsolved 0.1 scales every need below 0.2."""
    gate = LiteLoRAGate(GateConfig(kind="litelora"), num_tasks=2)
    bank, *_ = _gated_task(gate, [2.0, 2.0, 0.2, 0.2, 0.2, 0.2])
    later = gate.decisions_for(1)
    assert all(d.scores["unsolved"] == pytest.approx(0.1) for d in later)
    assert bank.candidates(1) == {}


def test_core_reuse_stays_only_where_the_gate_closed() -> None:
    gate = LiteLoRAGate(GateConfig(kind="litelora", budget=0.34, reuse="core", reuse_lr=0.123), num_tasks=2)
    bank, _, groups, _ = _gated_task(gate, [2.0] * 20)
    (recruited,) = bank.candidates(1)
    for target in bank.targets:
        assert ("task_001" in bank.slot(target).reuse) == (target != recruited)
    (group,) = groups
    assert group["lr"] == 0.123 and len(group["params"]) == 2


def test_reuse_trains_at_the_adapter_rate_by_default() -> None:
    gate = LiteLoRAGate(GateConfig(kind="litelora", budget=0.34, reuse="scale"), num_tasks=2, adapter_lr=0.007)
    _, _, groups, _ = _gated_task(gate, [2.0] * 20)
    assert groups[0]["lr"] == 0.007


def test_needs_a_trainer_that_can_rehearse() -> None:
    gate = LiteLoRAGate(GateConfig(kind="litelora"), num_tasks=2)
    bank = AdapterBank(tiny_mlp(), AdapterConfig(target_modules=["0"], r=2))
    method = create_method("inclora")
    for t in range(2):
        ctx = TaskContext(task_id=t, num_tasks=2, bank=bank)
        method.before_task(ctx)
        if t == 0:
            gate.before_task(ctx)
            method.after_task(ctx)
    with pytest.raises(ConfigError, match="rehearse"):
        gate.before_task(ctx)


@pytest.mark.parametrize("kw", [{"probe": 0.0}, {"probe": 1.5}, {"novelty": 1.0}, {"novelty": -0.1}])
def test_params_reject_bad_values(kw) -> None:
    (name,) = kw
    with pytest.raises(ConfigError, match=rf"gate\.params\.{name} must be"):
        LiteLoRAGate(GateConfig(kind="litelora", params=kw), num_tasks=2)
    with pytest.raises(ConfigError, match="gate.reuse_lr"):
        GateConfig(kind="litelora", reuse_lr=0.0)


def test_a_group_recruits_where_its_mean_score_passes_the_threshold(tmp_path) -> None:
    """gate.group=task: one decision per task, on the mean of its modules' scores (not their max)."""
    _, result = _planted(tmp_path, {"kind": "litelora", "group": "task", "params": {"novelty": 0.2}}, name="grouped")
    later = sorted({d.task for d in result.gate_decisions} - {0})
    mixed = set()
    for task in later:
        decisions = [d for d in result.gate_decisions if d.task == task]
        scores = [d.scores["score"] for d in decisions]
        assert len({d.recruit for d in decisions}) == 1
        mean = sum(scores) / len(scores)
        assert decisions[0].recruit is (mean > 0.2)
        mixed.add(mean > 0.2 if min(scores) <= 0.2 < max(scores) else None)
    assert {True, False} <= mixed  # modules that disagree, decided both ways: by the mean, not the max or min
