"""``litelora export RUN_DIR OUT``: the final model as a PEFT LoRA folder or a merged model."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from litelora.errors import ConfigError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a run's final adapters as a PEFT LoRA folder, or a merged model")
    p.add_argument("run_dir")
    p.add_argument("out_dir")
    p.add_argument("--format", choices=["peft", "merged"], default="peft",
                   help="peft: adapter_config.json + adapter_model.safetensors (all tasks concatenated "
                        "exactly); merged: the backbone with every adapter folded in (save_pretrained)")
    p.add_argument("--overwrite", "--force", action="store_true", help="replace an existing non-empty OUT")
    p.add_argument("--per-task", action="store_true",
                   help="also write OUT/after_task_NNN/: the model as it stood after each task (PEFT folder, "
                        "litelora_head/, snapshot.json saying whether it is exact for the run's method)")
    p.add_argument("--base-model", metavar="NAME",
                   help="base_model_name_or_path to write (default: the run's hub id or folder, e.g. "
                        "sentence-transformers/all-MiniLM-L6-v2 for minilm)")
    p.add_argument("--allow-download", action="store_true",
                   help="let the model the run names be downloaded; by default only local files and the local "
                        "Hugging Face cache are read")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from litelora._io import atomic_dir, read_json, write_text
    from litelora._paths import confined
    from litelora.adapters import export_peft
    from litelora.models.backbone import hub_id
    from litelora.reporting import RunDirectory
    from litelora.reporting.model_card import model_card
    from litelora.training.build import load_run

    if args.per_task and args.format != "peft":
        raise ConfigError("--per-task writes PEFT folders: use it with --format peft")
    out, run_dir = Path(args.out_dir), Path(args.run_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not args.overwrite:
        raise ConfigError(f"{out} is not empty; pass --force (or --overwrite) to replace it")
    if out.resolve() == run_dir.resolve() or out.resolve() in run_dir.resolve().parents:
        raise ConfigError(f"{out} holds the run being exported; export to another folder")
    loaded = load_run(run_dir, allow_download=args.allow_download)
    config, bank = loaded.config, loaded.bank
    base = args.base_model or hub_id(config.model.name)
    # Everything is built in a folder beside OUT that then replaces OUT whole: a kill leaves the
    # old OUT (or none), never a mix of two exports or an adapter without its head.
    with atomic_dir(out) as staging:
        if args.format == "peft":
            # Generative runs say which PEFT model class loads them (SEQ_2_SEQ_LM, CAUSAL_LM).
            export_peft(bank, staging, base_model_name_or_path=base,
                        task_type=getattr(loaded.model, "peft_task_type", None), overwrite=True)
        else:
            encoder = bank.merge_and_unload()
            if not hasattr(encoder, "save_pretrained"):
                raise ConfigError(f"model {config.model.name!r} is not a transformers model; use --format peft")
            encoder.save_pretrained(staging, safe_serialization=True)
            tokenizer = _tokenizer(loaded.model)
            if tokenizer is not None:  # without it transformers falls back to a tokenizer that knows no word
                tokenizer.save_pretrained(staging)
        # The growing head travels beside the adapters (generative runs have no head).
        head = RunDirectory(run_dir).head
        if head.is_dir():
            for name in ("head.json", "head.safetensors"):
                source = confined(head, name)
                if source.is_file():
                    (staging / "litelora_head").mkdir(exist_ok=True)
                    shutil.copyfile(source, staging / "litelora_head" / name)
        write_text(staging / "README.md", model_card(
            base=base, fmt=args.format, run=RunDirectory(run_dir).read_json("results.json"),
            targets=sorted(bank.targets), loader=_loader(args.format, base)))
        folders = []
        if args.per_task:
            from litelora.training.snapshots import export_snapshots

            folders = [out / f.name for f in export_snapshots(loaded, staging, base_model_name_or_path=base,
                                                              overwrite=True)]
    print(f"exported {args.format} model to {out}")
    if folders:
        print(f"exported {len(folders)} per-task snapshots: {', '.join(f.name for f in folders)}")
        info = read_json(folders[0] / "snapshot.json")
        if not info["exact"]:
            print(f"note: {info['note']}")
    return 0


def _tokenizer(model: object) -> object | None:
    """The run's transformers tokenizer, if its model has one (a text encoder or a generative LM)."""
    backbone = getattr(model, "backbone", model)
    tokenizer = getattr(backbone, "tokenizer", None) or getattr(getattr(model, "codec", None), "tokenizer", None)
    return tokenizer if hasattr(tokenizer, "save_pretrained") else None


def _loader(fmt: str, base: str | None) -> str:
    folder = "PATH/TO/THIS/FOLDER"
    if fmt == "merged":
        return f"from transformers import AutoModel, AutoTokenizer\nmodel = AutoModel.from_pretrained('{folder}')\n" \
               f"tokenizer = AutoTokenizer.from_pretrained('{folder}')"
    return (f"from peft import AutoPeftModel\nmodel = AutoPeftModel.from_pretrained('{folder}')"
            + ("" if base else "  # needs base_model_name_or_path: re-export with --base-model"))

