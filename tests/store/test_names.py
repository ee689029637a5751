"""Person-name validation: names become folder names, so separators and control characters are
refused while any script is accepted."""

from __future__ import annotations

import re

import pytest

from gatekeeper.errors import UsageError
from gatekeeper.store import MAX_NAME_LENGTH, validate_name


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("Alice", "Alice"),
        ("  Alice Smith \t", "Alice Smith"),
        ("José Núñez", "José Núñez"),
        ("Jose\u0301 Nu\u0301n\u0303ez", "José Núñez"),  # decomposed spelling becomes NFC
        ("王小明", "王小明"),
        ("O'Brien-Smith", "O'Brien-Smith"),
        ("...dots", "...dots"),
        ("x" * MAX_NAME_LENGTH, "x" * MAX_NAME_LENGTH),
    ],
)
def test_valid_names_are_stripped_and_normalised(raw: str, stored: str) -> None:
    assert validate_name(raw) == stored


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "empty"),
        ("   \t ", "empty"),
        ("x" * (MAX_NAME_LENGTH + 1), "too long"),
        ("alice/bob", "'/'"),
        ("..\\bob", "'\\\\'"),
        (".", "not a valid name"),
        ("..", "not a valid name"),
        ("tab\there", "U+0009"),
        ("new\nline", "U+000A"),
        ("nul\x00", "U+0000"),
        ("bell\x07", "U+0007"),
        ("line\u2028separator", "U+2028"),
    ],
)
def test_invalid_names_are_refused_with_a_reason(raw: str, message: str) -> None:
    with pytest.raises(UsageError, match=re.escape(message)):
        validate_name(raw)
