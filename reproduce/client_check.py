"""A PEFT user's check of litelora's exports, in a Python environment without litelora.

Part 1 (this environment, litelora installed) makes the exports a user would get and what they
must reproduce: four runs on a local BERT folder (inclora, inclora with the LiteLoRA gate v3,
InfLoRA, SD-LoRA; 3 tasks), each exported as a PEFT folder, the inclora run also merged; an own
loop (``LiteLoRATrainer`` on a ``BertForSequenceClassification``, 2 tasks) exported with
``modules_to_save=["classifier"]``; the expected outputs beside them (``expected.safetensors``).
Part 2 runs in ``--python`` (a clean venv with torch, transformers and peft only; it fails if
litelora can be imported there) and loads each folder with PEFT's and transformers' own entry
points offline, applies ``litelora_head/`` the way docs/export-peft.md does, parses the model
cards with ``huggingface_hub.ModelCard``, and reports the largest difference per row.

    python3 -m venv /tmp/clean && /tmp/clean/bin/pip install torch==2.13.0 transformers peft
    python reproduce/client_check.py --python /tmp/clean/bin/python      # about two minutes
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RUNS = {"inclora": ["method.name=inclora"], "inclora+litelora-v3": ["method.name=inclora", "gate.kind=litelora-v3"],
        "inflora": ["method.name=inflora"], "sdlora": ["method.name=sdlora"]}
TOLERANCE = 1e-5


def make(out: Path) -> None:
    """Part 1: runs, exports and expected outputs under ``out`` (needs litelora)."""
    import torch
    from safetensors.torch import save_file
    from transformers import BertConfig, BertForSequenceClassification, BertModel, BertTokenizerFast, TrainingArguments

    from litelora import AdapterConfig, LiteLoRA, export_peft
    from litelora.cli.main import main
    from litelora.integrations.hf_trainer import LiteLoRATrainer
    from litelora.workflows.runs import load_run

    words = ["alpha", "beta", "gamma", "delta", "story", "film"]
    config = dict(vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                  max_position_embeddings=64)
    torch.manual_seed(0)
    BertModel(BertConfig(**config)).save_pretrained(out / "base")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words, *[f"w{i}" for i in range(64 - 5 - len(words))]]
    BertTokenizerFast(vocab={t: i for i, t in enumerate(vocab)}).save_pretrained(out / "base")
    inputs = {"input_ids": torch.randint(5, 64, (3, 9), generator=torch.Generator().manual_seed(1)),
              "attention_mask": torch.ones(3, 9, dtype=torch.long)}
    expected = {f"inputs.{k}": v for k, v in inputs.items()}
    cases: dict[str, dict[str, object]] = {}
    for name, sets in RUNS.items():
        run = out / "runs" / name
        args = ["train", "--no-progress", "-o", str(run), "--set", "benchmark.name=tiny-text",
                "--set", f"model.name=hf:{out / 'base'}", "--set", "train.epochs=2",
                "--set", "benchmark.options.num_tasks=3", "--set", "adapter.init_lora_weights=gaussian"]
        if main(args + [a for s in sets for a in ("--set", s)]) != 0 or main(["export", str(run), str(out / name)]) != 0:
            raise SystemExit(f"client_check: run or export of {name} failed")
        loaded = load_run(run)
        with torch.no_grad():
            expected[f"{name}.hidden"] = loaded.model.backbone.encoder.eval()(**inputs).last_hidden_state
            texts = [ex.input for task in loaded.stream.tasks for ex in task.test] + ["film"]  # padded batch
            batch = loaded.model.backbone.collate(texts)
            expected[f"{name}.pred"] = torch.tensor(
                [loaded.model.head.class_ids[k] for k in loaded.model.eval()(batch).argmax(-1).tolist()])
        cases[name] = {"kind": "adapter", "max_length": loaded.config.model.max_length, "texts": texts}
    if main(["export", str(out / "runs" / "inclora"), str(out / "inclora-merged"), "--format", "merged"]) != 0:
        raise SystemExit("client_check: merged export failed")
    expected["inclora-merged.hidden"] = expected["inclora.hidden"].clone()
    cases["inclora-merged"] = {"kind": "merged"}

    # An own loop: transformers' Trainer, a shared classifier trained with the adapters.
    torch.manual_seed(0)
    BertForSequenceClassification(BertConfig(**config, num_labels=4)).save_pretrained(out / "base-cls")
    model = BertForSequenceClassification.from_pretrained(out / "base-cls")
    lite = LiteLoRA(model, AdapterConfig(target_modules=["query", "value"], r=4), method="inclora", num_tasks=2,
                    lr=2e-2, modules_to_save=["classifier"])
    g = torch.Generator().manual_seed(0)
    for t, classes in enumerate([[0, 1], [2, 3]]):
        rows = [{"input_ids": torch.randint(10 * c + 5, 10 * c + 15, (12,), generator=g),
                 "attention_mask": torch.ones(12, dtype=torch.long), "labels": torch.tensor(c)}
                for c in classes * 16]
        args = TrainingArguments(output_dir=str(out / "hf"), max_steps=6, per_device_train_batch_size=8,
                                 learning_rate=2e-2, report_to=[], save_strategy="no", use_cpu=True, disable_tqdm=True)
        LiteLoRATrainer(args=args, train_dataset=rows, lite=lite, task_id=t).train()
    export_peft(lite.bank, out / "own-loop", modules_to_save=["classifier"])
    with torch.no_grad():
        expected["own-loop.logits"] = model.eval()(**inputs).logits
    cases["own-loop"] = {"kind": "own-loop"}
    save_file({k: v.contiguous() for k, v in expected.items()}, str(out / "expected.safetensors"))
    (out / "cases.json").write_text(json.dumps(cases, indent=1))


def client(out: Path) -> list[dict[str, object]]:
    """Part 2: load every export with PEFT / transformers only; one row per check."""
    import torch
    from huggingface_hub import ModelCard
    from peft import AutoPeftModel, PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

    try:
        import litelora  # noqa: F401
    except ImportError:
        pass
    else:
        raise SystemExit("client_check: litelora is importable here; part 2 needs an environment without it")
    expected = load_file(str(out / "expected.safetensors"))
    inputs = {"input_ids": expected["inputs.input_ids"], "attention_mask": expected["inputs.attention_mask"]}
    tokenizer = AutoTokenizer.from_pretrained(out / "base")
    rows: list[dict[str, object]] = []

    def row(case: str, check: str, diff: float) -> None:
        rows.append({"case": case, "check": check, "max_abs_diff": diff, "ok": diff <= TOLERANCE})

    for case, info in json.loads((out / "cases.json").read_text()).items():
        folder = out / case
        if info["kind"] != "own-loop":  # the CLI writes a card; export_peft from a loop writes none
            card = ModelCard.load(folder / "README.md")
            rows.append({"case": case, "check": "model card parses", "library_name": card.data.library_name,
                         "ok": card.data.library_name in ("peft", "transformers")})
        with torch.no_grad():
            if info["kind"] == "adapter":
                model = AutoPeftModel.from_pretrained(str(folder)).eval()  # base named in adapter_config.json
                row(case, "hidden states", float((model(**inputs).last_hidden_state - expected[f"{case}.hidden"]).abs().max()))
                head = json.loads((folder / "litelora_head" / "head.json").read_text())
                tensors = load_file(str(folder / "litelora_head" / "head.safetensors"))
                weight = torch.cat([tensors[f"blocks.{i}.weight"] for i in range(len(head["blocks"]))])
                bias = torch.cat([tensors[f"blocks.{i}.bias"] for i in range(len(head["blocks"]))])
                class_ids = [c for block in head["blocks"] for c in block]
                batch = tokenizer(info["texts"], padding=True, truncation=True, max_length=int(info["max_length"]),
                                  return_tensors="pt")
                hidden = model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
                pred = torch.tensor([class_ids[k] for k in (pooled @ weight.T + bias).argmax(-1).tolist()])
                rows.append({"case": case, "check": "head predictions on a padded batch",
                             "agree": float((pred == expected[f"{case}.pred"]).float().mean()),
                             "classes_predicted": len(set(pred.tolist())),
                             "ok": torch.equal(pred, expected[f"{case}.pred"])})
            elif info["kind"] == "merged":
                model = AutoModel.from_pretrained(folder).eval()
                row(case, "hidden states", float((model(**inputs).last_hidden_state - expected[f"{case}.hidden"]).abs().max()))
            else:
                fresh = AutoModelForSequenceClassification.from_pretrained(out / "base-cls")
                model = PeftModel.from_pretrained(fresh, str(folder)).eval()
                row(case, "logits (adapters + modules_to_save)",
                    float((model(**inputs).logits - expected[f"{case}.logits"]).abs().max()))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--python", help="the clean environment's python (part 2)")
    parser.add_argument("--out", default="runs/client_check", help="where the exports go")
    parser.add_argument("--client", action="store_true", help="run part 2 in this process and print JSON")
    parser.add_argument("--results", default=str(HERE / "results" / "client_check.json"))
    args = parser.parse_args()
    out = Path(args.out).resolve()
    if args.client:
        print(json.dumps(client(out)))
        return 0
    if not args.python:
        raise SystemExit("--python: the clean venv's python is required (see this script's docstring)")
    if out.exists() and any(out.iterdir()):
        raise SystemExit(f"--out {out} is not empty: remove it or name another folder")
    make(out)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": ""}
    proc = subprocess.run([args.python, __file__, "--client", "--out", str(out)], capture_output=True, text=True,
                          env=env, cwd="/")
    if proc.returncode != 0:
        raise SystemExit(f"client_check: part 2 failed:\n{proc.stderr[-3000:]}")
    rows = json.loads(proc.stdout.strip().splitlines()[-1])
    versions = subprocess.run([args.python, "-c", "import torch, transformers, peft; print(torch.__version__, "
                               "transformers.__version__, peft.__version__)"], capture_output=True, text=True).stdout
    result = {"client": dict(zip(("torch", "transformers", "peft"), versions.split())), "tolerance": TOLERANCE,
              "command": "python reproduce/client_check.py --python CLEAN_VENV/bin/python", "rows": rows}
    sys.path.insert(0, str(HERE.parent / "src"))
    from litelora._io import write_json

    write_json(Path(args.results), result)
    for r in rows:
        detail = r.get("max_abs_diff", r.get("agree", r.get("library_name")))
        print(f"{r['case']:22s} {r['check']:38s} {detail!s:>12s}  {'ok' if r['ok'] else 'FAIL'}")
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
