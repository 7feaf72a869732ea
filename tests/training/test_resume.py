"""Checkpoints and resume: a run stopped anywhere ends exactly as an uninterrupted one."""

import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from litelora.errors import ConfigError, LiteLoraError, NonFiniteError, PathError
from litelora.training.build import build_trainer
from litelora.training.checkpoint import load_latest
from litelora.training.config import RunConfig
from crash_helpers import crash_then_resume

SETS = {
    "benchmark": {"name": "tiny-text"},
    "model": {"name": "tiny-bert", "max_length": 16},
    "gate": {"kind": "hard_concrete", "params": {"lam": 0.05, "decide_at": 0.5}},
    "train": {"epochs": 2, "batch_size": 8, "progress": False, "lr": 5e-3, "checkpoint_every": 2,
              "num_threads": 1},
}


def _config(out) -> RunConfig:
    return RunConfig.from_dict({**SETS, "output_dir": str(out)})


def _final(out) -> tuple[list, dict]:
    import json

    results = json.loads((out / "results.json").read_text())
    return results["train_info"]["accuracy_matrix"], load_file(str(out / "adapters" / "adapters.safetensors"))


def _assert_same(a, b) -> None:
    (Ra, ta), (Rb, tb) = a, b
    assert Ra == Rb
    assert ta.keys() == tb.keys()
    for k in ta:
        assert torch.equal(ta[k], tb[k]), k


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "run"
    build_trainer(_config(out)).run()
    return _final(out)


V2 = {**SETS, "gate": {"kind": "litelora", "budget": 0.5}}
# v3 sizes ranks from its probe; with probe_counts the probe's steps are the task's first, so a
# resume must rerun the probe and then skip the batches it already trained on.
V3 = {**SETS, "gate": {"kind": "litelora-v3", "params": {"unsolved": "chance", "probe_counts": True}}}


@pytest.mark.parametrize("crash_at", [2, 4, 7])
@pytest.mark.parametrize("sets", [V2, V3], ids=["v2", "v3-kept-probe"])
def test_resume_with_the_litelora_gate_matches_uninterrupted(tmp_path, monkeypatch, crash_at: int, sets) -> None:
    """The probe reruns on resume from the restored task start and decides the same."""
    ref, out = tmp_path / "ref", tmp_path / "run"
    build_trainer(RunConfig.from_dict({**sets, "output_dir": str(ref)})).run()
    crash_then_resume(monkeypatch, lambda: RunConfig.from_dict({**sets, "output_dir": str(out)}), crash_at)
    _assert_same(_final(out), _final(ref))
    assert (out / "gates.json").read_text() == (ref / "gates.json").read_text()


SDLORA = {**SETS, "method": {"name": "sdlora"}, "gate": {"kind": "none"},
          "train": {**SETS["train"], "weight_decay": 0.1}}


@pytest.mark.parametrize("crash_at", [3, 6])
def test_sdlora_resumes_mid_task_with_its_magnitude_group(tmp_path, monkeypatch, crash_at: int) -> None:
    """SD-LoRA's shared alphas train in their own group (no weight decay) and are re-tied at each
    task start: a run killed mid-task resumes to the uninterrupted run, bit for bit."""
    ref, out = tmp_path / "ref", tmp_path / "run"
    build_trainer(RunConfig.from_dict({**SDLORA, "output_dir": str(ref)})).run()
    crash_then_resume(monkeypatch, lambda: RunConfig.from_dict({**SDLORA, "output_dir": str(out)}), crash_at)
    _assert_same(_final(out), _final(ref))


@pytest.mark.parametrize("crash_at", [1, 3, 6, 7, 11])
def test_resume_after_crash_matches_uninterrupted(tmp_path, reference, monkeypatch, crash_at: int) -> None:
    """Crash right after the n-th checkpoint (mid-task, before and after the gate decision,
    and at task boundaries), then resume in a fresh trainer."""
    out = tmp_path / "run"
    crash_then_resume(monkeypatch, lambda: _config(out), crash_at)
    _assert_same(_final(out), reference)


def test_damaged_checkpoint_falls_back_to_previous(tmp_path, reference) -> None:
    out = tmp_path / "run"
    build_trainer(_config(out)).run()
    root = out / "checkpoints"
    newest, previous = sorted(root.glob("ckpt-*"), reverse=True)[:2]
    target = newest / "start_bank.safetensors"
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match="checksum mismatch"):
        assert load_latest(root).path == previous
    (previous / "manifest.json").unlink()
    before = sorted(p.name for p in root.rglob("*"))
    with pytest.warns(UserWarning, match="incomplete checkpoint"), \
            pytest.raises(PathError, match="no intact checkpoint.*nothing was deleted"):
        load_latest(root)
    with pytest.warns(UserWarning), pytest.raises(PathError, match="pass --force"):
        build_trainer(_config(out)).run(resume=True)
    assert sorted(p.name for p in root.rglob("*")) == before  # the damaged run is left for the user
    with pytest.warns(UserWarning):
        build_trainer(_config(out)).run(resume=True, force=True)
    _assert_same(_final(out), reference)  # started over, as asked, and ran to the same end


def test_resume_refuses_a_changed_config(tmp_path) -> None:
    out = tmp_path / "run"
    cfg = _config(out)
    cfg.train.max_steps_per_task = 3
    build_trainer(cfg).run()
    changed = _config(out)
    changed.train.max_steps_per_task = 3
    changed.train.lr = 1e-2
    with pytest.raises(ConfigError, match=r"train.lr"):
        build_trainer(changed).run(resume=True)
    build_trainer(changed).run(resume=True, allow_changes=["train.lr"])


