"""Write the offline ``text-domains`` tasks as an O-LoRA-format folder, for the ``olora`` benchmark.

    python reproduce/make_olora_folder.py OUT
    python reproduce/make_olora_folder.py OUT --tasks bbc-topics-a rt-sentiment \\
        --train-per-class 60 --test-per-class 30

``OUT/<task>/train.json`` and ``test.json`` hold lists of ``{"sentence", "label"}`` with the
task's class names as labels (``"business"``, not ``"bbc-topics-a:business"``), and
``labels.json`` lists them in the task's class order, so that ``olora`` with
``tasks=[...]`` reads back the same texts, labels and label ids. ``OUT/source.json``
records how the folder was made. Every file is written atomically.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from litelora._io import write_json
from litelora.benchmarks import TaskStream, build_benchmark
from litelora.errors import DataError


def write_olora_folder(stream: TaskStream, out: str | Path) -> list[str]:
    """One O-LoRA task folder per task of ``stream`` under ``out``; returns the task names.

    A task's labels are its class names with the ``"<task>:"`` prefix of the stream removed.
    """
    out = Path(out)
    for task in stream.tasks:
        names = [stream.class_names[c] for c in task.classes]
        prefix = f"{task.name}:"
        labels = [n[len(prefix):] if n.startswith(prefix) else n for n in names]
        if len(set(labels)) != len(labels):
            raise DataError(f"task {task.name}: class names {names} collide once the task prefix is removed")
        local = dict(zip(task.classes, labels))
        for split, examples in (("train", task.train), ("test", task.test)):
            for i, example in enumerate(examples):
                if not isinstance(example.input, str):
                    raise DataError(f"task {task.name}, {split} example {i}: the O-LoRA format holds text, "
                                    f"got {type(example.input).__name__}")
            write_json(out / task.name / f"{split}.json",
                       [{"sentence": e.input, "label": local[e.label]} for e in examples])
        write_json(out / task.name / "labels.json", labels)
    return [t.name for t in stream.tasks]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path, help="folder to write (one sub-folder per task)")
    parser.add_argument("--tasks", nargs="+", default=None,
                        help="text-domains tasks, in this order (default: all whose data is installed, in table order)")
    parser.add_argument("--train-per-class", type=int, default=120)
    parser.add_argument("--test-per-class", type=int, default=60)
    parser.add_argument("--fortunes-root", default=None, help="folder of the Debian fortunes files")
    parser.add_argument("--spam-root", default=None, help="folder of the SpamAssassin npm package data")
    args = parser.parse_args(argv)
    stream = build_benchmark(
        "text-domains", tasks=args.tasks, shuffle_tasks=False,
        train_per_class=args.train_per_class, test_per_class=args.test_per_class,
        fortunes_root=args.fortunes_root, spam_root=args.spam_root,
    )
    written = write_olora_folder(stream, args.out)
    write_json(args.out / "source.json", {
        "benchmark": "text-domains", "tasks": written, "train_per_class": args.train_per_class,
        "test_per_class": args.test_per_class, "skipped_tasks": stream.meta.get("skipped_tasks", {}),
    })
    for task in stream.tasks:
        print(f"{args.out / task.name}: {len(task.train)} train, {len(task.test)} test, {len(task.classes)} labels")
    return 0


if __name__ == "__main__":
    sys.exit(main())
