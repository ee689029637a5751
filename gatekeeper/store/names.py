"""Validation of person names, which also name the folders of kept photos (:func:`photo_folder`).

Two levels:

- :func:`validate_name` — the syntax every name must have (lookups, filters, names recorded in
  old attempts): NFC, no separators or control characters, not too long.
- :func:`validate_new_name` — what a name must also satisfy to be *given* to a new person, so
  that two enrolled names can never look alike: no invisible format characters (zero-width
  joiners, bidirectional overrides), no word that mixes scripts (``оbama`` with a Cyrillic
  ``о``). :func:`name_key` is the identity of a name for uniqueness: NFKC, case-folded, so
  ``obama``, ``Obama`` and the full-width ``ｏｂａｍａ`` are one person.
"""

from __future__ import annotations

import hashlib
import unicodedata

from gatekeeper.errors import UsageError

#: Longest accepted name, in Unicode code points after NFC normalisation.
MAX_NAME_LENGTH = 100
#: Longest name, in UTF-8 bytes, that is its own photo folder's name. File systems allow 255
#: bytes in a name, and 100 characters may take 400; see :func:`photo_folder`.
MAX_FOLDER_NAME_BYTES = 200
#: A longer name's folder: its first bytes (at most this many, whole characters), ``~`` and
#: this many hex digits of the SHA-256 of the whole name: 237 bytes at most, 218 at least.
_FOLDER_PREFIX_BYTES = 220
_FOLDER_HASH_DIGITS = 16

#: Unicode categories refused anywhere in a name: control characters (tab, newline, NUL...),
#: lone surrogates, and the line/paragraph separators.
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})
_SEPARATORS = frozenset("/\\")

#: Scripts that legitimately share one word: Japanese writes kanji (``CJK`` in character names)
#: with hiragana and katakana and the marks they share — the prolonged sound mark of ``ルーシー``
#: (``KATAKANA-HIRAGANA PROLONGED SOUND MARK``) and the iteration mark of ``佐々木``
#: (``IDEOGRAPHIC ITERATION MARK``); Korean may mix hangul with hanja. Any other mix is refused.
_COMPATIBLE_SCRIPTS = (
    frozenset({"CJK", "HIRAGANA", "KATAKANA", "KATAKANA-HIRAGANA", "IDEOGRAPHIC"}),
    frozenset({"CJK", "HANGUL"}),
)


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


def photo_folder(name: str) -> str:
    """The name of the folder (under ``images/``) that holds a (validated) person's kept photos.

    A name of at most :data:`MAX_FOLDER_NAME_BYTES` UTF-8 bytes is its own folder, as it always
    was. A longer one — 100 Chinese characters are 300 bytes, past the 255 a file system
    allows — becomes its longest prefix of whole characters within ``_FOLDER_PREFIX_BYTES``
    bytes, ``~`` and 16 hex digits of the SHA-256 of the whole name: readable, and different
    for names that share the prefix. Such a folder is always longer than
    :data:`MAX_FOLDER_NAME_BYTES`, so it can never be the folder of another, shorter name.
    """
    encoded = name.encode("utf-8")
    if len(encoded) <= MAX_FOLDER_NAME_BYTES:
        return name
    prefix = encoded[:_FOLDER_PREFIX_BYTES].decode("utf-8", errors="ignore")
    digest = hashlib.sha256(encoded).hexdigest()[:_FOLDER_HASH_DIGITS]
    return f"{prefix}~{digest}"


def name_key(name: str) -> str:
    """The identity of a (validated) name for uniqueness: NFKC-normalised and case-folded."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())


def validate_new_name(name: str) -> str:
    """:func:`validate_name`, plus the rules for naming a new person.

    Refuses format characters (Unicode category Cf: zero-width spaces and joiners, bidirectional
    marks and overrides, soft hyphens) and words that mix letters of several scripts, except the
    Japanese and Korean combinations of :data:`_COMPATIBLE_SCRIPTS`. A "word" is a run of
    characters between spaces; digits, punctuation and combining marks belong to no script.
    """
    cleaned = validate_name(name)
    for char in cleaned:
        if unicodedata.category(char) == "Cf":
            raise UsageError(
                f"a name cannot contain the invisible format character U+{ord(char):04X} "
                f"({unicodedata.name(char, 'unnamed')})"
            )
    for word in unicodedata.normalize("NFKC", cleaned).split():
        scripts = {_script(char) for char in word if unicodedata.category(char).startswith("L")}
        if len(scripts) > 1 and not any(scripts <= ok for ok in _COMPATIBLE_SCRIPTS):
            raise UsageError(
                f"the word {word!r} mixes letters of several scripts "
                f"({', '.join(sorted(s.lower() for s in scripts))}); look-alike names are refused"
            )
    return cleaned


def _script(char: str) -> str:
    """The script of a letter, from its Unicode name: ``LATIN SMALL LETTER O`` → ``LATIN``,
    ``CYRILLIC SMALL LETTER O`` → ``CYRILLIC``, ``CJK UNIFIED IDEOGRAPH-738B`` → ``CJK``."""
    return unicodedata.name(char, "UNKNOWN").split()[0]
