"""Reading benchmark files so that a wrong or truncated file says where and why.

JSON files are parsed whole (their decode errors carry a line and column); JSONL files are parsed
line by line, so a bad line is named by its number. `Record` wraps one parsed item with where it
came from, so a missing or mistyped field is reported as `path:line: field 'x' ...`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any


class BenchmarkFormatError(ValueError):
    """The file is not in the format the loader reads; the message names the line and why."""


def check_file(path: Path, what: str) -> Path:
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{what} file {path} does not exist; pass --data PATH")
    return path


def read_json(path: Path) -> Any:
    """One JSON document; a decode error becomes `path:line:column: why`."""
    text = path.read_text(encoding="utf-8")
    if not text.strip():
        raise BenchmarkFormatError(f"{path}:1: the file is empty")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        truncated = exc.pos >= len(text.rstrip()) - 1
        why = "the file ends early (truncated?)" if truncated else exc.msg
        raise BenchmarkFormatError(f"{path}:{exc.lineno}:{exc.colno}: {why}") from None


def iter_jsonl(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, object) for each non-empty line."""
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as exc:
                why = exc.msg
                if not line.endswith("\n") and exc.pos >= len(line.rstrip()) - 1:
                    why = "the line ends early (truncated file?)"
                raise BenchmarkFormatError(f"{path}:{number}: not valid JSON ({why})") from None


def item_lines(path: Path, count: int, key: str | None = None) -> list[int]:
    """Best-effort line number where each item of the top-level array (or of `key`'s array)
    starts; pretty-printed files put items on their own lines, a one-line file gives line 1.

    Used only to point error messages at the right place.
    """
    text = path.read_text(encoding="utf-8")
    start = 0
    if key is not None:
        found = re.search(r'"' + re.escape(key) + r'"\s*:\s*\[', text)
        start = found.end() - 1 if found else 0
    line = text.count("\n", 0, start) + 1
    lines: list[int] = []
    depth = 0
    in_string = escaped = False
    for char in text[start:]:
        if char == "\n":
            line += 1
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
            continue
        if char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth == 2:
                lines.append(line)
                if len(lines) >= count:
                    break
        elif char in "]}":
            depth -= 1
            if depth == 0:
                break
    return lines + [line] * (count - len(lines))


class Locator:
    """Turns an item index into `path:line (item i)`, scanning the file only when asked (on an
    error), so loading a valid file never pays for it."""

    def __init__(self, path: Path, count: int, key: str | None = None) -> None:
        self.path, self.count, self.key = path, count, key
        self._lines: list[int] | None = None

    def __call__(self, index: int) -> str:
        if self._lines is None:
            self._lines = item_lines(self.path, self.count, self.key)
        return f"{self.path}:{self._lines[index]} (item {index})"


@dataclass(frozen=True)
class Record:
    """One item of a benchmark file and where it is, for error messages."""

    data: dict[str, Any]
    place: str | Callable[[], str]  # "path:line", or computed on demand

    @property
    def where(self) -> str:
        return self.place if isinstance(self.place, str) else self.place()

    @classmethod
    def of(cls, item: Any, place: str | Callable[[], str]) -> Record:
        record = cls(item if isinstance(item, dict) else {}, place)
        if not isinstance(item, dict):
            raise BenchmarkFormatError(
                f"{record.where}: expected a JSON object, found {type(item).__name__}"
            )
        return record

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        if key not in self.data or self.data[key] is None:
            if default is not ...:
                return default
            raise BenchmarkFormatError(
                f"{self.where}: field {key!r} is missing (fields: {', '.join(sorted(self.data))})"
            )
        value = self.data[key]
        if not isinstance(value, kind):
            names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            raise BenchmarkFormatError(
                f"{self.where}: field {key!r} should be {names}, found {type(value).__name__}"
            )
        return value

    def child(self, key: str) -> Record:
        value = self.get(key, dict)
        return Record.of(value, lambda: f"{self.where} [{key}]")


def array_records(path: Path, items: Any, key: str | None = None) -> list[Record]:
    """The items of a top-level JSON array (or of `items[key]`) as Records with line numbers."""
    if key is not None:
        if not isinstance(items, dict) or key not in items:
            found = ", ".join(items) if isinstance(items, dict) else type(items).__name__
            raise BenchmarkFormatError(
                f"{path}:1: expected an object with a {key!r} list ({found})"
            )
        items = items[key]
    if not isinstance(items, list):
        raise BenchmarkFormatError(
            f"{path}:1: expected a JSON list of items, found {type(items).__name__}"
        )
    locate = Locator(path, len(items), key)
    return [Record.of(item, partial(locate, index)) for index, item in enumerate(items)]
