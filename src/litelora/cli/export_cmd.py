"""``litelora export RUN_DIR OUT``: the final model as a PEFT LoRA folder or a merged model."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from litelora._io import read_json
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
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from litelora.adapters import export_peft
    from litelora.training.build import load_run

    if args.per_task and args.format != "peft":
        raise ConfigError("--per-task writes PEFT folders: use it with --format peft")
    loaded = load_run(args.run_dir)
    config, bank = loaded.config, loaded.bank
    out = Path(args.out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not args.overwrite:
        raise ConfigError(f"{out} is not empty; pass --force (or --overwrite) to replace it")
    if args.format == "peft":
        base = config.model.name[3:] if config.model.name.startswith("hf:") else config.model.name
        # Generative runs say which PEFT model class loads them (SEQ_2_SEQ_LM, CAUSAL_LM).
        export_peft(bank, out, base_model_name_or_path=base, task_type=getattr(loaded.model, "peft_task_type", None),
                    overwrite=args.overwrite)
    else:
        encoder = bank.merge_and_unload()
        if not hasattr(encoder, "save_pretrained"):
            raise ConfigError(f"model {config.model.name!r} is not a transformers model; use --format peft")
        encoder.save_pretrained(out, safe_serialization=True)
    # The growing head and litelora's own state travel beside the adapters (generative runs have no head).
    head_dir = out / "litelora_head"
    if head_dir.exists():
        shutil.rmtree(head_dir)
    if (Path(args.run_dir) / "head").is_dir():
        shutil.copytree(Path(args.run_dir) / "head", head_dir)
    print(f"exported {args.format} model to {out}")
    if args.per_task:
        from litelora.training.snapshots import export_snapshots

        folders = export_snapshots(loaded, out, base_model_name_or_path=base, overwrite=True)
        print(f"exported {len(folders)} per-task snapshots: {', '.join(f.name for f in folders)}")
        info = read_json(folders[0] / "snapshot.json") if folders else {"exact": True}
        if not info["exact"]:
            print(f"note: {info['note']}")
    return 0
