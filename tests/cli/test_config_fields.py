"""Help texts come from the config dataclasses: every --set field is documented."""

from dataclasses import dataclass, field

import pytest

from litelora._config_docs import docstring_entries, field_docs
from litelora.cli.main import main
from litelora.training.config import RunConfig


def test_every_config_field_has_help_text() -> None:
    docs = field_docs(RunConfig)
    undocumented = [d.path for d in docs if not d.help]
    assert not undocumented, (f"config fields without help: {undocumented}; add a 'name: text' line to the "
                              "dataclass docstring or metadata={'help': ...}")
    # The walk reaches every section and the leaf fields inside them.
    paths = {d.path for d in docs}
    assert {"train.lr", "gate.params", "adapter.target_modules", "benchmark.options", "output_dir"} <= paths
    assert len(paths) == len(docs)


def test_every_method_param_is_documented_and_listed(capsys) -> None:
    from litelora.cli.config_cmd import method_param_docs

    docs = method_param_docs()
    assert not [d.path for d in docs if not d.help]
    paths = {d.path for d in docs}
    assert {"method.params.eps_b (method.name=inflora)", "method.params.lambda_1 (method.name=olora)",
            "method.params.rank_schedule (method.name=sdlora-rr)"} <= paths
    assert main(["config", "fields", "method"]) == 0
    out = capsys.readouterr().out
    assert "method.params.memory_inputs (method.name=inflora): Literal['after', 'before'] = after" in out
    assert "[[0, 10], [4, 8], [8, 6]]" in out


@dataclass
class _Documented:
    """Summary line, not a field.

    alpha: first line
        continued here.
    beta: from the docstring, but metadata wins.
    Notes: a later word that is no field.
    """

    alpha: int = 1
    beta: float = field(default=0.5, metadata={"help": "from metadata"})
    gamma: list[int] = field(default_factory=lambda: [1, 2])


def test_docstring_entries_join_continuations_and_metadata_wins() -> None:
    entries = docstring_entries(_Documented)
    assert entries["alpha"] == "first line continued here."
    docs = {d.path: d for d in field_docs(_Documented)}
    assert docs["alpha"].help == "first line continued here."
    assert docs["beta"].help == "from metadata"
    assert docs["gamma"].help == "" and docs["gamma"].default == [1, 2] and docs["gamma"].type == "list[int]"


def test_every_gate_param_is_documented_and_listed_by_gate(capsys) -> None:
    from litelora.cli.config_cmd import gate_param_docs

    docs = gate_param_docs()
    assert not [d.path for d in docs if not d.help]
    paths = {d.path for d in docs}
    assert {"gate.params.lam (gate.kind=hard_concrete)", "gate.params.tau (gate.kind=representability)",
            "gate.params.novelty (gate.kind=litelora-v2)", "gate.params.param_budget (gate.kind=litelora-v3)"} <= paths
    assert not any("gate.kind=random" in p for p in paths)  # random takes no settings of its own


def test_config_fields_cli_prints_type_default_and_help(capsys) -> None:
    assert main(["config", "fields", "gate"]) == 0
    out = capsys.readouterr().out
    assert "gate.params.lam (gate.kind=hard_concrete): float = 0.05" in out
    assert "weight of the expected-L0 penalty" in out
    assert "train.lr" not in out
    assert main(["config", "fields"]) == 0
    every = capsys.readouterr().out
    assert every.count("\n") > out.count("\n") and "train.tensorboard: bool = false" in every
    assert main(["train", "--help-config"]) == 0  # lists the fields and trains nothing
    assert capsys.readouterr().out == every


@pytest.mark.parametrize(("argv", "needle"), [
    (["config", "fields", "trainn"], "unknown config section 'trainn'; sections: benchmark"),
    (["config", "show", "train"], "takes no SECTION"),
])
def test_config_fields_bad_section(argv, needle, capsys) -> None:
    assert main(argv) == 1
    assert needle in capsys.readouterr().err
