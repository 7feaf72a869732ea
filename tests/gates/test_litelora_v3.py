"""Gate v3: ranks from the novel gradient's spectrum, scaled by how far the old adapters carry the task.

Run-level checks on the planted stream (a head per task) and a headless linear model trained through
``LiteLoRA`` (nothing but adapters learns): equal to the host where every module recruits at full
rank (forced open, or so decided; with gradient init only forced open, as a decided recruit starts
from the directions the gate measured), a verbatim repeat of a plateaued task recruits nothing, a new subspace recruits its rank."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import nn

from litelora.adapters import AdapterConfig
from litelora.errors import ConfigError, NonFiniteError
from litelora.gates import GateConfig, build_gate
from litelora.training.build import build_trainer
from litelora.training.callbacks import Callback
from litelora.training.config import RunConfig
from litelora.training.controller import LiteLoRA
from litelora.training.data import epoch_seed, iter_task_batches
from litelora.training.rehearsal import rehearse


def _planted(tmp_path, gate: dict, epochs: int = 2, plan: list[str] | None = None, init: str = "lora",
             name: str = "run", callbacks: tuple[Callback, ...] = ()):
    cfg = RunConfig.from_dict({
        "benchmark": {"name": "planted-redundancy", "seed": 0, "options": {"plan": plan} if plan else {}},
        "model": {"name": "planted-mlp"},
        "adapter": {"target_modules": ["in_a", "in_b", "fc"], "r": 2, "lora_alpha": 2, "init_lora_weights": init},
        "gate": gate,
        "train": {"epochs": epochs, "batch_size": 32, "lr": 0.01, "head_lr": 0.05, "progress": False, "seed": 0},
        "output_dir": str(tmp_path / name),
    })
    trainer = build_trainer(cfg, callbacks)
    return trainer, trainer.run()


def test_a_gate_forced_open_is_the_host_with_and_without_gradient_init(tmp_path) -> None:
    """gate.budget=1 recruits every module at full rank and probes as the host's gradient init does."""
    for init in ("lora", "gradient"):
        _, host = _planted(tmp_path, {"kind": "none"}, init=init, name=f"host_{init}")
        _, gated = _planted(tmp_path, {"kind": "litelora-v3", "budget": 1.0}, init=init, name=f"gated_{init}")
        assert gated.accuracy_matrix == host.accuracy_matrix
        assert gated.metrics["adapter_bytes"] == host.metrics["adapter_bytes"]
        assert all(d.rank == d.full_rank == 2 for d in gated.gate_decisions)
        assert gated.metrics["host_adapter_params"] == gated.metrics["adapter_params"] == host.metrics["adapter_params"]
        assert gated.metrics["param_reduction"] == 0.0
    _, plain = _planted(tmp_path, {"kind": "none"}, name="host_plain_again")
    assert host.accuracy_matrix != plain.accuracy_matrix  # gradient init is not a no-op


def test_a_gated_task_that_recruits_every_module_at_full_rank_is_the_host(tmp_path) -> None:
    """Through the gate's probe and rank choice (not forced open): every module decided at full
    rank trains as the host does, bit for bit (the probe leaves model and random state as found)."""
    _, host = _planted(tmp_path, {"kind": "none"}, name="host")
    _, gated = _planted(tmp_path, {"kind": "litelora-v3", "params": {"novelty": 0.0, "min_rank": 2}}, name="gated")
    assert all(d.rank == d.full_rank == 2 for d in gated.gate_decisions)
    assert any(d.scores for d in gated.gate_decisions)  # decided from a probe's reading, not forced open
    assert gated.accuracy_matrix == host.accuracy_matrix


def test_rank_zero_everywhere_is_the_closed_model_of_v2(tmp_path) -> None:
    _, v3 = _planted(tmp_path, {"kind": "litelora-v3", "params": {"novelty": 0.999}}, name="v3")
    _, v2 = _planted(tmp_path, {"kind": "litelora-v2", "params": {"novelty": 0.999}}, name="v2")
    assert all(d.rank == 0 for d in v3.gate_decisions if d.task > 0)
    assert v3.accuracy_matrix == v2.accuracy_matrix
    assert v3.metrics["active_adapters"] == v2.metrics["active_adapters"] == 3


