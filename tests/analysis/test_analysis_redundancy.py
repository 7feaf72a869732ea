"""analyze_factors on planted banks: from a live bank, a saved bank and PEFT folders (via the CLI)."""

from __future__ import annotations

import argparse
import copy
import csv
import json

import pytest
import torch

from litelora.adapters import AdapterBank, AdapterConfig, export_peft, save_bank
from litelora.analysis import (
    analyze_factors,
    factors_from_bank,
    factors_from_peft,
    factors_from_saved_bank,
)
from litelora.cli import analyze_cmd
from litelora.errors import ConfigError
from litelora.testing import tiny_mlp

TARGETS = ["0", "2"]


def _planted_bank(model: torch.nn.Module) -> AdapterBank:
    """Tasks 0 and 1 random (r = 3); task 2 (r = 6) is exactly 0.5 dW_0 - 2 dW_1 in every module."""
    bank = AdapterBank(model, AdapterConfig(target_modules=TARGETS, r=3, lora_alpha=6, init_lora_weights="gaussian"))
    bank.add_task(0)
    bank.add_task(1)
    bank.add_task(2, rank=6)
    with torch.no_grad():
        for target in TARGETS:
            a0, a1, a2 = (bank.slot(target).adapters[f"task_00{t}"] for t in range(3))
            a2.lora_A.copy_(torch.cat([a0.lora_A, a1.lora_A]))
            a2.lora_B.copy_(torch.cat([0.5 * a0.lora_B * a0.scale, -2.0 * a1.lora_B * a1.scale], dim=1) / a2.scale)
    return bank


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    analyze_cmd.add_parser(parser.add_subparsers(dest="command", required=True))
    return parser


def test_planted_bank_analysis() -> None:
    result = analyze_factors(factors_from_bank(_planted_bank(tiny_mlp(16, 24, 4))))
    assert set(result["modules"]) == set(TARGETS) and not result["skipped"]
    for m in result["modules"].values():
        assert m["tasks"] == [0, 1, 2] and m["rank"] == [3, 3, 6]
        assert m["rho"][0] is None and m["residual"][0] is None
        assert 0.0 < m["rho"][1] < 1.0  # random rank-3 in 16/24 dims: partial overlap
        assert m["rho"][2] == pytest.approx(1.0, abs=1e-6)
        assert m["residual"][2] == pytest.approx(0.0, abs=1e-6)
        for space in ("col", "row"):
            S = m[f"similarity_{space}"]
            assert [S[i][i] for i in range(3)] == pytest.approx([1.0] * 3)
            assert S[0][2] == pytest.approx(1.0, abs=1e-6)  # span(dW_0) lies inside span(dW_2)
            assert S == [list(r) for r in zip(*S)]
            assert m[f"angle_{space}"][0][2] == pytest.approx(0.0, abs=1e-3)
    s = result["summary"]
    assert s["tasks"] == [0, 1, 2] and s["modules"] == 2
    assert s["rho_per_task"][0] is None and s["rho_per_task"][2] == pytest.approx(1.0, abs=1e-6)
    assert s["similarity_col_mean"][1][1] == pytest.approx(1.0)
    json.dumps(result, allow_nan=False)  # JSON-ready: no NaN anywhere


def test_saved_bank_gives_the_live_bank_factors(tmp_path) -> None:
    bank = _planted_bank(tiny_mlp(16, 24, 4))
    save_bank(bank, tmp_path / "adapters")
    live, saved = factors_from_bank(bank), factors_from_saved_bank(tmp_path / "adapters")
    assert live.keys() == saved.keys()
    for target in live:
        for (t1, A1, B1, c1), (t2, A2, B2, c2) in zip(live[target], saved[target]):
            assert t1 == t2 and c1 == pytest.approx(c2) and torch.equal(A1, A2) and torch.equal(B1, B2)


