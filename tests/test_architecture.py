"""The dependency direction (pyproject's ``[tool.importlinter]`` contracts) holds, and the
check would catch a planted violation; ruff finds nothing; no Python file outgrows 400 lines."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _lint(cwd: Path, src: Path) -> subprocess.CompletedProcess[str]:
    code = "from importlinter.cli import lint_imports; raise SystemExit(lint_imports(config_filename='pyproject.toml', no_cache=True))"
    env = {**os.environ, "PYTHONPATH": str(src)}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_the_import_contracts_hold() -> None:
    proc = _lint(ROOT, ROOT / "src")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout


def test_a_planted_violation_and_a_planted_cycle_break_them(tmp_path) -> None:
    shutil.copytree(ROOT / "src" / "litelora", tmp_path / "src" / "litelora",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    metrics = tmp_path / "src" / "litelora" / "metrics" / "continual.py"
    metrics.write_text(metrics.read_text() + "\nfrom litelora.training import trainer  # planted\n")
    adapters = tmp_path / "src" / "litelora" / "adapters" / "config.py"
    adapters.write_text(adapters.read_text() + "\nfrom litelora.adapters import bank  # planted cycle\n")
    proc = _lint(tmp_path, tmp_path / "src")
    assert proc.returncode != 0
    assert "metrics are pure functions BROKEN" in proc.stdout
    assert "litelora.metrics.continual -> litelora.training.trainer" in proc.stdout
    assert "no cycles between the packages, or between the modules of one BROKEN" in proc.stdout


def test_ruff_finds_nothing() -> None:
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "src", "tests", "perf", "reproduce"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-1000:]


MAX_LINES = 400


def test_no_python_file_is_over_400_lines() -> None:
    files = [p for d in ("src", "tests", "reproduce", "perf") for p in (ROOT / d).rglob("*.py")]
    assert len(files) > 100  # the walk found the code
    long = {str(p.relative_to(ROOT)): n for p in files if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"split these by idea (the house keeps a file under {MAX_LINES} lines): {long}"