def test_a_verbatim_repeat_recruits_nothing_and_a_new_block_recruits_with_a_head(tmp_path) -> None:
    """Plan a0, b0, copy of task 0, a1: the copy needs nothing; a1 is new to in_a."""
    _, result = _planted(tmp_path, {"kind": "litelora-v3"}, epochs=8, plan=["a0", "b0", "copy:0", "a1"])
    ranks = {(d.task, d.target): d.rank for d in result.gate_decisions}
    assert [ranks[(2, t)] for t in ("in_a", "in_b", "fc")] == [0, 0, 0]
    assert ranks[(3, "in_a")] >= 1 and ranks[(1, "in_b")] >= 1
    copy = [d for d in result.gate_decisions if d.task == 2]
    assert all(d.scores["unsolved"] < 0.3 for d in copy)  # the old adapters carry the repeat


def test_the_parameter_budget_is_never_exceeded_in_a_run(tmp_path) -> None:
    _, result = _planted(tmp_path, {"kind": "litelora-v3", "params": {"param_budget": 0.2, "novelty": 0.0}},
                         name="budget")
    for task in range(1, 5):
        ds = [d for d in result.gate_decisions if d.task == task]
        assert sum(d.params_kept for d in ds) <= 0.2 * sum(d.params_kept + d.params_freed for d in ds)
    assert sum(d.rank for d in result.gate_decisions if d.task > 0) >= 1
    kept = sum(d.params_kept for d in result.gate_decisions)
    assert result.metrics["adapter_params"] == kept
    assert result.metrics["host_adapter_params"] == kept + sum(d.params_freed for d in result.gate_decisions)
    assert result.metrics["param_reduction"] >= 0.8 * 4 / 5 - 1e-9  # tasks 1-4 keep at most a fifth


class _StepCount(Callback):
    def __init__(self) -> None:
        self.steps: dict[int, list[int]] = {}

    def on_task_start(self, task, steps: int, step: int, elapsed: float) -> None:  # noqa: ANN001
        self.steps[task.task_id] = [step, steps, 0]

    def on_step_end(self, task, step: int, loss: float, examples: int, optimizer) -> None:  # noqa: ANN001
        self.steps[task.task_id][2] += 1


def test_a_probe_that_counts_takes_the_first_steps_and_decides_as_the_undone_probe(tmp_path) -> None:
    counts = {}
    runs = {}
    for keep in (False, True):
        counts[keep] = _StepCount()
        _, runs[keep] = _planted(tmp_path, {"kind": "litelora-v3", "params": {"probe_counts": keep}},
                                 name=f"keep_{keep}", callbacks=(counts[keep],))
    undone, kept = counts[False].steps, counts[True].steps
    total = undone[1][1]
    probe = max(4, round(0.3 * total))
    assert undone[0] == kept[0] == [0, total, total]  # task 0 is not gated: no probe
    assert undone[1] == [0, total, total] and kept[1] == [probe, total, total - probe]
    first = [(d.target, d.rank) for d in runs[False].gate_decisions if d.task == 1]
    assert first == [(d.target, d.rank) for d in runs[True].gate_decisions if d.task == 1]
    assert runs[False].accuracy_matrix[0] == runs[True].accuracy_matrix[0]
    assert runs[False].accuracy_matrix[1] != runs[True].accuracy_matrix[1]  # the head kept its probe steps



