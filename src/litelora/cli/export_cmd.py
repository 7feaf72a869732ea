"""``litelora export RUN_DIR OUT``: the final model as a PEFT LoRA folder or a merged model."""

from __future__ import annotations

import argparse



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
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--allow-download", action="store_true",
                   help="let the model the run names be downloaded; by default only local files and the local "
                        "Hugging Face cache are read")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from litelora.workflows.export import export_run

    result = export_run(args.run_dir, args.out_dir, fmt=args.format, per_task=args.per_task,
                        base_model=args.base_model, overwrite=args.overwrite, allow_download=args.allow_download,
                        progress=not args.no_progress)
    print(f"exported {args.format} model to {result.out}")
    if result.snapshots:
        print(f"exported {len(result.snapshots)} per-task snapshots: {', '.join(f.name for f in result.snapshots)}")
        if result.note:
            print(f"note: {result.note}")
    return 0
