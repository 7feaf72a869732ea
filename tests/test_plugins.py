"""Plugins from user code: a package declaring entry points in the ``litelora.*`` groups adds
methods, gates, benchmarks and models that ``litelora list`` shows and ``litelora train`` runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from litelora._registry import Registry
from litelora.errors import ConfigError

PLUGIN = '''
from litelora.benchmarks.text import tiny_text
from litelora.gates.random_choice import RandomGate
from litelora.methods.inclora import IncLoRA
from litelora.models import BACKBONES

LOADED = []


class EchoMethod(IncLoRA):
    """inclora under another name."""


class CoinGate(RandomGate):
    """The random gate under another name."""


def echo_text(seed: int | None = 0, class_order: list[int] | None = None, train_per_class: int = 8):
    return tiny_text(seed=seed, class_order=class_order, num_tasks=2, train_per_class=train_per_class,
                     test_per_class=4)


def echo_bert(config, input_dim=None):
    return BACKBONES.get("tiny-bert")(config, input_dim)


NOT_A_FACTORY = 42


class NotAMethod:
    """Callable, but no ContinualMethod."""
'''

EXITING = "import sys\nsys.exit(0)\n"
RAISING = "class Stop(BaseException):\n    pass\n\nraise Stop('plugin import went wrong')\n"

ENTRY_POINTS = '''
[litelora.methods]
echo-method = litelora_demo_plugin:EchoMethod
inclora = litelora_demo_plugin:EchoMethod
not-a-method = litelora_demo_plugin:NotAMethod
exits = litelora_demo_exiting:Nothing
stops = litelora_demo_raising:Nothing

[litelora.gates]
coin = litelora_demo_plugin:CoinGate
broken = litelora_demo_plugin.missing:Nothing

[litelora.benchmarks]
echo-text = litelora_demo_plugin:echo_text

[litelora.models]
echo-bert = litelora_demo_plugin:echo_bert

[litelora.test-things]
good = litelora_demo_plugin:echo_text
number = litelora_demo_plugin:NOT_A_FACTORY
broken = litelora_demo_plugin.missing:Nothing
'''


@pytest.fixture()
def plugin_dir(tmp_path: Path) -> Path:
    """An installed-looking distribution: the module and its ``.dist-info`` on one path entry."""
    root = tmp_path / "site"
    (root / "litelora_demo_plugin").mkdir(parents=True)
    (root / "litelora_demo_plugin" / "__init__.py").write_text(PLUGIN)
    (root / "litelora_demo_exiting.py").write_text(EXITING)
    (root / "litelora_demo_raising.py").write_text(RAISING)
    info = root / "litelora_demo_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: litelora-demo-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(ENTRY_POINTS))
    return root


def _cli(plugin_dir: Path, *argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    src = Path(__file__).resolve().parents[1] / "src"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugin_dir), str(src)])}
    return subprocess.run([sys.executable, "-m", "litelora", *argv], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=300)


def test_registry_registers_entry_points_by_name(plugin_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(plugin_dir))
    things: Registry[object] = Registry("thing", group="litelora.test-things")
    things.register("built-in")(dict)
    assert things.get("built-in") is dict and not things._plugins_loaded  # a built-in never scans
    with pytest.warns(UserWarning) as caught:
        assert things.list() == ["built-in", "good"]
    messages = " | ".join(str(w.message) for w in caught)
    assert "'number'" in messages and "not a factory" in messages
    assert "'broken'" in messages and "ModuleNotFoundError" in messages
    assert things.get("good").__name__ == "echo_text"
    with pytest.raises(ConfigError, match=r"thing 'broken': entry point 'broken' = 'litelora_demo_plugin.missing"):
        things.get("broken")
    with pytest.raises(ConfigError, match=r"unknown thing 'god'\. Did you mean 'good'"):
        things.get("god")


def test_cli_lists_plugins_and_warns_about_bad_ones(plugin_dir: Path, tmp_path: Path) -> None:
    methods = _cli(plugin_dir, "list", "methods", cwd=tmp_path)
    assert methods.returncode == 0, methods.stderr
    assert "echo-method" in methods.stdout.split() and "inclora" in methods.stdout.split()
    assert "'inclora' is already registered" in methods.stderr  # a plugin never replaces a built-in
    gates = _cli(plugin_dir, "list", "gates", cwd=tmp_path)
    assert "coin" in gates.stdout.split() and "broken" not in gates.stdout.split()
    assert "failed to load" in gates.stderr
    assert "echo-text" in _cli(plugin_dir, "list", "benchmarks", cwd=tmp_path).stdout.split()
    assert "echo-bert" in _cli(plugin_dir, "list", "models", cwd=tmp_path).stdout.split()


def test_cli_trains_with_plugin_method_gate_benchmark_and_model(plugin_dir: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    result = _cli(plugin_dir, "train", "--no-progress", "-o", str(run), "--set", "benchmark.name=echo-text",
                  "--set", "model.name=echo-bert", "--set", "method.name=echo-method", "--set", "gate.kind=coin",
                  "--set", "gate.budget=0.5", "--set", "train.max_steps_per_task=2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    results = json.loads((run / "results.json").read_text())
    info = results["run_info"]
    assert (info["method"], info["gate"], info["model"]) == ("echo-method", "coin", "echo-bert")
    assert info["config"]["benchmark"]["name"] == "echo-text" and len(results["train_info"]["accuracy_matrix"]) == 2
    # the coin gate closed half of task 1's candidates, as the built-in random gate would
    assert results["metrics"]["adapter_reduction"] > 0
    broken = _cli(plugin_dir, "train", "-o", str(tmp_path / "other"), "--set", "gate.kind=broken", cwd=tmp_path)
    assert broken.returncode == 1 and "gate.kind: gate 'broken': entry point" in broken.stderr


def test_broken_method_plugins_are_skipped_with_a_warning_naming_them(plugin_dir: Path, tmp_path: Path) -> None:
    """Not a ContinualMethod, ``sys.exit(0)`` and a ``BaseException`` while importing: each is one
    warning naming its entry point; the good plugins beside them still list, and train still fails
    on a mistyped method with exit status 1."""
    methods = _cli(plugin_dir, "list", "methods", cwd=tmp_path)
    assert methods.returncode == 0, methods.stderr
    assert "echo-method" in methods.stdout.split()
    for name in ("not-a-method", "exits", "stops"):
        assert name not in methods.stdout.split()
        assert f"entry point {name!r}" in methods.stderr
    assert "must be a ContinualMethod subclass" in methods.stderr
    assert "SystemExit" in methods.stderr and "Stop: plugin import went wrong" in methods.stderr
    assert "Traceback" not in methods.stderr
    typo = _cli(plugin_dir, "train", "-o", str(tmp_path / "r"), "--set", "method.name=echo-methd", cwd=tmp_path)
    assert typo.returncode == 1 and "unknown method 'echo-methd'. Did you mean 'echo-method'" in typo.stderr
    chosen = _cli(plugin_dir, "train", "-o", str(tmp_path / "r"), "--set", "method.name=stops", cwd=tmp_path)
    assert chosen.returncode == 1 and "litelora train: error: method.name: method 'stops': entry point" in chosen.stderr


def test_build_trainer_shows_a_broken_plugin_warning(plugin_dir: Path, tmp_path: Path) -> None:
    """build_trainer checks a config with warnings silenced (the trainer repeats them); a plugin
    registry first loaded there still warns about its broken entry points, once per process."""
    src = Path(__file__).resolve().parents[1] / "src"
    code = ("from litelora.training.build import build_trainer\n"
            "from litelora.training.config import RunConfig\n"
            "build_trainer(RunConfig.from_dict({'benchmark': {'name': 'tiny-text', 'options': {'num_tasks': 2}},"
            " 'model': {'name': 'tiny-bert', 'max_length': 16}, 'train': {'progress': False},"
            f" 'output_dir': {str(tmp_path / 'run')!r}}}))\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugin_dir), str(src)])}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert "entry point 'broken'" in done.stderr and "failed to load" in done.stderr  # the gates' broken one
    assert "entry point 'stops'" in done.stderr  # and the methods'
