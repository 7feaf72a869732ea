"""Print the per-family reading of one gated run: per task its family, whether it is the first of
its family, a recurring one or the verbatim repeat, the adapters / rank / parameters it recruited,
and its accuracy right after its task and at the end, beside the host's and closed-after-task-0's.

    python reproduce/family_reading.py runs/families_til/inclora+litelora_s0 \
        --host runs/families_til/inclora_s0 --closed runs/families_til/closed-after-task-0_s0
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from litelora._io import read_json
from litelora.errors import DataError
from litelora.reporting.families import read_run, readings_table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path, help="a gated run directory (gates.json, stream.json, results.json)")
    parser.add_argument("--host", type=Path, help="the host's run on the same seed")
    parser.add_argument("--closed", type=Path, help="closed-after-task-0 on the same seed")
    args = parser.parse_args(argv)
    try:
        readings = read_run(args.run)
        order = [r.name for r in readings]
        others = {}
        for who, path in (("host", args.host), ("closed", args.closed)):
            if path is None:
                continue
            names = [t["name"] for t in read_json(path / "stream.json")["tasks"]]
            if names != order:  # a run of another seed: its columns would be other tasks
                raise DataError(f"--{who} {path} ran its tasks in another order than {args.run}: "
                                "compare runs of one stream and seed")
            others[who] = read_json(path / "results.json")["train_info"]["accuracy_matrix"]
        print("\n".join(readings_table(readings, others)))
    except (DataError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
