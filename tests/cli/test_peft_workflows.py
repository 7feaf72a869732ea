"""PEFT in and out: per-task snapshots of a run, and eval/analyze of folders written by peft itself."""

import json
import re

import pytest
import torch

from litelora.cli.main import main

TINY = ["--set", "benchmark.name=tiny-text", "--set", "model.name=tiny-bert", "--set", "gate.kind=none"]


def _train(tmp_path, name: str, *extra: str) -> str:
    run = str(tmp_path / name)
    assert main(["train", "--no-progress", "-o", run, *TINY, "--set", "train.epochs=1", "--set", "train.batch_size=8",
                 "--set", "adapter.init_lora_weights=gaussian", *extra]) == 0
    return run


def _accuracies(out: str) -> dict[int, float]:
    return {int(m[1]): float(m[2]) for m in re.finditer(r"task (\d+) \(.*?\): accuracy ([0-9.]+)", out)}


def _features(encoder, texts=("some words here", "other words", "class words more")):
    from litelora.models.text import HashTokenizer

    batch = HashTokenizer(100)(list(texts), max_length=16)
    with torch.no_grad():
        return encoder(**batch).last_hidden_state


def test_per_task_snapshots_reproduce_the_accuracy_matrix_and_load_in_peft(tmp_path, capsys) -> None:
    from peft import PeftModel

    from litelora.training.backbones import build_backbone
    from litelora.training.config import ModelConfig

    run = _train(tmp_path, "run")
    capsys.readouterr()
    out = tmp_path / "export"
    assert main(["export", run, str(out), "--per-task"]) == 0
    assert "3 per-task snapshots" in capsys.readouterr().out
    R = json.loads((tmp_path / "run" / "results.json").read_text())["train_info"]["accuracy_matrix"]
    ranks = []
    for t in range(3):
        folder = out / f"after_task_{t:03d}"
        info = json.loads((folder / "snapshot.json").read_text())
        assert info["exact"] is True and info["tasks"] == list(range(t + 1))
        ranks.append(json.loads((folder / "adapter_config.json").read_text())["r"])
        # The snapshot scores each seen task exactly as the run did right after task t.
        assert main(["eval", "--peft", str(folder), *TINY]) == 0
        accs = _accuracies(capsys.readouterr().out)
        assert sorted(accs) == list(range(t + 1))
        assert [accs[j] for j in range(t + 1)] == pytest.approx(R[t][: t + 1], abs=1e-4)
    assert ranks == [8, 16, 24]  # one rank-8 adapter per task and module, concatenated
    # peft itself loads a snapshot, and it differs from the final model (later tasks are missing).
    base = build_backbone(ModelConfig(name="tiny-bert")).encoder
    first = _features(PeftModel.from_pretrained(base, out / "after_task_000"))
    final = _features(PeftModel.from_pretrained(build_backbone(ModelConfig(name="tiny-bert")).encoder, out))
    last = _features(PeftModel.from_pretrained(build_backbone(ModelConfig(name="tiny-bert")).encoder,
                                               out / "after_task_002"))
    assert not torch.allclose(first, final, atol=1e-4)
    torch.testing.assert_close(last, final, atol=1e-5, rtol=0)


def test_gated_snapshots_drop_closed_adapters_and_stay_exact(tmp_path, capsys) -> None:
    from safetensors.torch import load_file

    # A budget recruits the top half of the modules at each later task: some open, some closed.
    run = _train(tmp_path, "gated", "--set", "gate.kind=hard_concrete", "--set", "gate.budget=0.5")
    out = tmp_path / "export"
    assert main(["export", run, str(out), "--per-task"]) == 0
    decisions = json.loads((tmp_path / "gated" / "gates.json").read_text())
    later = [d["decision"] for d in decisions if d["task"] > 0]
    assert later.count("reuse") == later.count("recruit") == 4
    R = json.loads((tmp_path / "gated" / "results.json").read_text())["train_info"]["accuracy_matrix"]
    for t in range(3):
        folder = out / f"after_task_{t:03d}"
        tensors = load_file(folder / "adapter_model.safetensors")
        for module in {d["target"] for d in decisions}:
            # Task 0 recruits everywhere; later tasks add rank 8 only where their gate stayed open.
            owners = {0} | {d["task"] for d in decisions
                            if d["target"] == module and d["decision"] == "recruit" and d["task"] <= t}
            assert tensors[f"base_model.model.{module}.lora_A.weight"].shape[0] == 8 * len(owners)
        capsys.readouterr()
        assert main(["eval", "--peft", str(folder), *TINY]) == 0
        accs = _accuracies(capsys.readouterr().out)
        assert [accs[j] for j in range(t + 1)] == pytest.approx(R[t][: t + 1], abs=1e-4)


def test_snapshots_of_a_method_that_retrains_old_adapters_are_marked_inexact(tmp_path, capsys) -> None:
    run = _train(tmp_path, "seq", "--set", "method.name=seqlora")
    capsys.readouterr()
    assert main(["export", run, str(tmp_path / "out"), "--per-task"]) == 0
    assert "note: seqlora changes earlier tasks' adapters" in capsys.readouterr().out
    info = json.loads((tmp_path / "out" / "after_task_000" / "snapshot.json").read_text())
    assert info["exact"] is False and "final values" in info["note"]


