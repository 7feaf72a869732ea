"""Hostile ``--set`` values and config files: every one is a one-line error naming the field,
and nothing is written to the output directory."""

from __future__ import annotations

import pytest

from hostile import assert_clean_error, run_cli

BASE = ["--set", "benchmark.name=tiny-text", "--set", "model.name=tiny-bert", "--set", "train.max_steps_per_task=1"]

CASES = [
    (["train.batch_size=0"], r"train\.batch_size must be a positive integer"),
    (["train.batch_size=-1"], r"train\.batch_size must be a positive integer"),
    (["train.batch_size=" + "9" * 4000], r"train\.batch_size=9+ is above 1048576"),
    (["train.batch_size=abc"], r"train\.batch_size: expected an integer, got str"),
    (["train.batch_size=1.5"], r"train\.batch_size: expected an integer, got float"),
    (["train.batch_size=true"], r"train\.batch_size: expected an integer, got bool"),
    (["train.batch_size=[1]"], r"train\.batch_size: expected an integer, got list"),
    (["train.eval_batch_size=0"], r"train\.eval_batch_size must be a positive integer"),
    (["train.eval_batch_size=1099511627776"], r"train\.eval_batch_size=1099511627776 is above"),
    (["train.seed=-1"], r"train\.seed must be between 0 and 4294967295"),
    (["train.seed=1099511627776"], r"train\.seed must be between 0 and 4294967295"),
    (["train.seed=x"], r"train\.seed: expected an integer"),
    (["train.seed=1.5"], r"train\.seed: expected an integer"),
    (["train.num_threads=-3"], r"train\.num_threads must be between 1 and 1024"),
    (["train.num_threads=0"], r"train\.num_threads must be between 1 and 1024"),
    (["train.num_threads=5000"], r"train\.num_threads must be between 1 and 1024"),
    (["train.device=banana"], r"train\.device='banana' is not a device name"),
    (["train.device="], r"train\.device='' is not a device name"),
    (["train.device=mps"], r"train\.device='mps': only 'cpu' and 'cuda\[:N\]'"),
    (["train.lr=0"], r"train\.lr must be > 0"),
    (["train.lr=-1"], r"train\.lr must be > 0"),
    (["train.lr=.nan"], r"train\.lr: expected a finite number"),
    (["train.lr=.inf"], r"train\.lr: expected a finite number"),
    (["train.lr=fast"], r"train\.lr: expected a number"),
    (["train.head_lr=0"], r"train\.head_lr must be > 0"),
    (["train.epochs=0"], r"train\.epochs must be > 0"),
    (["train.epochs=1e9"], r"train\.epochs=1000000000\.0 is above 10000"),
    (["train.lr_schedule=linear"], r"train\.lr_schedule must be one of \['constant', 'cosine'\]"),
    (["train.checkpoint_every=-1"], r"train\.checkpoint_every must be >= 0"),
    (["train.max_steps_per_task=0"], r"train\.max_steps_per_task must be > 0 or null"),
    (["train.log_every=0"], r"train\.log_every must be a positive integer"),
    (["train.weight_decay=-1"], r"train\.weight_decay must be >= 0"),
    (["train.progress=maybe"], r"train\.progress: expected true or false"),
    (["adapter.r=0"], r"r must be a positive integer rank, got 0"),
    (["adapter.r=-1"], r"r must be a positive integer rank, got -1"),
    (["adapter.r=100000000"], r"r=100000000 is above the largest supported rank 4096"),
    (["adapter.r=4097"], r"r=4097 is above the largest supported rank"),
    (["adapter.r=eight"], r"adapter\.r: expected an integer, got str"),
    (["adapter.r=1.5"], r"adapter\.r: expected an integer, got float"),
    (["adapter.r=true"], r"adapter\.r: expected an integer, got bool"),
    (["adapter.lora_alpha=0"], r"lora_alpha must be a positive number"),
    (["adapter.lora_alpha=.nan"], r"adapter\.lora_alpha: expected a finite number"),
    (["adapter.lora_alpha=-1"], r"lora_alpha must be a positive number"),
    (["adapter.lora_alpha=big"], r"adapter\.lora_alpha: expected a number"),
    (["adapter.lora_dropout=1.0"], r"lora_dropout must be in \[0, 1\)"),
    (["adapter.lora_dropout=-0.1"], r"lora_dropout must be in \[0, 1\)"),
    (["adapter.lora_dropout=x"], r"adapter\.lora_dropout: expected a number"),
    (["adapter.target_modules=(unclosed"], r"adapter\.target_modules='\(unclosed' is not a valid regular expression"),
    (["adapter.target_modules=query|(value"], r"adapter\.target_modules=.* is not a valid regular expression"),
    (["adapter.target_modules="], r"target_modules must be a regex string or a list of names"),
    (["adapter.target_modules=[]"], r"target_modules must be a regex string or a non-empty list"),
    (["adapter.target_modules=[a"], r"--set 'adapter\.target_modules=\[a': cannot parse the value"),
    (["adapter.target_modules=nothing_matches_this"], r"target_modules='nothing_matches_this'.* matched no module"),
    (["adapter.exclude_modules=(bad"], r"adapter\.exclude_modules='\(bad' is not a valid regular expression"),
    (["adapter.rank_pattern={query: 0}"], r"rank_pattern\['query'\] must be a positive integer rank"),
    (["adapter.rank_pattern={query: 100000}"], r"rank_pattern\['query'\]=100000 is above the largest"),
    (["adapter.rank_pattern=[1]"], r"adapter\.rank_pattern: expected a mapping"),
    (["adapter.init_lora_weights=banana"], r"init_lora_weights must be one of"),
    (["adapter.fused_slices=[q, q]"], r"fused_slices must be distinct names"),
    (["model.name=no-such-model"], r"unknown model 'no-such-model'\. Known models:"),
    (["model.name=hf:/nonexistent/folder"], r"model\.name: cannot load '/nonexistent/folder'"),
    (["model.max_length=0"], r"model\.max_length must be between 1 and 1048576"),
    (["model.max_length=1073741824"], r"model\.max_length must be between 1 and 1048576"),
    (["model.head=banana"], r"model\.head: 'banana' is not allowed"),
    (["model.dtype=float8"], r"model\.dtype: 'float8' is not allowed \(did you mean 'float32'\?\)"),
    (["benchmark.name=nope"], r"unknown benchmark 'nope'\. Known benchmarks:"),
    (["benchmark.seed=-5"], r"benchmark\.seed must be between 0 and 4294967295"),
    (["benchmark.options.nonsense=1"], r"benchmark 'tiny-text': unknown options \['nonsense'\]"),
    (["benchmark.class_order=[0, 0, 1]"], r"class_order \[0, 0, 1\] must list distinct class ids"),
    (["benchmark.options=[1]"], r"benchmark\.options: expected a mapping"),
    (["method.name=nope"], r"unknown method 'nope'\. Known methods:"),
    (["method.params={lam: x}"], r"method\.params: 'inclora' takes no parameters, got \['lam'\]"),
    (["method.name=olora", "method.params={lambda1: 1}"], r"method\.params\.lambda1: unknown field; did you mean 'lambda_1'"),
    (["method.name=olora", "method.params={lambda_1: x}"], r"method\.params\.lambda_1: expected a number"),
    (["method.name=olora", "method.params={lambda_1: -1}"], r"method\.params\.lambda_1 must be a non-negative"),
    (["method.name=inflora", "method.params={eps_b: 2}"], r"method\.params\.eps_b must be in \(0, 1\]"),
    (["method.name=sdlora", "method.params={rank_schedule: [[0, 4], [0, 2]]}"], r"first_task values must increase"),
    (["method.name=sdlora", "method.params={rank_schedule: [[0, x]]}"], r"method\.params\.rank_schedule\[0\]\[1\]: expected an integer"),
    (["gate.kind=nope"], r"gate\.kind: unknown gate 'nope'\. Known gates: hard_concrete, litelora"),
    (["gate.kind=litlora"], r"gate\.kind: unknown gate 'litlora'\. Did you mean 'litelora'"),
    (["gate.kind="], r"gate\.kind is empty"),
    (["gate.kind=litelora", "gate.budget=-1"], r"gate\.budget must be in \(0, 1\]"),
    (["gate.kind=litelora", "gate.budget=2"], r"gate\.budget must be in \(0, 1\]"),
    (["gate.kind=litelora", "gate.params.novelty=-1"], r"gate\.params\.novelty must be in \[0, 1\)"),
    (["gate.kind=litelora", "gate.params.probe=0"], r"gate\.params\.probe must be in \(0, 1\]"),
    (["gate.kind=litelora-v3", "gate.params.probe=1.5"], r"gate\.params\.probe must be in \(0, 1\]"),
    (["gate.kind=litelora-v3", "gate.params.param_budget=0"], r"gate\.params\.param_budget must be in \(0, 1\]"),
    (["gate.kind=litelora-v3", "gate.params.unsolved=later"], r"gate\.params\.unsolved: 'later' is not allowed"),
    (["gate.kind=litelora-v3", "gate.params.lam=1"], r"gate\.params\.lam is not a setting of gate\.kind='litelora-v3' "
                                                      r"\(it is read by hard_concrete\)"),
    (["gate.reuse=banana"], r"gate\.reuse: 'banana' is not allowed"),
    (["gate.kind=hard_concrete", "gate.lam=-1"], r"gate\.params\.lam must be >= 0"),  # the flat, older layout
    (["gate.lam=0.05", "gate.params=true"], r"gate\.params: expected a mapping, got bool True"),  # found by the fuzzer
    (["foo.bar=1"], r"foo: unknown field\. Known fields: benchmark"),
    (["train.lrr=1"], r"train\.lrr: unknown field; did you mean 'lr'\?"),
    (["train.lr"], r"--set 'train\.lr': expected dotted\.key=value"),
    (["a..b=1"], r"--set 'a\.\.b=1': empty component"),
    (["train=5"], r"train: expected a mapping of fields, got int 5"),
    (["train.lr.x=1"], r"train\.lr: expected a number, got dict"),
    (["train={lr: 1, lr: 2}"], r"key 'lr' appears twice"),
    (["train.lr=["], r"--set 'train\.lr=\[': cannot parse the value"),
    (["output_dir="], r"output_dir is empty"),
]


