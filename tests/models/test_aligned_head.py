"""The aligned head: class-incremental calibration from per-class feature statistics."""

import pytest
import torch
import torch.nn.functional as F

from litelora.errors import ConfigError, DataError
from litelora.models.aligned_head import AlignedHead
from litelora.models.config import AlignmentConfig
from litelora.training.build import build_trainer
from litelora.training.config import RunConfig
from litelora.models.heads import GrowingHead
from crash_helpers import crash_then_resume

D = 8


def _task_features(task: int, n: int = 200) -> tuple[torch.Tensor, torch.Tensor]:
    """Two separable classes per task on one line: task 0 at -3 and +3 along e_0, task 1 at 12 along
    e_0 and -3 / +3 along e_1. Trained alone, task 0's rows learn "large e_0 means class 1", and
    every input of task 1 has a large e_0: the plain head calls them all class 1."""
    g = torch.Generator().manual_seed(task)
    labels = torch.arange(2 * task, 2 * task + 2).repeat_interleave(n // 2)
    centers = torch.zeros(4, D)
    centers[0, 0], centers[1, 0] = -3.0, 3.0
    centers[2:, 0], centers[2, 1], centers[3, 1] = 12.0, -3.0, 3.0
    return centers[labels] + 0.5 * torch.randn(n, D, generator=g), labels


def _train_task_rows(head: GrowingHead, task: int) -> None:
    classes = [2 * task, 2 * task + 1]
    params = head.add_task(classes)
    opt = torch.optim.AdamW(params, lr=0.05)
    x, y = _task_features(task)
    cols = head.columns(classes)
    for _ in range(150):
        loss = F.cross_entropy(head(x)[:, cols], y - 2 * task)
        opt.zero_grad()
        loss.backward()
        opt.step()
    head.add_task([])


def _cil_accuracy(head: GrowingHead) -> float:
    xs, ys = zip(*(_task_features(t, 100) for t in (0, 1)))
    x, y = torch.cat(xs), torch.cat(ys)
    pred = torch.tensor(head.class_ids)[head(x).argmax(-1)]
    return float((pred == y).float().mean())


def test_aligned_head_recovers_class_incremental_accuracy_where_the_plain_head_fails() -> None:
    torch.manual_seed(0)
    plain = GrowingHead(D)
    torch.manual_seed(0)
    aligned = AlignedHead(D, AlignmentConfig(steps=200))
    for t in (0, 1):
        _train_task_rows(plain, t)
        _train_task_rows(aligned, t)
        x, y = _task_features(t)
        aligned.learn_classes([(x[:100], y[:100]), (x[100:], y[100:])], [2 * t, 2 * t + 1])
        aligned.align(t)
    assert _cil_accuracy(plain) < 0.8
    assert _cil_accuracy(aligned) >= 0.9


def test_statistics_are_the_class_moments_and_nothing_else_is_kept() -> None:
    head = AlignedHead(D, AlignmentConfig(shrinkage=0.0))
    head.add_task([0, 1])
    x, y = _task_features(0)
    head.learn_classes([(x[:50], y[:50]), (x[50:], y[50:])], [0, 1])
    for c in (0, 1):
        rows = x[y == c].double()
        mean, cov = head.stats[c]
        torch.testing.assert_close(mean, rows.mean(0))
        torch.testing.assert_close(cov, torch.cov(rows.T))
    keys = set(head.state_tensors())
    assert keys == {"blocks.0.weight", "blocks.0.bias", "stats.0.mean", "stats.0.cov", "stats.1.mean", "stats.1.cov"}
    assert all(v.shape[0] in (2, D) for v in head.state_tensors().values())  # no example rows stored


def test_diagonal_statistics_and_state_round_trip() -> None:
    head = AlignedHead(D, AlignmentConfig(covariance="diagonal", steps=5))
    head.add_task([0, 1])
    x, y = _task_features(0)
    head.learn_classes([(x, y)], [0, 1])
    assert head.stats[0][1].shape == (D,)
    before = head.align(0)
    copy = AlignedHead(D, AlignmentConfig(covariance="diagonal", steps=5))
    copy.restore(head.structure(), head.state_tensors())
    for c in (0, 1):
        assert torch.equal(copy.stats[c][0], head.stats[c][0]) and torch.equal(copy.stats[c][1], head.stats[c][1])
    assert copy.align(0) != before  # it starts from the re-fitted rows
    assert len(before) == 5


def test_alignment_draws_no_global_random_numbers() -> None:
    head = AlignedHead(D, AlignmentConfig(steps=3))
    head.add_task([0, 1])
    x, y = _task_features(0)
    head.learn_classes([(x, y)], [0, 1])
    state = torch.random.get_rng_state()
    head.align(0)
    assert torch.equal(torch.random.get_rng_state(), state)


def test_a_class_without_two_examples_is_a_clear_error() -> None:
    head = AlignedHead(D)
    head.add_task([0, 1])
    x, y = _task_features(0)
    with pytest.raises(DataError, match=r"classes \[1\]"):
        head.learn_classes([(x[:3], torch.tensor([0, 0, 1]))], [0, 1])


@pytest.mark.parametrize("kw", [{"steps": 0}, {"samples_per_class": 0}, {"lr": 0.0}, {"shrinkage": -1.0}])
def test_bad_alignment_config(kw) -> None:
    with pytest.raises(ConfigError, match="model.alignment"):
        AlignmentConfig(**kw)


def _tiny_run(tmp_path, name: str, **model):
    cfg = RunConfig.from_dict({
        "benchmark": {"name": "tiny-text"},
        "model": {"name": "tiny-bert", "max_length": 16, **model},
        "train": {"epochs": 1, "batch_size": 8, "progress": False, "lr": 5e-3, "checkpoint_every": 2,
                  "num_threads": 1},
        "output_dir": str(tmp_path / name),
    })
    return cfg


def test_aligned_head_run_resumes_bit_identically(tmp_path, monkeypatch) -> None:
    ref = build_trainer(_tiny_run(tmp_path, "ref", head="aligned")).run()
    resumed = crash_then_resume(monkeypatch, lambda: _tiny_run(tmp_path, "run", head="aligned"), 3)
    assert resumed.accuracy_matrix == ref.accuracy_matrix
    head = (tmp_path / "run" / "head" / "head.json").read_text()
    assert '"kind": "aligned"' in head


def test_aligned_head_on_a_generative_model_is_refused(tmp_path) -> None:
    cfg = RunConfig.from_dict({"benchmark": {"name": "tiny-text"}, "model": {"name": "tiny-llama", "head": "aligned"},
                               "output_dir": str(tmp_path / "g")})
    with pytest.raises(ConfigError, match="model.head='aligned' applies to classifiers"):
        build_trainer(cfg)


def test_drift_compensation_moves_old_means_with_the_nearby_new_features() -> None:
    head = AlignedHead(2, AlignmentConfig(drift="sdc"))
    head.stats = {0: (torch.tensor([0.0, 0.0], dtype=torch.float64), torch.eye(2, dtype=torch.float64)),
                  1: (torch.tensor([10.0, 0.0], dtype=torch.float64), torch.eye(2, dtype=torch.float64))}
    g = torch.Generator().manual_seed(0)
    near0 = 0.3 * torch.randn(50, 2, generator=g)
    near1 = torch.tensor([10.0, 0.0]) + 0.3 * torch.randn(50, 2, generator=g)
    before = torch.cat([near0, near1])
    after = torch.cat([near0 + torch.tensor([0.0, 2.0]), near1 + torch.tensor([0.0, -3.0])])
    head.compensate_drift(before, after)
    torch.testing.assert_close(head.stats[0][0], torch.tensor([0.0, 2.0], dtype=torch.float64), atol=0.05, rtol=0)
    torch.testing.assert_close(head.stats[1][0], torch.tensor([10.0, -3.0], dtype=torch.float64), atol=0.05, rtol=0)
    uniform = AlignedHead(2, AlignmentConfig(drift="sdc"))
    uniform.stats = {0: (torch.tensor([3.0, 3.0], dtype=torch.float64), torch.eye(2, dtype=torch.float64))}
    uniform.compensate_drift(before, before + torch.tensor([1.0, -1.0]))  # one shift for every example
    torch.testing.assert_close(uniform.stats[0][0], torch.tensor([4.0, 2.0], dtype=torch.float64))


def test_drift_compensation_run_resumes_bit_identically(tmp_path, monkeypatch) -> None:
    def cfg(name):
        return _tiny_run(tmp_path, name, head="aligned", alignment={"drift": "sdc", "steps": 20})

    ref = build_trainer(cfg("ref")).run()
    assert crash_then_resume(monkeypatch, lambda: cfg("run"), 4).accuracy_matrix == ref.accuracy_matrix
