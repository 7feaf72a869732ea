"""Strict, exact parsing of the record files users hand over: JSON lists, JSON Lines, CSV and TSV.

Strict: a key or column that appears twice, a row with more or fewer fields than the header, and
a number too long to read are errors naming the file and line, never a silent choice of one
value. Exact: text round-trips; records split only where the format says (``\\n`` for JSON
Lines, unquoted line ends for CSV), so a raw U+2028, U+0085 or form feed inside a field is text,
a quoted CSV field keeps its line breaks, and TSV (no quoting) keeps quote characters as text.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

from litelora.errors import DataError

# Exactly JSON's whitespace (RFC 8259), as Python's own decoder skips it.
_JSON_SPACE = re.compile(r"[ \t\n\r]*")


def _skip(text: str, pos: int) -> int:
    """The first position at or after ``pos`` that is not JSON whitespace."""
    match = _JSON_SPACE.match(text, pos)
    return match.end() if match else pos


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


_DECODER = json.JSONDecoder(object_pairs_hook=_unique_keys)


def read_text(file: Path) -> str:
    """The file as UTF-8 text, line ends untranslated (a ``\r\n`` inside a quoted CSV field is
    text); a leading byte-order mark, as spreadsheets write, is dropped."""
    try:
        return file.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise DataError(f"{file}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    except OSError as err:
        raise DataError(f"{file}: cannot be read ({err.strerror or err})") from None


def _decode(text: str, pos: int, file: Path | str, where: str, *, one_line: bool = False) -> tuple[Any, int]:
    """One JSON value at ``pos``: (value, end). ``where`` names the file and line of the value in
    errors; a syntax error names its own position (its column only when ``text`` is one line)."""
    try:
        return _DECODER.raw_decode(text, pos)
    except json.JSONDecodeError as err:
        at = f"{where}: broken JSON at column {err.colno}" if one_line else (
            f"{file}: broken JSON at line {err.lineno}, column {err.colno}")
        raise DataError(f"{at}: {err.msg}") from None
    except _DuplicateKey as dup:
        raise DataError(f"{where}: key {dup.key!r} appears twice in one object; keep one") from None
    except RecursionError:
        raise DataError(f"{where}: JSON nested too deeply; expected records of fields") from None
    except ValueError as err:  # Python's 4300-digit limit on integers, raised as a plain ValueError
        raise DataError(f"{where}: a value cannot be read ({str(err).split(';')[0]})") from None


def json_document(text: str, file: Path | str) -> Any:
    """A whole JSON document, keys checked for duplicates."""
    value, end = _decode(text, _skip(text, 0), file, str(file))
    _expect_end(text, end, file)
    return value


def _expect_end(text: str, end: int, file: Path | str) -> None:
    end = _skip(text, end)
    if end != len(text):
        line, col = _line_col(text, end)
        raise DataError(f"{file}: broken JSON at line {line}, column {col}: extra data after the document")


def _line_col(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    return line, pos - (text.rfind("\n", 0, pos) + 1) + 1


def json_list_records(text: str, file: Path | str) -> list[tuple[str, Any]]:
    """The elements of a JSON list, each with where it starts (``file, line L, record i``).

    Decoded element by element so that an error inside one names its line and record.
    """
    pos = _skip(text, 0)
    if not text.startswith("[", pos):
        value = json_document(text, file)
        raise DataError(f"{file}: expected a JSON list of records, got {type(value).__name__}")
    pos = _skip(text, pos + 1)
    out: list[tuple[str, Any]] = []
    line, counted = 1, 0
    if text.startswith("]", pos):
        _expect_end(text, pos + 1, file)
        return out
    while True:
        line, counted = line + text.count("\n", counted, pos), pos
        where = f"{file}, line {line}, record {len(out)}"
        value, pos = _decode(text, pos, file, where)
        out.append((where, value))
        pos = _skip(text, pos)
        if text.startswith(",", pos):
            pos = _skip(text, pos + 1)
        elif text.startswith("]", pos):
            _expect_end(text, pos + 1, file)
            return out
        else:
            at_line, col = _line_col(text, pos)
            raise DataError(f"{file}: broken JSON at line {at_line}, column {col}: expected ',' or ']'")


def jsonl_records(text: str, file: Path | str) -> list[tuple[str, Any]]:
    """One JSON value per ``\\n``-ended line (a ``\\r`` before it is dropped); blank lines skipped.

    Only ``\\n`` ends a record: U+2028, U+0085 and the other characters ``str.splitlines`` breaks
    on are valid inside a JSON string.
    """
    out = []
    for n, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
        if not line.strip(" \t"):
            continue
        where = f"{file}, line {n}"
        value, end = _decode(line, _skip(line, 0), file, where, one_line=True)
        if _skip(line, end) != len(line):
            raise DataError(f"{where}: broken JSON: extra data after the record (one record per line)")
        out.append((where, value))
    return out


def table_records(text: str, file: Path | str, *, tsv: bool) -> list[tuple[str, dict[str, str]]]:
    """The rows of a CSV (RFC 4180 quoting) or TSV (no quoting: quotes are text) file as
    ``{column: field}``, each with its first line; the first row is the header."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t" if tsv else ",", strict=True,
                        quoting=csv.QUOTE_NONE if tsv else csv.QUOTE_MINIMAL)
    header: list[str] | None = None
    out = []
    fmt = "TSV" if tsv else "CSV"
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as err:
            raise DataError(f"{file}, line {start}: malformed {fmt} ({err})") from None
        if not row:  # a blank line
            continue
        if header is None:
            seen = set()
            for name in row:
                if name in seen:
                    raise DataError(f"{file}, line {start}: column {name!r} appears twice in the header; "
                                    "rename one")
                seen.add(name)
            header = row
            continue
        if len(row) != len(header):
            hint = ("a TSV field cannot hold a tab or a line break" if tsv
                    else "quote a field that holds a comma or a line break")
            raise DataError(f"{file}, line {start}: {len(row)} fields, the header has {len(header)} ({hint})")
        out.append((f"{file}, line {start}", dict(zip(header, row))))
    return out
