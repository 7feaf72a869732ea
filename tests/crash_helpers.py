"""Kill a run right after its n-th checkpoint, as a SIGKILL would, then resume it."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from litelora.training.config import RunConfig


class Crash(Exception):
    pass


def crash_then_resume(monkeypatch: pytest.MonkeyPatch, make_config: Callable[[], RunConfig], crash_at: int):  # noqa: ANN201
    """Run ``make_config()`` until checkpoint ``crash_at`` has been written, then resume it in a
    fresh trainer; returns the resumed run's result."""
    from litelora.training import trainer as trainer_module
    from litelora.training.build import build_trainer

    real, count = trainer_module.save_checkpoint, {"n": 0}

    def crashing(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        path = real(*args, **kwargs)
        count["n"] += 1
        if count["n"] == crash_at:
            raise Crash
        return path

    monkeypatch.setattr(trainer_module, "save_checkpoint", crashing)
    with pytest.raises(Crash):
        build_trainer(make_config()).run()
    monkeypatch.setattr(trainer_module, "save_checkpoint", real)
    return build_trainer(make_config()).run(resume=True)