@pytest.mark.parametrize(("sets", "needle"), CASES, ids=[" ".join(s)[:60] for s, _ in CASES])
def test_bad_set_values_fail_in_one_line_before_writing(tmp_path, capsys, sets: list[str], needle: str) -> None:
    out = tmp_path / "run"
    argv = ["train", "--no-progress", "-o", str(out), *BASE]
    for s in sets:
        argv += ["--set", s]
    code, err = run_cli(capsys, *argv)
    assert_clean_error(code, err, needle, "train")
    assert not out.exists() or not any(out.iterdir())


CONFIG_FILES = [
    ("train:\n  lr: 0.1\n  lr: 0.2\n", r"key 'lr' appears twice \(line 3\)"),
    ("train: [1, 2]\n", r"'train' is not a section"),
    ("- a\n- b\n", r"must hold a mapping at the top level, got list"),
    ("train:\n  lr: [\n", r"is not valid YAML"),
    ("train: {batch_size: 99999999999999999999}\n", r"train\.batch_size=9+ is above"),
    ("a: &x [*x]\n", r"the value at line 1 contains itself through an alias"),
    ("!!python/object:os.system {}\n", r"is not valid YAML"),
]


@pytest.mark.parametrize(("text", "needle"), CONFIG_FILES, ids=[t[:30] for t, _ in CONFIG_FILES])
def test_bad_config_files_fail_in_one_line_before_writing(tmp_path, capsys, text: str, needle: str) -> None:
    config, out = tmp_path / "c.yaml", tmp_path / "run"
    config.write_text(text)
    code, err = run_cli(capsys, "train", "--no-progress", "-c", str(config), "-o", str(out), *BASE)
    assert_clean_error(code, err, needle, "train")
    assert not out.exists() or not any(out.iterdir())


def test_a_config_file_that_is_not_utf8_or_missing(tmp_path, capsys) -> None:
    config = tmp_path / "c.yaml"
    config.write_bytes(b"train:\n  lr: \xff\xfe\n")
    assert_clean_error(*run_cli(capsys, "train", "-c", str(config), "-o", str(tmp_path / "r")),
                       r"is not UTF-8 text", "train")
    assert_clean_error(*run_cli(capsys, "train", "-c", str(tmp_path / "none.yaml"), "-o", str(tmp_path / "r")),
                       r"none\.yaml' does not exist", "train")
