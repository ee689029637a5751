"""Validation of person names, which are also the folder names of kept photos."""

from __future__ import annotations

import unicodedata

from gatekeeper.errors import UsageError

#: Longest accepted name, in Unicode code points after NFC normalisation.
MAX_NAME_LENGTH = 100

#: Unicode categories refused anywhere in a name: control characters (tab, newline, NUL...),
#: lone surrogates, and the line/paragraph separators.
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})
_SEPARATORS = frozenset("/\\")


def validate_name(name: str) -> str:
    """The name as stored: surrounding whitespace stripped, Unicode NFC-normalised.

    Any script is fine ("José Núñez", "王小明"). Raises ``UsageError`` for an empty name, one
    longer than ``MAX_NAME_LENGTH`` characters, ``.`` or ``..``, or one containing a path
    separator (``/``, ``\\``) or a control character, since the name becomes a folder name.
    NFC makes the composed and decomposed spellings of "José" the same person.
    """
    if not isinstance(name, str):
        raise UsageError(f"a name must be text, not {type(name).__name__}")
    cleaned = unicodedata.normalize("NFC", name.strip())
    if not cleaned:
        raise UsageError("a name cannot be empty")
    if len(cleaned) > MAX_NAME_LENGTH:
        raise UsageError(f"name is too long ({len(cleaned)} characters, at most {MAX_NAME_LENGTH})")
    if cleaned in (".", ".."):
        raise UsageError(f"{cleaned!r} is not a valid name")
    for char in cleaned:
        if char in _SEPARATORS:
            raise UsageError(f"a name cannot contain {char!r}: {cleaned!r}")
        if unicodedata.category(char) in _FORBIDDEN_CATEGORIES:
            raise UsageError(f"a name cannot contain control character U+{ord(char):04X}")
    return cleaned
