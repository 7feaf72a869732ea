"""reproduce/family_reading.py: a gated run read beside its host, and a host of another task order refused."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "reproduce"))
import family_reading  # noqa: E402

sys.path.remove(str(ROOT / "reproduce"))


def _run(path: Path, names: list[str], gated: bool) -> Path:
    path.mkdir()
    tasks = [{"name": n, "family": n.split("-")[0]} for n in names]
    (path / "stream.json").write_text(json.dumps({"tasks": tasks, "meta": {}}))
    R = [[0.9 if j <= i else 0.0 for j in range(len(names))] for i in range(len(names))]
    (path / "results.json").write_text(json.dumps({"train_info": {"accuracy_matrix": R}}))
    if gated:
        rows = [{"task": t, "target": "q", "decision": "recruit" if t == 0 else "reuse", "params_kept": 100 * (t == 0),
                 "params_freed": 100 * (t > 0)} for t in range(len(names))]
        (path / "gates.json").write_text(json.dumps(rows))
    return path


def test_a_host_of_the_same_order_is_read_beside_the_gate_and_another_order_is_refused(tmp_path, capsys) -> None:
    gated = _run(tmp_path / "gate", ["topic-a", "sentiment-a"], gated=True)
    same = _run(tmp_path / "host", ["topic-a", "sentiment-a"], gated=False)
    other = _run(tmp_path / "other", ["sentiment-a", "topic-a"], gated=False)
    assert family_reading.main([str(gated), "--host", str(same)]) == 0
    assert "host: after / end" in capsys.readouterr().out
    assert family_reading.main([str(gated), "--closed", str(other)]) == 2
    assert "--closed" in (err := capsys.readouterr().err) and "another order" in err
