"""Learning-rate schedules: values, what the optimizer actually uses, and resume across them."""

import math

import pytest
import torch

from litelora.errors import ConfigError
from litelora.training.build import build_trainer
from litelora.training.callbacks import Callback
from litelora.training.config import RunConfig, TrainConfig
from litelora.training.optim import apply_schedule, build_optimizer, schedule_factor


def test_cosine_factor_runs_from_one_to_zero_and_constant_stays_one() -> None:
    assert schedule_factor("cosine", 0, 8) == pytest.approx(1.0)
    assert schedule_factor("cosine", 4, 8) == pytest.approx(0.5)
    assert schedule_factor("cosine", 2, 8) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))
    assert schedule_factor("cosine", 8, 8) == pytest.approx(0.0, abs=1e-12)
    assert all(schedule_factor("constant", s, 8) == 1.0 for s in range(9))
    with pytest.raises(ValueError, match="linear"):
        schedule_factor("linear", 0, 8)


def test_schedule_scales_every_group_from_its_own_base_and_survives_a_rebuild() -> None:
    a, b = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2))
    groups = [{"params": [a], "lr": 1e-3, "name": "adapters"}, {"params": [b], "lr": 1e-2, "name": "head"}]
    opt = build_optimizer(groups, 0.0)
    apply_schedule(opt, "cosine", 4, 8)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([5e-4, 5e-3])
    apply_schedule(opt, "cosine", 6, 8)  # from the base, not compounded on the last value
    factor = schedule_factor("cosine", 6, 8)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([1e-3 * factor, 1e-2 * factor])
    rebuilt = build_optimizer(groups, 0.0, previous=opt)
    apply_schedule(rebuilt, "cosine", 6, 8)
    assert [g["lr"] for g in rebuilt.param_groups] == pytest.approx([1e-3 * factor, 1e-2 * factor])


def test_unknown_schedule_is_a_config_error_naming_the_field() -> None:
    with pytest.raises(ConfigError, match=r"train\.lr_schedule.*cosine"):
        TrainConfig(lr_schedule="linear")


def _config(out, **train) -> RunConfig:
    return RunConfig.from_dict({
        "benchmark": {"name": "tiny-text"}, "model": {"name": "tiny-bert", "max_length": 16},
        "gate": {"kind": "hard_concrete", "params": {"lam": 0.05, "decide_at": 0.5}},
        "train": {"epochs": 2, "batch_size": 8, "progress": False, "lr": 5e-3, "head_lr": 1e-2,
                  "lr_schedule": "cosine", "num_threads": 1, **train},
        "output_dir": str(out)})


def test_trainer_steps_with_the_cosine_rates_in_every_task(tmp_path, monkeypatch) -> None:
    """Each task restarts the cosine; the gate's decision (an optimizer rebuild) does not."""
    used: list[dict[str, float]] = []
    real_step = torch.optim.AdamW.step

    def spy(self, *args, **kwargs):
        used.append({g["name"]: g["lr"] for g in self.param_groups})
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", spy)
    trainer = build_trainer(_config(tmp_path / "run", max_steps_per_task=4))
    trainer.run()
    assert len(used) == 4 * len(trainer.stream.tasks)
    for i, rates in enumerate(used):
        factor = schedule_factor("cosine", i % 4, 4)
        assert rates["adapters"] == pytest.approx(5e-3 * factor)
        assert rates["head"] == pytest.approx(1e-2 * factor)


class StopAt(Callback):
    """Interrupts the run at one step, as a Ctrl-C would."""

    def __init__(self, task: int, step: int) -> None:
        self.at = (task, step)

    def on_step_end(self, task, step, loss, examples, optimizer) -> None:  # noqa: ANN001
        if (task.task_id, step) == self.at:
            raise KeyboardInterrupt


def test_resume_mid_task_under_cosine_matches_uninterrupted(tmp_path) -> None:
    build_trainer(_config(tmp_path / "ref", checkpoint_every=2)).run()
    # Task 1 has 12 steps and its gate decides at step 6: stop at step 7, after the checkpoint of
    # step 6, and resume there (the decision, the cosine position and the optimizer restored).
    with pytest.raises(KeyboardInterrupt):
        build_trainer(_config(tmp_path / "run", checkpoint_every=2), callbacks=[StopAt(1, 7)]).run()
    build_trainer(_config(tmp_path / "run", checkpoint_every=2)).run(resume=True)
    from safetensors.torch import load_file

    a = load_file(str(tmp_path / "ref" / "adapters" / "adapters.safetensors"))
    b = load_file(str(tmp_path / "run" / "adapters" / "adapters.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_checkpoint_of_other_optimizer_groups_is_refused_by_cause() -> None:
    from litelora.errors import ConfigError
    from litelora.training.checkpoint import optimizer_from_checkpoint, optimizer_to_checkpoint

    a, b = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(()))
    old = build_optimizer([{"params": [a, b], "lr": 0.1}], weight_decay=0.0)
    (a.sum() + b).backward()
    old.step()
    state, tensors = optimizer_to_checkpoint(old)
    new = build_optimizer([{"params": [a], "lr": 0.1}, {"params": [b], "lr": 0.1, "weight_decay": 0.0}], 0.0)
    with pytest.raises(ConfigError, match=r"groups of \[2\] parameters where this task trains groups of \[1, 1\]"):
        optimizer_from_checkpoint(new, state, tensors)
