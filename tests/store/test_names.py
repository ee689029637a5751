"""Person-name validation: names become folder names, so separators and control characters are
refused while any script is accepted."""

from __future__ import annotations

import re

import pytest

from gatekeeper.errors import UsageError
from gatekeeper.store import MAX_NAME_LENGTH, validate_name
from gatekeeper.store.names import name_key, validate_new_name


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


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("lone\ud800surrogate", "U+D800"),
        ("para\u2029graph", "U+2029"),
    ],
)
def test_surrogates_and_paragraph_separators_are_refused(raw: str, code: str) -> None:
    with pytest.raises(UsageError, match=re.escape(code)):
        validate_name(raw)


@pytest.mark.parametrize(
    "raw",
    [
        "Alice",
        "José Núñez",
        "王小明",
        "山田たろう",  # kanji with hiragana: Japanese
        "ヤマダ 太郎",
        "김민준",
        "Ελένη Smith",  # one script per word
        "O'Brien-Smith",
        "R2-D2",
    ],
)
def test_new_names_in_one_script_per_word_are_accepted(raw: str) -> None:
    assert validate_new_name(raw) == validate_name(raw)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("\u043ebama", "mixes letters of several scripts (cyrillic, latin)"),  # Cyrillic о
        ("Ob\u0430ma", "mixes letters of several scripts (cyrillic, latin)"),  # Cyrillic а
        ("\u03bfbama", "(greek, latin)"),  # Greek omicron
        ("o\u200bbama", "U+200B (ZERO WIDTH SPACE)"),
        ("oba\u202ema", "U+202E (RIGHT-TO-LEFT OVERRIDE)"),
        ("ob\u200dama", "U+200D"),
        ("obama\u2066", "U+2066"),
        ("ob\u00adama", "U+00AD (SOFT HYPHEN)"),
    ],
)
def test_look_alike_new_names_are_refused(raw: str, message: str) -> None:
    assert validate_name(raw)  # a valid lookup, so old attempts stay searchable ...
    with pytest.raises(UsageError, match=re.escape(message)):
        validate_new_name(raw)  # ... but no new person may be called that


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("obama", "Obama"),
        ("obama", "OBAMA"),
        ("obama", "\uff4f\uff42\uff41\uff4d\uff41"),  # full-width
        ("Straße", "STRASSE"),
        ("José", "JOSE\u0301"),
    ],
)
def test_name_keys_ignore_case_and_compatibility_forms(a: str, b: str) -> None:
    assert name_key(validate_name(a)) == name_key(validate_name(b))


def test_name_keys_keep_different_names_apart() -> None:
    assert name_key("obama") != name_key("obamas")
    assert name_key("José") != name_key("Jose")