def test_a_kept_probe_trains_the_batches_the_task_loop_then_skips(tmp_path, monkeypatch) -> None:
    import litelora.training.trainer as trainer_module

    kept: list[torch.Tensor] = []
    loop_calls: list[tuple[int, int]] = []  # (seed, skip) of each epoch the task loop draws

    def recording_rehearse(model, loss_fn, batches, steps, *args, keep=False, **kwargs):  # noqa: ANN001, ANN202
        if keep and not kept:  # task 1's probe
            kept.extend(next(iter(b.values())) for b, _ in itertools.islice(batches(), steps))
        return rehearse(model, loss_fn, batches, steps, *args, keep=keep, **kwargs)

    def recording_batches(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        if "skip" in kwargs:
            loop_calls.append((kwargs["seed"], kwargs["skip"]))
        return iter_task_batches(*args, **kwargs)

    monkeypatch.setattr(trainer_module, "rehearse", recording_rehearse)
    monkeypatch.setattr(trainer_module, "iter_task_batches", recording_batches)
    trainer, _ = _planted(tmp_path, {"kind": "litelora-v3", "params": {"probe_counts": True}}, epochs=2)
    task, cfg = trainer.stream.tasks[1], trainer.config.train
    first_epoch = epoch_seed(cfg.seed, 1, 0)  # task 1's first epoch without a kept probe
    probe_order = [next(iter(b.values())) for b, _ in iter_task_batches(
        trainer.model, task, task.train, cfg.batch_size, shuffle=True, seed=epoch_seed(cfg.seed, 1, -1))]
    assert 0 < len(kept) < len(probe_order) and all(torch.equal(a, b) for a, b in zip(kept, probe_order))
    # Task 1's loop: task 0's two epochs, then the probe's epoch from where the probe stopped, then its own.
    assert loop_calls[2:4] == [(first_epoch - 1, len(kept)), (first_epoch + 1, 0)]


# ----------------------------------------------------------------------- no head: adapters alone learn
D = 16


def _linear_tasks() -> list[torch.Tensor]:
    """Updates the tasks ask of one linear layer (one model learns them all, so each task keeps what
    came before): task 0 a rank-2 update in coordinates 0-3, task 1 the same (a verbatim repeat),
    task 2 adds a rank-2 update in coordinates 8-11, orthogonal to task 0's."""
    first = torch.zeros(D, D)
    first[0:2, 2:4] = torch.tensor([[2.0, 0.5], [-0.5, 1.5]])
    second = first.clone()
    second[8:10, 10:12] = torch.tensor([[1.5, 0.0], [0.0, -1.4]])
    return [first, first, second]


def _run_headless(gate: GateConfig | None, steps: int = 250, init: str = "lora") -> tuple[LiteLoRA, list[float]]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(D, D, bias=False))
    lite = LiteLoRA(model, AdapterConfig(target_modules=["0"], r=4, lora_alpha=4, init_lora_weights=init),
                    "inclora", gate, num_tasks=3, lr=0.02)
    W = model[0].weight.detach().clone()
    losses = []
    for t, delta in enumerate(_linear_tasks()):
        g = torch.Generator().manual_seed(100 + t)
        xs = [torch.randn(64, D, generator=g) for _ in range(8)]
        data = [(x, x @ (W + delta).T) for x in xs]

        def loss_fn(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return (model(x) - y).pow(2).mean()

        groups = lite.start_task(t, steps, batches=lambda: iter(data), loss_fn=loss_fn)
        optimizer = torch.optim.Adam(groups) if groups else None
        for step in range(steps):
            x, y = data[step % len(data)]
            loss = loss_fn(x, y)
            if optimizer is not None:
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            losses.append(float(loss.detach()))
        lite.end_task()
    return lite, losses


def test_without_a_head_a_repeat_reuses_and_an_orthogonal_task_recruits_its_rank() -> None:
    lite, losses = _run_headless(GateConfig(kind="litelora-v3"))
    ranks = {d.task: d.rank for d in lite.decisions}
    assert ranks == {0: 4, 1: 0, 2: 2}  # the orthogonal task's update has rank 2
    (repeat,) = [d for d in lite.decisions if d.task == 1]
    assert repeat.scores["unsolved"] < 0.05 and repeat.scores["closed_loss"] < 0.01 * repeat.scores["base_loss"]
    assert losses[-1] < 0.01 * losses[2 * 250]  # task 2 was learnt at the rank the gate chose


def test_gradient_init_lowers_the_loss_faster_than_random_init() -> None:
    _, random_init = _run_headless(None, steps=30)
    _, gradient = _run_headless(None, steps=30, init="gradient")
    for task in range(3):
        first = slice(task * 30, task * 30 + 10)
        assert sum(gradient[first]) < sum(random_init[first]), task


def test_the_probe_pulls_the_model_into_the_backward_pass_only_over_its_window() -> None:
    # Without a head nothing trains while the candidates are held out: the base reading and the
    # probe's first half are forward passes only; the second half, where the probe measures,
    # backpropagates through the probed slots (which adds the cost of a host step there).
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(D, D, bias=False))
    lite = LiteLoRA(model, AdapterConfig(target_modules=["0"], r=4, lora_alpha=4), "inclora",
                    GateConfig(kind="litelora-v3"), num_tasks=2, lr=0.02)
    x = torch.randn(64, D)
    data = [(x, x @ (model[0].weight.detach() + 1.0).T)]
    with_grad: list[bool] = []

    def loss_fn(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        loss = (model(x) - y).pow(2).mean()
        with_grad.append(loss.requires_grad)
        return loss

    steps = 40
    lite.start_task(0, steps, batches=lambda: iter(data), loss_fn=loss_fn)
    assert with_grad == []  # task 0 recruits everywhere without a probe
    lite.end_task()
    lite.start_task(1, steps, batches=lambda: iter(data), loss_fn=loss_fn)
    probe = max(4, round(0.3 * steps))
    window = max(2, (probe + 1) // 2)
    assert len(with_grad) == 2 * probe  # the base reading, then the probe
    assert with_grad == [False] * (2 * probe - window) + [True] * window


def test_unsolved_at_chance_reads_the_probe_loss_over_ln_k_without_a_base_reading(tmp_path) -> None:
    trainer, result = _planted(tmp_path, {"kind": "litelora-v3", "params": {"unsolved": "chance"}}, epochs=8,
                               plan=["a0", "copy:0", "b0"])
    classes = {t.task_id: len(t.classes) for t in trainer.stream.tasks}
    gated = [d for d in result.gate_decisions if d.task > 0]
    assert gated
    for d in gated:
        assert "base_loss" not in d.scores  # the base reading is skipped
        assert d.scores["chance_loss"] == pytest.approx(math.log(classes[d.task]))
        assert d.scores["unsolved"] == pytest.approx(min(1.0, d.scores["closed_loss"] / d.scores["chance_loss"]))
    unsolved = {d.task: d.scores["unsolved"] for d in gated}
    assert unsolved[1] < 0.5 * unsolved[2]  # a verbatim repeat leaves less of the task than a new block


def test_unsolved_at_chance_in_an_own_loop_needs_the_number_of_classes() -> None:
    model = nn.Sequential(nn.Linear(D, D, bias=False))
    lite = LiteLoRA(model, AdapterConfig(target_modules=["0"], r=2), "inclora",
                    GateConfig(kind="litelora-v3", params={"unsolved": "chance"}), num_tasks=2)
    data = [(torch.randn(8, D), torch.randn(8, D))]

    def loss_fn(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (model(x) - y).pow(2).mean()

    lite.start_task(0, 8, batches=lambda: iter(data), loss_fn=loss_fn)
    lite.end_task()
    with pytest.raises(ConfigError, match="num_classes=K"):
        lite.start_task(1, 8, batches=lambda: iter(data), loss_fn=loss_fn)
    with pytest.raises(ConfigError, match="num_classes must be >= 2"):
        LiteLoRA(nn.Sequential(nn.Linear(D, D)), AdapterConfig(target_modules=["0"], r=2), "inclora",
                 None, num_tasks=1).start_task(0, 8, batches=lambda: iter(data), loss_fn=loss_fn, num_classes=1)


def test_what_a_core_reuse_path_stores_counts_against_the_parameter_saving(tmp_path) -> None:
    trainer, result = _planted(tmp_path, {"kind": "litelora-v3", "reuse": "core", "params": {"novelty": 0.999}},
                               name="core")
    reuse = [p for t in trainer.bank.targets for p in trainer.bank.slot(t).reuse.parameters()]
    assert reuse and not any(p.requires_grad for p in reuse)  # each task's reuse path froze as its task ended
    m = result.metrics
    assert m["reuse_params"] > 0  # every later module closed and trained a core over its old span
    assert m["param_reduction"] == pytest.approx(1.0 - (m["adapter_params"] + m["reuse_params"])
                                                 / m["host_adapter_params"])
    assert m["param_reduction"] < 1.0 - m["adapter_params"] / m["host_adapter_params"]


def test_min_rank_recruits_the_same_modules_at_a_higher_rank(tmp_path) -> None:
    _, spectral = _planted(tmp_path, {"kind": "litelora-v3", "params": {"novelty": 0.3}}, name="spectral")
    _, full = _planted(tmp_path, {"kind": "litelora-v3", "params": {"novelty": 0.3, "min_rank": 2}}, name="full")
    first = {d.target: d.rank for d in spectral.gate_decisions if d.task == 1}
    assert any(0 < k < 2 for k in first.values())  # the spectrum alone kept a recruit below full rank
    # The first gated task decides before anything differs; later tasks follow different training.
    assert {d.target: d.rank for d in full.gate_decisions if d.task == 1} == {t: 2 if k else 0 for t, k in first.items()}
    assert all(d.rank in (0, d.full_rank) for d in full.gate_decisions)


def test_a_gate_budget_recruits_the_neediest_modules_at_their_spectral_rank(tmp_path) -> None:
    """gate.budget: the top fraction of modules by need (x unsolved, one value per task), each at
    the rank its spectrum gives, at least 1."""
    _, result = _planted(tmp_path, {"kind": "litelora-v3", "budget": 0.34}, name="budget")
    later = sorted({d.task for d in result.gate_decisions} - {0})
    assert later
    for task in later:
        decisions = [d for d in result.gate_decisions if d.task == task]
        recruits = [d for d in decisions if d.recruit]
        assert len(recruits) == round(0.34 * len(decisions))
        assert min(d.scores["need"] for d in recruits) >= max(d.scores["need"] for d in decisions if not d.recruit)
        assert all(d.rank == max(1, int(d.scores["directions"])) for d in recruits)


def test_a_group_recruits_as_a_whole_where_any_of_its_modules_would(tmp_path) -> None:
    """gate.group=task: the first gated task decides before anything differs from the per-module
    run, so it recruits every module iff any module recruited there, each at its own rank, at least 1."""
    _, single = _planted(tmp_path, {"kind": "litelora-v3", "params": {"novelty": 0.3}}, name="module")
    _, whole = _planted(tmp_path, {"kind": "litelora-v3", "group": "task", "params": {"novelty": 0.3}}, name="task")
    alone = {d.target: d.rank for d in single.gate_decisions if d.task == 1}
    assert 0 in alone.values() and any(alone.values())  # a mixed decision, which the group must overrule
    grouped = {d.target: d.rank for d in whole.gate_decisions if d.task == 1}
    assert grouped == {t: max(1, k) for t, k in alone.items()}
    for task in {d.task for d in whole.gate_decisions}:
        assert len({d.recruit for d in whole.gate_decisions if d.task == task}) == 1  # all or none


@pytest.mark.parametrize("params, message", [
    ({"min_rank": 0}, r"gate\.params\.min_rank must be a positive integer rank, got 0"),
    ({"min_rank": True}, r"gate\.params\.min_rank: expected an integer, got bool True"),
    ({"min_rank": 2, "param_budget": 0.5}, r"min_rank > 1 can exceed gate\.params\.param_budget"),
])
def test_bad_min_rank_fails_by_name(params: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_gate(GateConfig(kind="litelora-v3", params=params), num_tasks=2)


@pytest.mark.parametrize("config", [{"group": "layer"}, {"group": "task"}, {"budget": 0.75}])
def test_a_parameter_budget_with_groups_chosen_whole_fails_by_name(config: dict) -> None:
    # A group chosen whole takes rank >= 1 in each of its modules after the cap was filled.
    with pytest.raises(ConfigError, match=r"param_budget caps parameters module by module"):
        build_gate(GateConfig(kind="litelora-v3", params={"param_budget": 0.2}, **config), num_tasks=2)


def test_a_probe_whose_loss_is_not_finite_fails_instead_of_deciding() -> None:
    model = nn.Sequential(nn.Linear(D, D, bias=False))
    lite = LiteLoRA(model, AdapterConfig(target_modules=["0"], r=2), "inclora", GateConfig(kind="litelora-v3"),
                    num_tasks=2)
    good = [(torch.randn(8, D), torch.randn(8, D))]
    bad = [(torch.randn(8, D), torch.full((8, D), float("nan")))]

    def loss_fn(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (model(x) - y).pow(2).mean()

    lite.start_task(0, 8, batches=lambda: iter(good), loss_fn=loss_fn)
    lite.end_task()
    with pytest.raises(NonFiniteError, match=r"non-finite loss \(nan\) at task 1, step 1 of the gate's probe"):
        lite.start_task(1, 8, batches=lambda: iter(bad), loss_fn=loss_fn)
