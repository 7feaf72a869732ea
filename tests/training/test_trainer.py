import numpy as np
import pytest
import torch

from litelora.benchmarks import Example, Task, TaskStream, build_benchmark
from litelora.errors import ConfigError, DataError
from litelora.metrics import summarize
from litelora.reporting import RunDirectory
from litelora.training.backbones import build_backbone
from litelora.training.build import build_trainer, validate
from litelora.training.callbacks import Callback
from litelora.training.config import ModelConfig, RunConfig
from litelora.training.evaluation import evaluate_task
from litelora.training.trainer import ContinualTrainer


def _config(tmp_path, **sections) -> RunConfig:
    data = {
        "benchmark": {"name": "tiny-text"},
        "model": {"name": "tiny-bert", "max_length": 16},
        "train": {"epochs": 2, "batch_size": 8, "progress": False, "lr": 5e-3},
        "output_dir": str(tmp_path / "run"),
    }
    for k, v in sections.items():
        data[k] = {**data.get(k, {}), **v}
    return RunConfig.from_dict(data)


def test_run_writes_complete_directory_and_metrics_read_back(tmp_path) -> None:
    trainer = build_trainer(_config(tmp_path))
    result = trainer.run()
    run = RunDirectory(tmp_path / "run")
    for name in ["config.yaml", "events.jsonl", "accuracy_matrix.csv", "results.json", "stream.json",
                 "adapters/bank.json", "adapters/adapters.safetensors", "head/head.safetensors", "head/head.json"]:
        assert (run.root / name).is_file(), name
    R = run.read_matrix()
    T = len(R)
    assert [[R[i][j] for j in range(i + 1, T)] for i in range(T)] == [[None] * (T - i - 1) for i in range(T)]
    assert "\n0,0." in (run.root / "accuracy_matrix.csv").read_text() and ",,\n" in (run.root / "accuracy_matrix.csv").read_text()
    R = [[v if v is not None else 0.0 for v in row] for row in R]
    assert np.allclose(R, result.accuracy_matrix, atol=1e-6)
    results = run.read_json("results.json")
    assert set(results) >= {"run_info", "train_info", "meta_info", "metrics"}
    recomputed = summarize(R, n_test=results["train_info"]["n_test"])
    for key, value in recomputed.items():
        assert results["metrics"][key] == pytest.approx(value, abs=1e-6)
    evals = [e for e in run.events() if e["event"] == "eval"]
    assert len(evals) == 6  # 1 + 2 + 3 evaluations over 3 tasks
    assert not list(run.root.rglob("*.tmp"))


def test_seeded_runs_are_deterministic(tmp_path) -> None:
    a = build_trainer(_config(tmp_path / "a")).run()
    b = build_trainer(_config(tmp_path / "b")).run()
    assert a.accuracy_matrix == b.accuracy_matrix


class OptimizerGroups(Callback):
    """The optimizer's groups (name -> parameter ids) at the first step of each task."""

    def __init__(self) -> None:
        self.per_task: list[dict[str, set[int]]] = []

    def on_step_end(self, task, step, loss, examples, optimizer) -> None:
        if step == 1:
            self.per_task.append({g["name"]: {id(p) for p in g["params"]} for g in optimizer.param_groups})


def test_optimizer_holds_only_the_method_parameters_and_old_adapters_stay_fixed(tmp_path) -> None:
    recorder = OptimizerGroups()
    trainer = build_trainer(_config(tmp_path), callbacks=[recorder])
    optimizers = recorder.per_task
    snapshots: dict[int, dict[str, torch.Tensor]] = {}
    original = trainer.method.after_task

    def after_task(ctx):
        original(ctx)
        snapshots[ctx.task_id] = {f"{k}.{w}": getattr(a, f"lora_{w}").detach().clone()
                                  for k, a in ctx.bank.candidates(ctx.task_id).items() for w in "AB"}

    trainer.method.after_task = after_task
    trainer.run()
    assert len(optimizers) == 3
    for t, groups in enumerate(optimizers):
        expected = {id(getattr(a, f"lora_{w}")) for a in trainer.bank.candidates(t).values() for w in "AB"}
        assert groups["adapters"] == expected
        head_block = trainer.model.head.blocks[t]
        assert groups["head"] == {id(head_block.weight), id(head_block.bias)}
    for t, snap in snapshots.items():
        for key, value in snap.items():
            target, which = key.rsplit(".", 1)
            assert torch.equal(getattr(trainer.bank.candidates(t)[target], f"lora_{which}"), value)
    assert not [n for n, p in trainer.model.named_parameters() if p.requires_grad]


def test_cil_prediction_ranges_over_all_seen_classes(tmp_path) -> None:
    trainer = build_trainer(_config(tmp_path))
    trainer.run()
    stream = trainer.stream
    mixed = Task(0, "mixed", tuple(c for t in stream.tasks[:2] for c in t.classes),
                 train=[], test=stream.tasks[0].test[:4] + stream.tasks[1].test[:4])
    model = trainer.model.eval()
    batch = model.backbone.collate([ex.input for ex in mixed.test])
    with torch.no_grad():
        logits = model(batch)
    assert logits.shape == (8, stream.num_classes)  # no task id: every seen class is a candidate
    pred = [model.head.class_ids[k] for k in logits.argmax(-1).tolist()]  # argmax over every column
    expected = sum(p == ex.label for p, ex in zip(pred, mixed.test)) / 8
    assert evaluate_task(model, mixed, "cil") == pytest.approx(expected)