def test_analyze_cli_on_peft_folders_matches_the_bank(tmp_path, capsys) -> None:
    base = tiny_mlp(16, 24, 4)
    combined = _planted_bank(copy.deepcopy(base))
    dirs = []
    for t in range(3):
        # One bank per task holding only that task's adapters, exported as its own PEFT folder.
        bank = AdapterBank(copy.deepcopy(base), AdapterConfig(target_modules=TARGETS, r=3, lora_alpha=6))
        bank.add_task(t, rank=3 if t < 2 else 6)
        with torch.no_grad():
            for target in TARGETS:
                mine, src = bank.slot(target).adapters[f"task_00{t}"], combined.slot(target).adapters[f"task_00{t}"]
                mine.lora_A.copy_(src.lora_A)
                mine.lora_B.copy_(src.lora_B)
        dirs.append(str(export_peft(bank, tmp_path / f"peft{t}")))
    from_peft = factors_from_peft(dirs)
    assert sorted(from_peft) == TARGETS and [e[0] for e in from_peft["0"]] == [0, 1, 2]
    parser = _parser()
    args = parser.parse_args(["analyze", "--peft", *dirs, "-o", str(tmp_path / "out")])
    assert args.func(args) == 0
    assert "task 2: rho 1.0000" in capsys.readouterr().out
    result = json.loads((tmp_path / "out" / "analysis.json").read_text())
    expected = analyze_factors(factors_from_bank(combined))
    for target in TARGETS:
        got, exp = result["modules"][target], expected["modules"][target]
        for key in ("rho", "residual", "erank", "norm"):
            assert got[key] == pytest.approx(exp[key], abs=1e-5), key
        assert torch.allclose(torch.tensor(got["similarity_col"]), torch.tensor(exp["similarity_col"]), atol=1e-5)
    assert result["source"]["kind"] == "peft"
    rows = list(csv.DictReader((tmp_path / "out" / "per_task.csv").open()))
    assert len(rows) == 6 and float(rows[2]["rho"]) == pytest.approx(1.0, abs=1e-5)
    sim_rows = list(csv.DictReader((tmp_path / "out" / "similarity.csv").open()))
    assert len(sim_rows) == 2 * 2 * 9
    # A folder from a model of another width: those modules are skipped with the reason, the rest kept.
    other = AdapterBank(tiny_mlp(16, 20, 4), AdapterConfig(target_modules=["0"], r=3, init_lora_weights="gaussian"))
    other.add_task(0)
    odd = export_peft(other, tmp_path / "odd")
    mixed = analyze_factors(factors_from_peft([dirs[0], str(odd)]))
    assert list(mixed["skipped"]) == ["0"] and "20 x 16" in mixed["skipped"]["0"]
    assert list(mixed["modules"]) == ["2"] and mixed["notes"]


@pytest.mark.parametrize(("argv", "needle"), [
    (["analyze"], r"give a RUN_DIR, or --peft DIR \[DIR \.\.\.\] with -o OUT"),
    (["analyze", "--peft", "x"], r"--peft needs -o OUT: there is no run directory to write into"),
    (["analyze", "/nonexistent/run"], r"/nonexistent/run holds no config\.yaml: not a litelora run directory"),
])
def test_analyze_cli_errors(argv: list[str], needle: str) -> None:
    args = _parser().parse_args(argv)
    with pytest.raises(ConfigError, match=needle):
        args.func(args)


def test_one_task_and_zero_adapters_give_notes_not_errors() -> None:
    g = torch.Generator().manual_seed(0)
    one = {"m": [(0, torch.randn(2, 5, generator=g), torch.randn(4, 2, generator=g), 1.0)]}
    result = analyze_factors(one)
    assert result["modules"]["m"]["rho"] == [None] and result["summary"]["mean_rho"] is None
    assert result["notes"] and result["modules"]["m"]["redundancy_ratio"] == pytest.approx(0.0)
    # A zero update (B = 0, as LoRA initialises it) has no subspace: nulls, not NaN or an error.
    zero = {"m": [*one["m"], (1, torch.randn(2, 5, generator=g), torch.zeros(4, 2), 1.0)]}
    m = analyze_factors(zero)["modules"]["m"]
    assert m["rank"] == [2, 0] and m["rho"] == [None, None] and m["similarity_col"][0][1] is None
    json.dumps(m, allow_nan=False)
