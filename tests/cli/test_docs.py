"""Every shell command in docs/*.md runs (distributed.md describes launchers, results.md and evidence.md
read committed results: they are left out).

A ```bash block runs, from a folder holding a copy of the repository's ``configs/`` (the pages
speak from the repository root); commands for a GPU machine, a network or data this machine lacks
go in ```console blocks, which are shown and not run."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
SKIP = {"distributed.md", "results.md", "evidence.md"}
_BLOCK = re.compile(r"^```bash\n(.*?)^```", re.M | re.S)


def bash_blocks(page: Path) -> list[str]:
    return _BLOCK.findall(page.read_text(encoding="utf-8"))


def test_workflow_pages_exist_and_hold_commands() -> None:
    pages = {p.name for p in DOCS.glob("*.md")}
    assert {"train.md", "gate.md", "analyze.md", "export-peft.md", "distributed.md"} <= pages
    for name in pages - SKIP:
        assert bash_blocks(DOCS / name), f"{name} has no bash block"


@pytest.mark.slow
@pytest.mark.parametrize("page", sorted(p.name for p in DOCS.glob("*.md") if p.name not in SKIP))
def test_doc_commands_run(page, tmp_path) -> None:
    shutil.copytree(DOCS.parent / "configs", tmp_path / "configs")
    script = "set -euo pipefail\n" + "\n".join(bash_blocks(DOCS / page))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, f"{page}: a command failed\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
