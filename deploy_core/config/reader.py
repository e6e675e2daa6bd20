"""Reading typed values out of the parsed TOML, the key path given once.

A ``Checker`` stands at one place in the document (``colours.green.hosts[0]``)
and holds the value found there. ``at(key)`` steps inside and extends the
path, so a section names only its own keys and never writes a dotted path.
Problems are recorded, never raised, in one list shared by every checker of a
document, so all of them are reported at once.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, TypeVar
from urllib.parse import urlsplit

T = TypeVar("T")


class Checker:
    def __init__(self, data: Any, path: str = "", problems: list[str] | None = None) -> None:
        self.data = data
        self.path = path
        self.problems: list[str] = [] if problems is None else problems

    # ------------------------------------------------------------- where we are
    def at(self, *keys: str | int) -> Checker:
        """The checker of a key (``.key``) or array index (``[i]``) below this one."""
        here = self
        for key in keys:
            if isinstance(key, int):
                items = here.data if isinstance(here.data, list) else []
                value = items[key] if 0 <= key < len(items) else None
                here = here._with(value, f"{here.path}[{key}]")
            else:
                here = here._with(here.fields.get(key), f"{here.path}.{key}" if here.path else key)
        return here

    def _with(self, data: Any, path: str) -> Checker:
        return Checker(data, path, self.problems)

    def problem(self, text: str) -> None:
        self.problems.append(f"{self.path}: {text}")

    @property
    def is_table(self) -> bool:
        return isinstance(self.data, dict)

    @property
    def fields(self) -> Mapping[str, Any]:
        """This table's keys and values; nothing when the value is not a table."""
        return self.data if isinstance(self.data, Mapping) else {}

    def items(self) -> list[Checker]:
        """One checker per element of this array."""
        return [self.at(i) for i in range(len(self.data))] if isinstance(self.data, list) else []

    def known(self, *keys: str) -> None:
        """Report every key of this table that is not one of ``keys``."""
        for key in self.fields:
            if key not in keys:
                self.at(key).problem("unknown key")

    # ----------------------------------------------------------------- values
    def table(self, key: str, required: bool = True) -> Checker:
        """The table at ``key``; read it with ``fields``, which is empty when it is no table."""
        here = self.at(key)
        if here.data is None:
            if required:
                here.problem("missing table")
        elif not here.is_table:
            here.problem("must be a table")
        return here

    def array(self, key: str, required: bool = False) -> Checker:
        """The array at ``key``, empty when missing or not an array."""
        return self._with(self.get(key, list, [], required), self.at(key).path)

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = None,
            required: bool = False) -> Any:
        here = self.at(key)
        if key not in self.fields:
            if required:
                here.problem("missing")
            return default
        value = here.data
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds:
            here.problem(f"must be {kind_name(kinds)}, not a boolean")
            return default
        if not isinstance(value, kinds):
            here.problem(f"must be {kind_name(kinds)}")
            return default
        return value

    def string(self, key: str, default: T, required: bool = False) -> str | T:
        value = self.get(key, str, default, required)
        if isinstance(value, str) and required and not value.strip():
            self.at(key).problem("must not be empty")
        return value

    def number(self, key: str, default: T, minimum: float = 0.0, exclusive: bool = True) -> float | T:
        value = self.get(key, (int, float), default)
        if value is not None and not math.isfinite(value):      # TOML has inf and nan
            self.at(key).problem("must be a finite number")
            return default
        if value is not None and (value <= minimum if exclusive else value < minimum):
            self.at(key).problem(f"must be {'>' if exclusive else '>='} {minimum:g}")
            return default
        return float(value) if value is not None else default

    def integer(self, key: str, default: T, required: bool = False, minimum: int = 1) -> int | T:
        value = self.get(key, int, default, required)
        if isinstance(value, int) and value < minimum:
            self.at(key).problem(f"must be >= {minimum}")
            return default
        return value

    def url(self, key: str, required: bool = True) -> str:
        value = self.string(key, "", required)
        if value and not is_url(value):
            self.at(key).problem("not a URL")
        return (value or "").rstrip("/")

    def url_path(self, key: str, default: T) -> str | T:
        value = self.string(key, default)
        if isinstance(value, str) and not value.startswith("/"):
            self.at(key).problem("must start with /")
        return value or default


def kind_name(kinds: tuple[type, ...]) -> str:
    if set(kinds) == {int, float}:
        return "a number"
    names = {str: "a string", int: "an integer", float: "a number", list: "an array",
             dict: "a table", bool: "a boolean"}
    return " or ".join(dict.fromkeys(names.get(k, k.__name__) for k in kinds))


def is_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and " " not in value
