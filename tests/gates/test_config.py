"""GateConfig built in Python (an own loop's path, no from_dict) refuses what a config file would."""

from __future__ import annotations

import pytest

from litelora.errors import ConfigError
from litelora.gates import GateConfig


@pytest.mark.parametrize("fields, message", [
    ({"group": "layers"}, r"gate\.group must be one of module, layer, task, got 'layers'"),
    ({"reuse": "Scale"}, r"gate\.reuse must be one of frozen, scale, core, got 'Scale'"),
    ({"reuse_lr": float("nan")}, r"gate\.reuse_lr must be > 0 or null"),
    ({"reuse_lr": 0.0}, r"gate\.reuse_lr must be > 0 or null"),
    ({"budget": 1.5}, r"gate\.budget must be in \(0, 1\]"),
])
def test_a_bad_field_fails_by_name(fields: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        GateConfig(kind="litelora-v3", **fields)


def test_every_allowed_grouping_and_reuse_builds() -> None:
    for group in ("module", "layer", "task"):
        for reuse in ("frozen", "scale", "core"):
            assert GateConfig(kind="litelora-v3", group=group, reuse=reuse, reuse_lr=1e-3).reuse == reuse
