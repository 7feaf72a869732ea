"""Functional representability and the HTML report on tiny trained runs."""

from __future__ import annotations

import argparse
import base64
import io
import json
import re
import shutil
import subprocess
from types import ModuleType

import pytest
import torch
from matplotlib.image import imread

from litelora.analysis import live_slots
from litelora.workflows.functional import functional_representability, projected_task
from litelora.cli import analyze_cmd, report_cmd
from litelora.errors import ConfigError
from litelora.reporting import RunDirectory
from litelora.training.build import build_trainer
from litelora.workflows.runs import load_run_model
from litelora.training.config import RunConfig
from litelora.training.data import iter_batches

SECTIONS = ["summary", "accuracy-matrix", "accuracy-over-time", "losses", "active-adapters", "similarity", "rho", "functional"]


def _train(root, **sections) -> str:
    data = {
        "benchmark": {"name": "tiny-text"},
        "model": {"name": "tiny-bert", "max_length": 16},
        "gate": {"kind": "none"},  # the host: a section below may name a gate
        "train": {"epochs": 1, "batch_size": 8, "progress": False, "num_threads": 1},
        "output_dir": str(root),
        **sections,
    }
    build_trainer(RunConfig.from_dict(data)).run()
    return str(root)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, str]:
    base = tmp_path_factory.mktemp("runs")
    return {
        "plain": _train(base / "plain"),
        # tau above 1: every later candidate is folded into a core reuse of task 0's adapters.
        "gated": _train(base / "gated", gate={"kind": "representability", "tau": 1.01, "reuse": "core"}),
    }


