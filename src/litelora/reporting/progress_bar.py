"""A tqdm bar on a terminal, periodic plain lines anywhere else (a log file, a CI console, a pipe).

Carriage-return redraws turn a redirected log into one enormous line; when the output is
not a terminal the same bar prints one complete line at most every ``plain_interval``
seconds, and a last line when it closes.
"""

from __future__ import annotations

import time
from typing import Any

from tqdm.auto import tqdm as _tqdm

PLAIN_FORMAT = "{desc}: {n_fmt}/{total_fmt} steps ({percentage:.0f}%) [{elapsed}<{remaining}, {rate_fmt}{postfix}]"


class tqdm(_tqdm):  # noqa: N801  (a drop-in for ``tqdm.auto.tqdm``: same name, same calls)
    """``tqdm.auto.tqdm`` that degrades to plain lines when its output is not a terminal.

    Args:
        plain_interval: seconds between two plain lines (only when the output is not a tty).
        *args, **kwargs: as for tqdm.
    """

    def __init__(self, *args: Any, plain_interval: float = 30.0, **kwargs: Any) -> None:
        file = kwargs.get("file")
        if file is None:
            import sys

            file = sys.stderr
        isatty = getattr(file, "isatty", None)
        self._plain = not (callable(isatty) and isatty())
        self._plain_interval = plain_interval
        self._last_line = 0.0
        self._printed_n: int | None = None
        if self._plain:
            kwargs.setdefault("bar_format", PLAIN_FORMAT)
            kwargs["dynamic_ncols"] = False
        super().__init__(*args, **kwargs)

    def display(self, msg: str | None = None, pos: int | None = None) -> bool | None:
        if not self._plain:
            return super().display(msg, pos)
        now = time.monotonic()
        if self._printed_n is None and self.n == 0:
            self._last_line = now  # nothing to report before the first step
        elif now - self._last_line >= self._plain_interval:
            self._write_line(now)
        return True

    def close(self) -> None:
        if self._plain and not self.disable:
            if self.n != self._printed_n and self.n > 0:
                self._write_line(time.monotonic())
            self.sp = None  # tqdm then skips its own clean-up writes (the carriage return)
        super().close()

    def clear(self, nolock: bool = False) -> None:
        if not self._plain:  # a plain line is never redrawn, so there is nothing to clear
            super().clear(nolock)

    def _write_line(self, now: float) -> None:
        self._last_line, self._printed_n = now, self.n
        self.fp.write(self.format_meter(**self.format_dict) + "\n")
        self.fp.flush()
