"""Scenario dicts back to TOML text, so that a found worst case is a plain scenario file.

Only what scenarios hold: tables, arrays (of numbers, strings, arrays, inline tables), strings,
booleans, integers and floats. A float is written with ``repr``, the shortest text that parses
back to the same double, so ``tomllib.loads(dumps(raw)) == raw`` bit for bit (tested).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")  # matched whole (fullmatch: "$" would pass "0\n")


def dumps(raw: Mapping[str, Any], header: str = "") -> str:
    """``raw`` as a TOML document; ``header`` lines become leading comments."""
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    _table(raw, [], lines)
    return "\n".join(lines).strip("\n") + "\n"


def _table(table: Mapping[str, Any], path: list[str], lines: list[str]) -> None:
    scalars = {k: v for k, v in table.items() if not _is_section(v)}
    sections = {k: v for k, v in table.items() if _is_section(v)}
    if path and (scalars or not sections):
        lines.append("")
        lines.append(f"[{'.'.join(_key(p) for p in path)}]")
    for key, value in scalars.items():
        lines.append(f"{_key(key)} = {_value(value)}")
    for key, value in sections.items():
        if isinstance(value, Mapping):
            _table(value, [*path, key], lines)
        else:  # an array of tables
            for entry in value:
                lines.append("")
                lines.append(f"[[{'.'.join(_key(p) for p in [*path, key])}]]")
                for inner, item in entry.items():
                    lines.append(f"{_key(inner)} = {_value(item)}")


def _is_section(value: Any) -> bool:
    if isinstance(value, Mapping):
        return True
    return isinstance(value, list) and bool(value) and all(isinstance(v, Mapping) for v in value)


def _key(key: str) -> str:
    return key if BARE_KEY.fullmatch(key) else _string(key)


def _string(text: str) -> str:
    """A TOML basic string: JSON's escapes for the quote, the backslash and the control
    characters, DEL escaped too, every other character as itself (JSON's ASCII escapes would
    write a character beyond U+FFFF as a surrogate pair, which TOML refuses)."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML: {value!r}")
