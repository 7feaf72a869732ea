import json
import re
import subprocess
import sys

import pytest

from litelora.cli.main import main


def _train_args(tmp_path) -> list[str]:
    return ["train", "--no-progress", "-o", str(tmp_path / "run"),
            "--set", "benchmark.name=tiny-text", "--set", "model.name=tiny-bert", "--set", "gate.kind=none",
            "--set", "train.epochs=1", "--set", "train.batch_size=8"]


def test_train_then_eval_end_to_end(tmp_path, capsys) -> None:
    assert main(_train_args(tmp_path)) == 0
    out = capsys.readouterr().out
    assert "accuracy matrix" in out and "final_acc_sample" in out
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert main(["eval", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    final = float(out.strip().splitlines()[-1].split()[-1])
    assert final == pytest.approx(results["metrics"]["final_acc_sample"], abs=1e-4)


def test_eval_rescores_a_run_task_incrementally(tmp_path, capsys) -> None:
    """The same final model scored task-incrementally: each task's accuracy can only rise (the
    argmax runs over a subset of the columns that contains the right one), and the run is unchanged."""
    assert main(_train_args(tmp_path)) == 0
    capsys.readouterr()
    before = (tmp_path / "run" / "results.json").read_text()
    assert main(["eval", str(tmp_path / "run")]) == 0
    cil = [float(line.split()[-4]) for line in capsys.readouterr().out.splitlines() if line.startswith("task ")]
    assert main(["eval", str(tmp_path / "run"), "--scenario", "til"]) == 0
    out = capsys.readouterr().out
    til = [float(line.split()[-4]) for line in out.splitlines() if line.startswith("task ")]
    assert "scored til (the stream is cil)" in out
    assert len(til) == len(cil) == 3 and all(t >= c for t, c in zip(til, cil)) and sum(til) > sum(cil)
    assert (tmp_path / "run" / "results.json").read_text() == before


def test_config_file_and_overrides(tmp_path, capsys) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("method:\n  name: seqlora\ntrain:\n  lr: 0.01\n")
    assert main(["config", "show", "-c", str(cfg), "--set", "train.lr=0.02"]) == 0
    out = capsys.readouterr().out
    assert "name: seqlora" in out and "lr: 0.02" in out


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["config", "validate", "--set", "trian.lr=1"], "did you mean 'train'"),
        (["config", "validate", "--set", "method.name=olora2"], "Known methods"),
        (["config", "validate", "--set", "gate.kind=hard_concrete", "--set", "gate.params.decide_at=2"],
         "gate.params.decide_at must be in"),
        (["eval", "/nonexistent/run"], "not a litelora run directory"),
    ],
)
def test_errors_are_one_line_messages(args, needle, capsys) -> None:
    assert main(args) == 1
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


def test_list_and_module_entry_point(capsys) -> None:
    assert main(["list", "methods"]) == 0
    names = capsys.readouterr().out.split()
    assert {"inclora", "seqlora"} <= set(names) and names == sorted(names)
    proc = subprocess.run([sys.executable, "-m", "litelora", "list", "benchmarks"], capture_output=True, text=True,
                          check=True)
    assert "wordnet-supersenses" in proc.stdout.split()


def test_export_peft_reloads_with_peft(tmp_path, capsys) -> None:
    import torch
    from peft import PeftModel

    from litelora.models.text import HashTokenizer
    from litelora.training.backbones import build_backbone
    from litelora.workflows.runs import load_run
    from litelora.training.config import ModelConfig

    assert main([*_train_args(tmp_path), "--set", "adapter.init_lora_weights=gaussian"]) == 0
    capsys.readouterr()
    assert main(["export", str(tmp_path / "run"), str(tmp_path / "peft"), "--per-task"]) == 0
    # not a terminal: the bar is one plain line when it closes, counting every stage and snapshot
    assert re.search(r"^export: (\d+)/\1 ", capsys.readouterr().err, re.M)
    assert main(["export", str(tmp_path / "run"), str(tmp_path / "merged"), "--format", "merged",
                 "--no-progress"]) == 0
    assert "export:" not in capsys.readouterr().err
    assert (tmp_path / "peft" / "adapter_config.json").is_file()
    assert (tmp_path / "peft" / "litelora_head" / "head.safetensors").is_file()
    loaded = load_run(tmp_path / "run")
    batch = HashTokenizer(100)(["some words here", "other words"], max_length=16)
    with torch.no_grad():
        ours = loaded.model.backbone.encoder(**batch).last_hidden_state
        base = build_backbone(ModelConfig(name="tiny-bert")).encoder
        plain = base(**batch).last_hidden_state
        theirs = PeftModel.from_pretrained(base, tmp_path / "peft")(**batch).last_hidden_state
    assert not torch.allclose(ours, plain, atol=1e-4)
    torch.testing.assert_close(theirs, ours, atol=1e-5, rtol=0)
    from transformers import AutoModel

    with torch.no_grad():
        merged = AutoModel.from_pretrained(tmp_path / "merged")(**batch).last_hidden_state
    torch.testing.assert_close(merged, ours, atol=1e-5, rtol=0)
    with pytest.raises(SystemExit):
        main(["export", str(tmp_path / "run"), str(tmp_path / "x"), "--format", "onnx"])
    assert main(["export", str(tmp_path / "run"), str(tmp_path / "peft")]) == 1  # exists, no --overwrite


def test_report_on_several_runs_writes_the_comparison(tmp_path, capsys) -> None:
    for seed in (0, 1):
        args = _train_args(tmp_path)
        args[args.index(str(tmp_path / "run"))] = str(tmp_path / f"run{seed}")
        assert main([*args, "--set", f"train.seed={seed}", "--set", "train.max_steps_per_task=2"]) == 0
    out = tmp_path / "cmp"
    assert main(["report", str(tmp_path / "run0"), str(tmp_path / "run1"), "-o", str(out)]) == 0
    assert (out / "comparison.md").is_file() and (out / "pareto.png").is_file()
    assert "| inclora | 2 |" in (out / "comparison.md").read_text().replace("  ", " ")