def test_til_restricts_to_task_classes(tmp_path) -> None:
    trainer = build_trainer(_config(tmp_path, benchmark={"options": {"scenario": "til"}}))
    result = trainer.run()
    assert min(result.accuracy_matrix[i][i] for i in range(3)) >= 0.5  # chance is 0.5 within a task
    model, task = trainer.model.eval(), trainer.stream.tasks[0]
    with torch.no_grad():
        logits = model(model.backbone.collate([ex.input for ex in task.test]))
    own = [k for k, c in enumerate(model.head.class_ids) if c in task.classes]  # the task's columns only
    pred = [model.head.class_ids[own[k]] for k in logits[:, own].argmax(-1).tolist()]
    til = evaluate_task(model, task, "til")
    assert til == pytest.approx(sum(p == ex.label for p, ex in zip(pred, task.test)) / len(task.test))
    assert til >= evaluate_task(model, task, "cil")  # fewer candidates can only help


def _stream(train, test, classes=(0, 1)) -> TaskStream:
    return TaskStream("bad", "cil", [Task(0, "t", classes, train, test)], ["a", "b"])


@pytest.mark.parametrize(
    ("stream", "needle"),
    [
        (_stream([], [Example("x", 0)]), "training set is empty"),
        (_stream([Example("x", 0)], [Example("y", 5)]), "not among the task's classes"),
        (_stream([Example("x", 0)], [Example("y", 0)], classes=()), "no classes"),
    ],
)
def test_bad_streams_fail_before_training(tmp_path, stream, needle) -> None:
    cfg = _config(tmp_path)
    with pytest.raises(DataError, match=needle):
        ContinualTrainer(cfg, stream, build_backbone(ModelConfig(name="tiny-bert")))
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("sections", "needle"),
    [
        ({"method": {"name": "inclra"}}, "Did you mean 'inclora'"),
        ({"benchmark": {"name": "wordnet"}}, "Known benchmarks"),
        ({"benchmark": {"options": {"num_taks": 3}}}, "num_taks"),
        ({"gate": {"kind": "hard_concrete"}, "method": {"name": "seqlora"}}, "seqlora"),
    ],
)
def test_bad_config_fails_before_writing(tmp_path, sections, needle) -> None:
    with pytest.raises(ConfigError, match=needle):
        build_trainer(_config(tmp_path, **sections))
    assert not (tmp_path / "run").exists()


def test_bad_field_values() -> None:
    with pytest.raises(ConfigError, match="train.lr must be > 0"):
        RunConfig.from_dict({"train": {"lr": -0.1}})
    with pytest.raises(ConfigError, match="did you mean 'epochs'"):
        RunConfig.from_dict({"train": {"epoch": 3}})
    with pytest.raises(ConfigError, match="expected an integer"):
        RunConfig.from_dict({"train": {"batch_size": "8"}})
    with pytest.raises(ConfigError, match="allowed"):
        RunConfig.from_dict({"gate": {"group": "blocks"}})
    # gate.kind is any registered gate (plugins included): checked against the registry
    with pytest.raises(ConfigError, match="gate.kind: unknown gate 'hardconcrete'. Did you mean 'hard_concrete'"):
        validate(RunConfig.from_dict({"gate": {"kind": "hardconcrete"}}))


def test_seqlora_trains_one_adapter_through_all_tasks(tmp_path) -> None:
    trainer = build_trainer(_config(tmp_path, method={"name": "seqlora"}))
    result = trainer.run()
    assert trainer.bank.tasks == [0]
    assert result.metrics["active_adapters"] == len(trainer.bank.targets)
    assert result.metrics["adapter_reduction"] is None


def test_tiny_text_stream_is_seeded() -> None:
    a, b = build_benchmark("tiny-text", seed=1), build_benchmark("tiny-text", seed=1)
    assert a.class_order == b.class_order
    assert build_benchmark("tiny-text", seed=2).class_order != a.class_order


def test_joint_trains_once_on_the_union(tmp_path) -> None:
    trainer = build_trainer(_config(tmp_path, method={"name": "joint"}))
    result = trainer.run()
    assert len(trainer.stream.tasks) == 1 and trainer.stream.tasks[0].name == "joint"
    assert trainer.stream.meta["merged_from"] == ["task_000", "task_001", "task_002"]
    assert len(trainer.stream.tasks[0].classes) == 6
    assert len(result.accuracy_matrix) == 1 and result.metrics["active_adapters"] == len(trainer.bank.targets)


def test_a_generative_task_with_every_candidate_closed_is_evaluated_untrained(tmp_path) -> None:
    # No head and frozen reuse: after task 0 nothing requires a gradient. The run must go on
    # (that model is the "closed after task 0" reference), say so, and leave the weights as they were.
    cfg = _config(tmp_path, model={"name": "tiny-llama", "max_length": 160},
                  train={"max_steps_per_task": 2, "epochs": 1},
                  method={"name": "inclora"}, gate={"kind": "random", "budget": 0.01})
    trainer = build_trainer(cfg)
    with pytest.warns(UserWarning, match="task 1: nothing trains"):
        result = trainer.run()
    starts = [e for e in RunDirectory(tmp_path / "run").events() if e["event"] == "task_start"]
    assert [e["steps"] for e in starts] == [2, 0, 0]
    assert [e["trainable_params"] for e in starts][1:] == [0, 0]
    R = result.accuracy_matrix
    assert R[2][0] == pytest.approx(R[0][0])  # task 0 untouched by the tasks that trained nothing