def _cli(module: ModuleType, argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    module.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_functional_projection_is_exact_and_restored(runs) -> None:
    _, stream, model = load_run_model(runs["plain"])
    slots = live_slots(model.backbone.encoder)
    batch, _ = next(iter_batches(model.backbone, stream.tasks[2].test, 16))
    before = model(batch)
    target = next(iter(slots))
    adapters = list(slots[target].adapters.values())
    assert [a.task_id for a in adapters] == [0, 1, 2]
    with torch.no_grad():
        dense = [a.magnitude * a.scale * a.lora_B.double() @ a.lora_A.double() for a in adapters]
    with projected_task(slots, 2) as count:
        assert count == len(slots)
        inside = model(batch)
        # Dense reference: P_out dW_2 P_in with P from the stacked earlier updates (d = 32 here).
        U = torch.linalg.svd(torch.cat(dense[:2], dim=1), full_matrices=False)[0][:, :16]
        V = torch.linalg.svd(torch.cat(dense[:2], dim=0), full_matrices=False)[2][:16].T
        a2 = adapters[2]
        projected = a2.magnitude * a2.scale * a2.lora_B.double() @ a2.lora_A.double()
        assert torch.allclose(projected, U @ U.T @ dense[2] @ V @ V.T, atol=1e-5)
    assert not torch.allclose(inside, before, atol=1e-4)  # the projection did change the model
    assert torch.equal(model(batch), before)
    rows = functional_representability(model, slots, stream.tasks, stream.scenario)
    assert torch.equal(model(batch), before)
    R = RunDirectory(runs["plain"]).read_matrix()
    assert [r["task"] for r in rows] == [0, 1, 2]
    assert rows[0]["drop"] is None and rows[0]["note"]
    for r in rows:
        assert r["accuracy"] == pytest.approx(R[-1][r["task"]], abs=1e-9)
    for r in rows[1:]:
        assert r["drop"] == pytest.approx(r["accuracy"] - r["projected_accuracy"])
        assert r["modules_projected"] == len(slots)


def test_analyze_and_report_on_a_run(runs, tmp_path) -> None:
    run = tmp_path / "plain"
    shutil.copytree(runs["plain"], run)
    assert _cli(analyze_cmd, ["analyze", str(run), "--functional"]) == 0
    analysis = json.loads((run / "analysis" / "analysis.json").read_text())
    assert len(analysis["functional"]) == 3 and analysis["summary"]["tasks"] == [0, 1, 2]
    assert all("cka" in m for m in analysis["modules"].values())
    for m in analysis["modules"].values():
        assert [m["cka"][i][i] for i in range(3)] == pytest.approx([1.0] * 3)
    for name in ("similarity.csv", "per_task.csv", "modules.csv", "tasks.csv"):
        assert (run / "analysis" / name).is_file()
    assert _cli(report_cmd, ["report", str(run)]) == 0
    page = (run / "report" / "report.html").read_text()
    assert not re.search(r"""(src|href)\s*=\s*['"]?\s*(https?:|//)""", page, re.IGNORECASE)
    assert "http" not in page and "<script" not in page.lower()
    for key in SECTIONS:
        assert f'<section id="{key}">' in page and f'<li><a href="#{key}">' in page, key  # linked contents
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 8  # summary has none; similarity has a column-space and a row-space figure
    captions = re.findall(r"<figcaption>Figure (\d+)\. (.+?)</figcaption>", page)
    assert [int(n) for n, _ in captions] == list(range(1, 9)) and all(len(text) > 40 for _, text in captions)
    for b64 in images:
        assert imread(io.BytesIO(base64.b64decode(b64)), format="png").ndim == 3
    data = json.loads((run / "report" / "data.json").read_text())
    assert data["rho"]["rho"] == analysis["summary"]["rho_per_task"]
    assert data["rho"]["residual"] == analysis["summary"]["residual_per_task"]
    assert data["functional"]["drop"] == [r["drop"] for r in analysis["functional"]]
    assert data["similarity"]["col"]["mean over modules"] == analysis["summary"]["similarity_col_mean"]
    assert data["accuracy-matrix"]["R"] == RunDirectory(run).read_matrix()
    results = json.loads((run / "results.json").read_text())
    assert data["active-adapters"]["owned"] == results["metrics"]["active_adapters_per_task"]
    assert data["summary"]["metrics"]["final_acc_sample"] == results["metrics"]["final_acc_sample"]
    assert (run / "report" / "rho.csv").read_text().startswith("task,rho_mean,residual_mean")
    train = [e for e in RunDirectory(run).events() if e["event"] == "train"]
    assert data["losses"]["0"]["loss"] == [e["loss"] for e in train if e["task"] == 0]


def test_report_renders_in_headless_chromium(runs, tmp_path) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("headless Chromium is not installed (apt-get install chromium): rendered-page check skipped")
    run = tmp_path / "plain"
    shutil.copytree(runs["plain"], run)
    assert _cli(report_cmd, ["report", str(run)]) == 0  # analyses the bank first (no --functional)
    page = run / "report" / "report.html"
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu"]
    dom = subprocess.run([*flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120,
                         check=True).stdout
    for key in SECTIONS[:-1]:
        assert f'id="{key}"' in dom, key
    # one figure each for the matrix, accuracy over time, losses, active adapters and rho; two for
    # similarity (column and row spaces); every one still there once the browser has parsed the page
    assert dom.count("data:image/png;base64,") == page.read_text().count("data:image/png;base64,") == 7
    shot = page.with_suffix(".png")  # kept beside the report for people to look at
    subprocess.run([*flags, f"--screenshot={shot}", "--window-size=1200,5000", page.as_uri()], capture_output=True,
                   timeout=120, check=True)
    assert imread(shot).shape[1] == 1200


def test_gated_run_report_and_functional_notes(runs, tmp_path) -> None:
    run = tmp_path / "gated"
    shutil.copytree(runs["gated"], run)
    assert _cli(analyze_cmd, ["analyze", str(run), "--functional"]) == 0
    analysis = json.loads((run / "analysis" / "analysis.json").read_text())
    assert analysis["summary"]["tasks"] == [0]  # only task 0 kept adapters; the others reuse them
    assert [r["note"] is not None for r in analysis["functional"]] == [True, True, True]
    (run / "results.json").unlink()  # a partial run directory still gets a report
    out = tmp_path / "page.html"
    assert _cli(report_cmd, ["report", str(run), "-o", str(out)]) == 0
    page = out.read_text()
    assert "results.json" in page and '<section id="gates">' in page and '<section id="summary">' not in page
    data = json.loads((tmp_path / "data.json").read_text())
    gates = json.loads((run / "gates.json").read_text())
    assert data["missing"] == ["results.json"]
    assert sum(v == 1.0 for row in data["gates"]["recruit"] for v in row) == sum(
        d["decision"] == "recruit" for d in gates)
    assert data["gates"]["recruit"][1:] == [[0.0] * len(data["gates"]["targets"])] * 2
    with pytest.raises(ConfigError, match="not a litelora run directory"):
        _cli(report_cmd, ["report", str(tmp_path / "nope")])
