"""The progress display: a redrawn bar on a terminal, complete plain lines elsewhere."""

import io

from litelora.reporting.progress_bar import tqdm


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _drive(file, **kwargs) -> str:
    bar = tqdm(total=40, desc="task 3", file=file, mininterval=0, **kwargs)
    for step in range(40):
        bar.update(1)
        if step == 9:
            bar.set_postfix(loss="0.125")
    bar.close()
    return file.getvalue()


def test_not_a_terminal_prints_plain_lines() -> None:
    out = _drive(io.StringIO(), plain_interval=0, leave=False)
    assert "\r" not in out and out.endswith("\n")
    lines = out.splitlines()
    # Interval 0: a line at every refresh (each step, and set_postfix's), the last step once.
    steps = [int(line.split(": ")[1].split("/")[0]) for line in lines]
    assert steps == sorted(steps) and set(steps) == set(range(1, 41)) and steps.count(40) == 1
    assert lines[0].startswith("task 3: 1/40 steps (2%)")
    assert lines[-1].startswith("task 3: 40/40 steps (100%)") and "loss=0.125" in lines[-1]


def test_plain_lines_are_rate_limited_but_the_end_is_always_printed() -> None:
    lines = _drive(io.StringIO(), plain_interval=3600).splitlines()
    assert len(lines) == 1 and lines[0].startswith("task 3: 40/40 steps (100%)")


def test_terminal_keeps_the_redrawn_bar() -> None:
    out = _drive(_Terminal())
    assert "\r" in out and "40/40" in out


def test_disabled_bar_prints_nothing() -> None:
    assert _drive(io.StringIO(), disable=True) == ""
