"""Reading one ``[[actions]]`` or ``[[alerts]]`` table of the TOML config: every key
type-checked, unknown keys refused, each error one line naming the table and the key."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from gatekeeper.errors import UsageError

#: Longest action or rule name, in characters.
MAX_NAME_LENGTH = 64


class Table:
    """One entry of an array of tables (``[[actions]]`` entry ``index``, counted from 1).

    The getters take a key out of the table and check it; :meth:`done` refuses whatever key was
    not taken. Errors read ``[[actions]] #2 (relay): timeout_s must be a number > 0, got 'x'``.
    """

    def __init__(self, array: str, index: int, value: Any) -> None:
        self.where = f"[[{array}]] #{index}"
        if not isinstance(value, Mapping):
            raise UsageError(f"{self.where} must be a table, not {type(value).__name__}")
        self._values = dict(value)

    def error(self, message: str) -> UsageError:
        return UsageError(f"{self.where}: {message}")

    def has(self, key: str) -> bool:
        return key in self._values

    def name(self, default: str) -> str:
        """The ``name`` key (``default`` without it): printable, no spaces, at most
        :data:`MAX_NAME_LENGTH` characters; errors from now on name it."""
        name = self.text("name", default)
        printable = all(c.isprintable() and not c.isspace() for c in name)
        if len(name) > MAX_NAME_LENGTH or not printable:
            raise self.error(
                f"name must be at most {MAX_NAME_LENGTH} printable characters without spaces, "
                f"got {name!r}"
            )
        self.where = f"{self.where} ({name})"
        return name

    def text(self, key: str, default: str | None = None, *, required: bool = False) -> Any:
        value = self._take(key, default, required)
        if value is default and not required:
            return value
        if not isinstance(value, str):
            raise self.error(f"{key} must be text, not {_kind(value)}")
        if not value.strip():
            raise self.error(f"{key} cannot be empty")
        return value

    def number(self, key: str, default: float, *, low: float, high: float) -> float:
        """A finite number in the inclusive range ``low``–``high`` (ints accepted)."""
        return self._checked_number(key, self._take(key, default, False), low, high)

    def numbers(
        self, key: str, keys: tuple[str, ...], *, low: float, high: float
    ) -> dict[str, float]:
        """A number for some of ``keys``: one number (for each of them) or a table of some of
        them (``{ granted = 3 }``), each finite and in ``low``–``high``; ``{}`` when absent."""
        value = self._take(key, None, False)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            number = self._checked_number(key, value, low, high)
            return dict.fromkeys(keys, number)
        numbers = {}
        for sub, item in value.items():
            if sub not in keys:
                raise self.error(f"{key}: {sub!r} is not one of {', '.join(keys)}")
            numbers[sub] = self._checked_number(f"{key}.{sub}", item, low, high)
        return numbers

    def _checked_number(self, key: str, value: Any, low: float, high: float) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(f"{key} must be a number, not {_kind(value)}")
        number = float(value)
        if not (math.isfinite(number) and low <= number <= high):
            raise self.error(f"{key} must be between {low:g} and {high:g}, got {value!r}")
        return number

    def whole(self, key: str, default: int, *, low: int, high: int) -> int:
        value = self._take(key, default, False)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(f"{key} must be a whole number, not {_kind(value)}")
        if not low <= value <= high:
            raise self.error(f"{key} must be between {low} and {high}, got {value!r}")
        return value

    def texts(
        self, key: str, *, required: bool, choices: tuple[str, ...] = ()
    ) -> tuple[str, ...] | None:
        """A non-empty list of non-empty strings (each one of ``choices`` when given), without
        repeats; ``None`` when the key is absent and not ``required``."""
        value = self._take(key, None, required)
        if value is None:
            return None
        if not isinstance(value, list) or not value:
            raise self.error(f"{key} must be a non-empty list of text, not {_kind(value)}")
        for item in value:
            if not isinstance(item, str) or not item.strip():
                raise self.error(f"{key} must hold non-empty text only, got {item!r}")
            if choices and item not in choices:
                raise self.error(f"{key}: {item!r} is not one of {', '.join(choices)}")
        if len(set(value)) != len(value):
            raise self.error(f"{key} lists a value twice: {value!r}")
        return tuple(value)

    def done(self) -> None:
        """Refuse every key no getter took."""
        if self._values:
            raise self.error(f"unknown key(s): {', '.join(sorted(self._values))}")

    def _take(self, key: str, default: Any, required: bool) -> Any:
        if key not in self._values:
            if required:
                raise self.error(f"{key} is required")
            return default
        return self._values.pop(key)


def entries(array: str, value: Any) -> list[Table]:
    """The tables of a TOML array of tables (``[[array]]``), each a :class:`Table`."""
    if not isinstance(value, list):
        raise UsageError(f"{array} must be an array of tables ([[{array}]]), not {_kind(value)}")
    return [Table(array, index, item) for index, item in enumerate(value, start=1)]


def unique_names(array: str, names: list[str]) -> None:
    """Refuse two entries of ``array`` with one name (outcomes are recorded by name)."""
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise UsageError(f"[[{array}]]: two entries are named {name!r}; names must be unique")
        seen.add(name)


def _kind(value: Any) -> str:
    return f"{type(value).__name__} {value!r}" if not isinstance(value, Mapping) else "a table"