def test_nan_stops_with_message_and_keeps_last_checkpoint(tmp_path, reference) -> None:
    out = tmp_path / "run"
    trainer = build_trainer(_config(out))
    calls = {"n": 0}
    real = trainer.method.extra_loss

    def poisoned(ctx):
        calls["n"] += 1
        return torch.tensor(float("nan")) if calls["n"] == 15 else real(ctx)

    trainer.method.extra_loss = poisoned
    with pytest.raises(NonFiniteError, match=r"non-finite loss \(nan\) at task 1, step 2"):
        trainer.run()
    ckpt = load_latest(out / "checkpoints")
    assert ckpt is not None and ckpt.state["start"]["progress"]["next_task"] == 1
    build_trainer(_config(out)).run(resume=True)
    _assert_same(_final(out), reference)  # resumed from task 1's start, as if nothing had happened


def test_lock_stops_a_second_writer(tmp_path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / ".lock").write_text(str(os.getppid()))  # a live process that is not us
    with pytest.raises(LiteLoraError, match="being written by another run"):
        build_trainer(_config(out)).run()
    (out / ".lock").write_text("999999999")  # a dead writer: its lock is taken over
    build_trainer(_config(out)).run()
    assert not (out / ".lock").exists()


def _newest_seq(out) -> int:
    names = [p.name for p in (out / "checkpoints").glob("ckpt-*")] if (out / "checkpoints").is_dir() else []
    return max((int(n.split("-")[1]) for n in names), default=0)


def _kill_and_resume(tmp_path, kills: list[tuple[int, float]]):
    """For each (checkpoint number, delay): start or resume the run, wait until that
    checkpoint exists, wait ``delay`` more seconds (landing mid-step or mid-write), SIGKILL."""
    out = tmp_path / "run"
    args = [sys.executable, "-m", "litelora", "train", "--no-progress", "-o", str(out)]
    for section, fields in SETS.items():
        for k, v in fields.items():
            args += ["--set", f"{section}.{k}={str(v).lower() if isinstance(v, bool) else v}"]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    for seq, delay in kills:
        proc = subprocess.Popen([*args, "--resume", "auto"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env=env)
        deadline = time.monotonic() + 120
        while _newest_seq(out) < seq and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    subprocess.run([*args, "--resume", "auto"], check=True, stdout=subprocess.DEVNULL, env=env)
    return out


def test_sigkill_then_resume(tmp_path, reference) -> None:
    out = _kill_and_resume(tmp_path, [(2, 0.0), (7, 0.05), (12, 0.2)])
    _assert_same(_final(out), reference)
    events = (out / "events.jsonl").read_text()
    assert events.count('"event": "resume"') >= 3  # every restart found a checkpoint to resume from


@pytest.mark.slow
def test_sigkill_at_many_moments(tmp_path, reference) -> None:
    import random

    rng = random.Random(0)
    kills = sorted((rng.randint(1, 17), rng.uniform(0.0, 0.3)) for _ in range(24))
    out = _kill_and_resume(tmp_path, kills)
    _assert_same(_final(out), reference)


def test_disk_full_during_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch) -> None:
    import errno

    from litelora.training import checkpoint as ckpt_module

    out = tmp_path / "run"
    cfg = _config(out)
    cfg.train.max_steps_per_task = 3
    real = ckpt_module.write_safetensors
    calls = {"n": 0}

    def full_disk(path, tensors, metadata=None, name=None):
        calls["n"] += 1
        if calls["n"] > 12:  # a few checkpoints succeed, then the disk fills mid-write
            raise OSError(errno.ENOSPC, "No space left on device", str(name))
        return real(path, tensors, metadata, name=name)

    monkeypatch.setattr(ckpt_module, "write_safetensors", full_disk)
    with pytest.raises(OSError, match="No space left"):
        build_trainer(cfg).run()
    monkeypatch.setattr(ckpt_module, "write_safetensors", real)
    good = load_latest(out / "checkpoints")
    assert good is not None  # the last complete checkpoint survived the failed write
    cfg2 = _config(out)
    cfg2.train.max_steps_per_task = 3
    build_trainer(cfg2).run(resume=True)
    assert (out / "results.json").is_file()


def test_a_checkpoint_tensor_of_another_shape_is_refused_by_name() -> None:
    from litelora.training.progress import load_live_model_tensors

    model = torch.nn.Linear(3, 4)
    before = model.weight.detach().clone()
    # (1, 3) would broadcast into the (4, 3) weight: refused, and nothing copied.
    with pytest.raises(ConfigError, match=r"'weight' has shape \(1, 3\), the rebuilt model's is \(4, 3\)"):
        load_live_model_tensors(model, {"bias": torch.zeros(4), "weight": torch.ones(1, 3)})
    assert torch.equal(model.weight, before) and not torch.equal(model.bias, torch.zeros(4))


def test_a_run_recorded_before_a_field_existed_resumes(tmp_path) -> None:
    import json

    from litelora.training.run_identity import _added_since

    out = tmp_path / "run"
    cfg = _config(out)
    cfg.train.max_steps_per_task = 3
    build_trainer(cfg).run()
    run_json = out / "run.json"
    record = json.loads(run_json.read_text())
    del record["config"]["adapter"]["autocast_adapter_dtype"]  # as a run started before it existed
    run_json.write_text(json.dumps(record))
    again = _config(out)
    again.train.max_steps_per_task = 3
    build_trainer(again).run(resume=True)  # float32: either value computes the same
    # A half-precision run then kept its adapters in the model's dtype: resuming it says so by name.
    half = {"model": {"dtype": "bfloat16"}, "adapter": {"r": 8}}
    assert _added_since(half)["adapter"]["autocast_adapter_dtype"] is False
