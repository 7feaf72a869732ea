"""Read plain-data pickles (CIFAR's dicts of lists, strings and numpy arrays) without unpickling.

``pickle.load`` runs whatever callables a file names. This reader walks the opcodes with
``pickletools.genops`` (a parser: it executes nothing) and interprets a data-only subset:
dicts, lists, tuples, strings, bytes, numbers, and numpy arrays through the three callables
numpy's own pickles use, each rebuilt here with ``np.frombuffer``. Any other global is
refused with the file and the name.
"""

from __future__ import annotations

import io
import os
import pickletools
from pathlib import Path
from typing import Any

import numpy as np

from litelora.errors import DataError

_RECONSTRUCT = {"numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct"}
_FROMBUFFER = {"numpy.core.numeric._frombuffer", "numpy._core.numeric._frombuffer"}
_ALLOWED = _RECONSTRUCT | _FROMBUFFER | {"numpy.ndarray", "numpy.dtype", "_codecs.encode"}


class _Global:
    def __init__(self, name: str) -> None:
        self.name = name


class _PendingArray:
    """``_reconstruct(ndarray, ...)``: the array is made when BUILD brings its state."""


class _Mark:
    pass


_MARK = _Mark()
_CONSTANTS: dict[str, Any] = {"EMPTY_TUPLE": (), "NONE": None, "NEWTRUE": True, "NEWFALSE": False}


def _call(func: Any, args: tuple[Any, ...], where: str) -> Any:
    name = func.name if isinstance(func, _Global) else repr(func)
    if name in _RECONSTRUCT:
        return _PendingArray()
    if name == "numpy.dtype":
        return np.dtype(args[0])
    if name in _FROMBUFFER:  # (buffer, dtype, shape, order)
        buffer, dtype, shape, order = args
        return np.frombuffer(bytes(buffer), dtype=dtype).reshape(shape, order=order)
    if name == "_codecs.encode":  # how protocol 2 writes bytes from Python 3
        text, encoding = args
        return str(text).encode(str(encoding))
    raise DataError(f"{where}: calls {name}, which a data file has no reason to call; refusing to read it")


def _build(obj: Any, state: Any, where: str) -> Any:
    if isinstance(obj, np.dtype):
        byteorder = state[1] if isinstance(state, tuple) and len(state) > 1 else "|"
        return obj.newbyteorder(byteorder) if byteorder in "<>" else obj
    if isinstance(obj, _PendingArray):  # (version, shape, dtype, is_fortran, raw bytes)
        _, shape, dtype, fortran, raw = state
        if not isinstance(raw, (bytes, bytearray)):
            raise DataError(f"{where}: an array holds Python objects, not raw numbers; refusing to read it")
        return np.frombuffer(bytes(raw), dtype=dtype).reshape(shape, order="F" if fortran else "C")
    raise DataError(f"{where}: BUILD on a {type(obj).__name__}; not a plain data pickle")


def read_data_pickle(path: str | os.PathLike[str]) -> Any:
    """The object stored in ``path``, if it is built only from plain data and numpy arrays."""
    path = Path(path)
    where = str(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err})") from None
    stack: list[Any] = []
    memo: dict[int, Any] = {}

    def pop_mark() -> list[Any]:
        i = max(k for k, item in enumerate(stack) if item is _MARK)  # identity: arrays have no truth value
        items = stack[i + 1 :]
        del stack[i:]
        return items

    try:
        for op, arg, _pos in pickletools.genops(io.BytesIO(data)):
            name = op.name
            if name in ("PROTO", "FRAME"):
                continue
            if name == "STOP":
                return stack.pop()
            if name == "MARK":
                stack.append(_MARK)
            elif name == "EMPTY_DICT":
                stack.append({})
            elif name == "EMPTY_LIST":
                stack.append([])
            elif name in _CONSTANTS:
                stack.append(_CONSTANTS[name])
            elif name in ("BININT", "BININT1", "BININT2", "INT", "LONG", "LONG1", "LONG4", "BINFLOAT", "FLOAT",
                          "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8", "UNICODE", "BINBYTES",
                          "SHORT_BINBYTES", "BINBYTES8"):
                stack.append(arg)
            elif name in ("BINSTRING", "SHORT_BINSTRING", "STRING"):  # Python 2 str: raw bytes
                stack.append(arg.encode("latin1") if isinstance(arg, str) else arg)
            elif name == "BYTEARRAY8":
                stack.append(bytearray(arg))
            elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
                memo[arg] = stack[-1]
            elif name == "MEMOIZE":
                memo[len(memo)] = stack[-1]
            elif name in ("GET", "BINGET", "LONG_BINGET"):
                stack.append(memo[arg])
            elif name == "DICT":
                items = pop_mark()
                stack.append(dict(zip(items[::2], items[1::2])))
            elif name in ("LIST", "TUPLE"):
                items = pop_mark()
                stack.append(items if name == "LIST" else tuple(items))
            elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
                n = int(name[-1])
                items = stack[-n:]
                del stack[-n:]
                stack.append(tuple(items))
            elif name == "SETITEM":
                value, key = stack.pop(), stack.pop()
                stack[-1][key] = value
            elif name == "SETITEMS":
                items = pop_mark()
                stack[-1].update(zip(items[::2], items[1::2]))
            elif name == "APPEND":
                value = stack.pop()
                stack[-1].append(value)
            elif name == "APPENDS":
                items = pop_mark()
                stack[-1].extend(items)
            elif name in ("GLOBAL", "STACK_GLOBAL"):
                if name == "GLOBAL":
                    module, _, attr = arg.partition(" ")
                else:
                    attr = stack.pop()
                    module = stack.pop()
                full = f"{module}.{attr}"
                if full not in _ALLOWED:
                    raise DataError(f"{where}: names the global {full}; only plain data and numpy arrays are "
                                    f"read (no code is ever run from a data file)")
                stack.append(_Global(full))
            elif name == "REDUCE":
                args = stack.pop()
                stack.append(_call(stack.pop(), tuple(args), where))
            elif name == "BUILD":
                state = stack.pop()
                stack.append(_build(stack.pop(), state, where))
            else:
                raise DataError(f"{where}: pickle opcode {name} is outside the plain-data subset this reader takes")
    except DataError:
        raise
    except Exception as err:  # a malformed stream: genops' ValueError, a short stack, a missing memo key
        raise DataError(f"{where}: not a readable data pickle ({type(err).__name__}: {err})") from None
    raise DataError(f"{where}: the pickle stream has no STOP opcode (truncated file)")