def _peft_folders(tmp_path, seeds, hidden: int = 32) -> list[str]:
    """PEFT LoRA folders written by peft's own save_pretrained, B non-zero."""
    from peft import LoraConfig, get_peft_model

    from litelora.testing import tiny_bert

    dirs = []
    for i, seed in enumerate(seeds):
        torch.manual_seed(0)
        base = tiny_bert(hidden=hidden)
        torch.manual_seed(seed)
        model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["query", "value"],
                                                init_lora_weights=False))
        d = tmp_path / f"peft_{hidden}_{i}"
        model.save_pretrained(d)
        dirs.append(str(d))
    return dirs


def _random_head(tmp_path, classes_per_task) -> str:
    from litelora._io import save_tensors, write_json
    from litelora.models.heads import GrowingHead

    torch.manual_seed(3)
    head = GrowingHead(32)
    for classes in classes_per_task:
        head.add_task(classes)
    folder = tmp_path / "head"
    save_tensors(folder / "head.safetensors", head.state_tensors())
    write_json(folder / "head.json", {"feature_dim": 32, "blocks": head.structure()})
    return str(folder)


def test_eval_peft_folders_written_by_peft(tmp_path, capsys) -> None:
    from peft import PeftModel

    from litelora._config import apply_override
    from litelora.training.backbones import build_backbone
    from litelora.training.build import build_stream
    from litelora.training.config import ModelConfig, RunConfig
    from litelora.training.evaluation import evaluate_task
    from litelora.models.classifier import ContinualModel

    data: dict = {}
    for o in TINY[1::2]:
        apply_override(data, o)
    stream = build_stream(RunConfig.from_dict(data))
    dirs = _peft_folders(tmp_path, seeds=[1, 2])
    head = _random_head(tmp_path, [t.classes for t in stream.tasks[:2]])
    assert main(["eval", "--peft", *dirs, "--head", head, *TINY]) == 0
    out = capsys.readouterr().out
    accs = _accuracies(out)
    assert sorted(accs) == [0, 1] and "2 of 3 tasks the head covers" in out
    # Reference: peft applies both adapters (merged one after the other) to the same backbone.
    backbone = build_backbone(ModelConfig(name="tiny-bert"))
    plain = _features(backbone.encoder)
    merged = backbone.encoder
    for d in dirs:
        merged = PeftModel.from_pretrained(merged, d).merge_and_unload()
    backbone.encoder = merged
    assert not torch.allclose(_features(merged), plain, atol=1e-4)  # the adapters matter
    reference = ContinualModel(backbone)
    from litelora._io import load_tensors, read_json

    reference.head.restore(read_json(f"{head}/head.json")["blocks"], load_tensors(f"{head}/head.safetensors"))
    expected = [evaluate_task(reference.eval(), t, stream.scenario, 64) for t in stream.tasks[:2]]
    assert [accs[0], accs[1]] == pytest.approx(expected, abs=1e-4)


def test_analyze_peft_folders_written_by_peft(tmp_path, capsys) -> None:
    # Folders 0 and 1 hold the same adapters (same seed); folder 2 is unrelated.
    dirs = _peft_folders(tmp_path, seeds=[5, 5, 6])
    assert main(["analyze", "--peft", *dirs, "-o", str(tmp_path / "analysis")]) == 0
    result = json.loads((tmp_path / "analysis" / "analysis.json").read_text())
    s = result["summary"]
    assert s["modules"] == 4 and s["tasks"] == [0, 1, 2]
    assert s["rho_per_task"][1] == pytest.approx(1.0, abs=1e-5)  # fully inside task 0's span
    assert s["residual_per_task"][1] == pytest.approx(0.0, abs=1e-5)
    assert s["rho_per_task"][2] < 0.9


@pytest.mark.parametrize("case", ["other_base", "no_head", "merged_per_task", "not_empty"])
def test_peft_workflow_errors(case, tmp_path, capsys) -> None:
    if case == "other_base":
        dirs = _peft_folders(tmp_path, seeds=[1], hidden=48)
        argv, needle = ["eval", "--peft", *dirs, "--head", _random_head(tmp_path, [[0, 1]]), *TINY], "lora_A/B"
    elif case == "no_head":
        dirs = _peft_folders(tmp_path, seeds=[1])
        argv, needle = ["eval", "--peft", *dirs, *TINY], "pass --head DIR"
    elif case == "merged_per_task":
        argv, needle = ["export", str(tmp_path), str(tmp_path / "o"), "--format", "merged", "--per-task"], "--per-task"
    else:
        run = _train(tmp_path, "run")
        (tmp_path / "full").mkdir()
        (tmp_path / "full" / "x").write_text("keep")
        argv, needle = ["export", run, str(tmp_path / "full")], "not empty"
    capsys.readouterr()
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err
