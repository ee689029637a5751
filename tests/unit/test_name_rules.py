"""Person names at their edges: each refusal's exact line, words written in all three Japanese
scripts and their shared marks or in hangul with hanja, and letters Unicode gives no name."""

from __future__ import annotations

import hashlib

import pytest

from gatekeeper.errors import UsageError
from gatekeeper.store.names import (
    MAX_FOLDER_NAME_BYTES,
    photo_folder,
    validate_name,
    validate_new_name,
)

#: U+17000, a Tangut ideograph: a letter (Lo) without a name in Python's Unicode database.
TANGUT = "\U00017000"


def _refusal(call, *args) -> str:
    with pytest.raises(UsageError) as refused:
        call(*args)
    return str(refused.value)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (None, "a name must be text, not NoneType"),
        (42, "a name must be text, not int"),
        (" \t", "a name cannot be empty"),
        ("x" * 101, "name is too long (101 characters, at most 100)"),
        ("..", "'..' is not a valid name"),
        ("ann/bob", "a name cannot contain '/': 'ann/bob'"),
        ("ann\x1bbob", "a name cannot contain control character U+001B"),
    ],
)
def test_a_bad_name_is_refused_in_one_exact_line(raw, message) -> None:
    assert _refusal(validate_name, raw) == message


@pytest.mark.parametrize(
    "raw",
    [
        "東京タワーへ",  # kanji, katakana and hiragana in one word
        "ルーシー",  # katakana with the prolonged sound mark
        "佐々木",  # kanji with the iteration mark
        "大韓민국",  # hanja with hangul
        TANGUT * 2,  # one script, though an unnamed one
    ],
)
def test_words_in_the_scripts_that_belong_together_are_accepted(raw) -> None:
    assert validate_new_name(raw) == raw


def test_a_word_mixing_a_letter_without_a_name_with_latin_is_refused() -> None:
    assert _refusal(validate_new_name, f"a{TANGUT}") == (
        f"the word 'a{TANGUT}' mixes letters of several scripts (latin, unknown); "
        "look-alike names are refused"
    )


def test_an_invisible_character_is_named_in_the_refusal() -> None:
    assert _refusal(validate_new_name, "ob\u200dama") == (
        "a name cannot contain the invisible format character U+200D (ZERO WIDTH JOINER)"
    )


def test_a_mixed_word_after_a_clean_one_is_found_and_quoted() -> None:
    assert _refusal(validate_new_name, "Barack \u043ebama") == (
        "the word '\u043ebama' mixes letters of several scripts (cyrillic, latin); "
        "look-alike names are refused"
    )


def test_a_japanese_mark_in_a_latin_word_is_still_a_mix() -> None:
    assert _refusal(validate_new_name, "Lu\u30fccy") == (
        "the word 'Lu\u30fccy' mixes letters of several scripts (katakana-hiragana, latin); "
        "look-alike names are refused"
    )


def _folder_bytes(name: str) -> int:
    return len(photo_folder(name).encode("utf-8"))


@pytest.mark.parametrize("name", ["a" * 200, "é" * 100, "王" * 66 + "ab"])
def test_a_name_of_at_most_200_bytes_is_its_own_photo_folder(name) -> None:
    assert len(name.encode("utf-8")) <= MAX_FOLDER_NAME_BYTES
    assert photo_folder(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "a" * 201,  # one byte over
        "王" * 100,  # 300 bytes: byte 220 falls inside a character, which is dropped whole
        "é" * 100 + "x",  # 201 bytes of two-byte letters
    ],
)
def test_a_longer_name_is_its_prefix_of_whole_characters_and_the_hash_of_all_of_it(name) -> None:
    encoded = name.encode("utf-8")
    folder = photo_folder(name)
    prefix, _, digest = folder.rpartition("~")
    assert name.startswith(prefix)
    # the longest prefix of whole characters within 220 bytes
    assert len(prefix.encode("utf-8")) <= 220
    assert prefix == name or len(name[: len(prefix) + 1].encode("utf-8")) > 220
    assert digest == hashlib.sha256(encoded).hexdigest()[:16]
    assert MAX_FOLDER_NAME_BYTES < _folder_bytes(name) <= 237


def test_two_long_names_with_one_prefix_get_different_folders() -> None:
    first, second = "王" * 99 + "一", "王" * 99 + "二"
    assert photo_folder(first).rpartition("~")[0] == photo_folder(second).rpartition("~")[0]
    assert photo_folder(first) != photo_folder(second)
