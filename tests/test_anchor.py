"""The audit anchor (``gatekeeper/anchor.py``): its config, the anchor file (appended durably
and safely, read back), and when the publisher keeps the head, over a real store."""

from __future__ import annotations

import json
import os
import stat
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from helpers import wait_until

from gatekeeper import anchor
from gatekeeper.anchor import AnchorPublisher, AnchorSpec, append_line, read_kept_heads
from gatekeeper.config import load_settings
from gatekeeper.errors import UsageError
from gatekeeper.store import Store, open_store
from gatekeeper.store.audit import Head

KEY = "an-audit-key-of-the-site"
HEAD = Head(7, "ab" * 32, "2026-12-01T10:08:45.123456+00:00", "cd" * 32)
PUBLISHED = datetime(2026, 12, 1, 10, 9, tzinfo=UTC)


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gatekeeper.toml"
    path.write_text(text)
    path.chmod(0o600)  # the README's examples hold secrets: only the owner may read them
    return path


def test_a_full_anchor_table_is_read(tmp_path: Path) -> None:
    keep = tmp_path / "elsewhere" / "heads.jsonl"
    config = _config(
        tmp_path,
        f"""
        [[actions]]
        kind = "webhook"
        name = "guard"
        on = ["alert"]
        url = "https://guard.example.net/gatekeeper"

        [audit_anchor]
        file = "{keep}"
        command = ["/bin/true", "--head"]
        actions = ["guard"]
        every_attempts = 50
        every_min = 2.5
        timeout_s = 3
        """,
    )
    spec = load_settings(config, home=tmp_path / "home", environ={}).audit_anchor
    assert (spec.file, spec.actions, spec.every_attempts, spec.every_min) == (
        keep,
        ("guard",),
        50,
        2.5,
    )
    assert (spec.command.argv, spec.command.timeout_s) == (("/bin/true", "--head"), 3.0)
    assert spec.describe() == (
        f"file {keep}, command /bin/true --head, action guard; on every admin event, every 50 "
        "attempts and every 2.5 min when the head moved"
    )


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("every_min = 5", "[audit_anchor]: needs at least one of file, command, actions"),
        ('file = "heads.jsonl"', "file must be an absolute path, got 'heads.jsonl'"),
        ('file = "/x/h.jsonl"\nevery_attempts = 0', "every_attempts must be between 1 and"),
        ('file = "/x/h.jsonl"\nevery_min = "5"', "every_min must be a number, not str '5'"),
        ('file = "/x/h.jsonl"\nkeep = true', "[audit_anchor]: unknown key(s): keep"),
        ("command = []", "command must be a non-empty list of text"),
        ('actions = ["guard"]', "[audit_anchor]: actions: no [[actions]] entry named 'guard'"),
    ],
)
def test_a_bad_anchor_table_is_one_line_naming_the_key(
    tmp_path: Path, table: str, message: str
) -> None:
    config = _config(tmp_path, f"[audit_anchor]\n{table}\n")
    with pytest.raises(UsageError) as refused:
        load_settings(config, home=tmp_path / "home", environ={})
    text = str(refused.value)
    assert message in text and text.startswith(f"{config}: ") and "\n" not in text


@pytest.mark.parametrize("place", ["data", "db-folder"])
def test_an_anchor_file_beside_the_database_is_refused(tmp_path: Path, place: str) -> None:
    """A copy of the database put back would bring its anchor with it."""
    home = tmp_path / "home"
    database = tmp_path / "sites" / "front.db"
    folder = home / "data" if place == "data" else database.parent
    config = _config(tmp_path, f'[audit_anchor]\nfile = "{folder / "sub" / "heads.jsonl"}"\n')
    with pytest.raises(UsageError, match=f"is inside {folder}, where the database is"):
        load_settings(config, home=home, db=str(database), environ={})


def test_the_anchor_file_is_appended_durably_and_private(tmp_path: Path) -> None:
    keep = tmp_path / "heads.jsonl"
    append_line(keep, anchor.head_line(HEAD, PUBLISHED))
    append_line(keep, anchor.head_line(HEAD, PUBLISHED))
    assert stat.S_IMODE(keep.stat().st_mode) == 0o600
    lines = keep.read_text().splitlines()
    assert len(lines) == 2
    published = "2026-12-01T10:09:00.000000+00:00"
    assert json.loads(lines[0]) == HEAD.record() | {"published": published}


def test_the_anchor_file_is_never_written_through_a_link_or_into_a_fifo(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("untouched\n")
    link = tmp_path / "link.jsonl"
    link.symlink_to(victim)
    with pytest.raises(OSError):
        append_line(link, b"{}\n")
    assert victim.read_text() == "untouched\n"
    fifo = tmp_path / "fifo.jsonl"
    os.mkfifo(fifo)
    done = threading.Event()

    def write() -> None:
        try:
            append_line(fifo, b"{}\n")
        except OSError:
            done.set()

    threading.Thread(target=write, daemon=True).start()
    assert done.wait(10), "writing into a FIFO with no reader must fail at once, not wait"


def test_kept_heads_are_read_from_anchor_lines_and_door_payloads(tmp_path: Path) -> None:
    keep = tmp_path / "heads.jsonl"
    payload = anchor.head_event(HEAD, PUBLISHED).payload().decode()
    printed = json.dumps(HEAD.record(), separators=(",", ":"))
    keep.write_text(f"{anchor.head_line(HEAD, PUBLISHED).decode()}\n{payload}\n{printed}\n")
    heads = read_kept_heads(keep)
    assert [(h.seq, h.hash, h.signature) for h in heads] == [(7, "ab" * 32, "cd" * 32)] * 3
    assert [h.where for h in heads] == [f"{keep} line {n}" for n in (1, 3, 4)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no kept heads in it"),
        ('{"seq": 1}\n', "line 1: not a kept head (hash must be 64 lowercase hex digits)"),
        ('{"seq": true, "hash": "' + "0" * 64 + '"}\n', "seq must be a whole number >= 0"),
        ("not json\n", "line 1: not a kept head (not JSON)"),
        ("[1, 2]\n", "not a kept head (not a JSON object)"),
    ],
)
def test_a_bad_anchor_file_is_a_usage_error(tmp_path: Path, text: str, message: str) -> None:
    keep = tmp_path / "heads.jsonl"
    keep.write_text(text)
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_kept_heads(keep)


def test_reading_a_fifo_as_an_anchor_file_is_refused_without_waiting(tmp_path: Path) -> None:
    fifo = tmp_path / "heads.jsonl"
    os.mkfifo(fifo)
    with pytest.raises(UsageError, match="not a regular file"):
        read_kept_heads(fifo)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(
        str(tmp_path / "home" / "data" / "gatekeeper.db"),
        images_dir=tmp_path / "home" / "images",
        audit_key=KEY,
    ) as opened:
        yield opened


def _attempt(store: Store) -> None:
    store.record_attempt(
        camera_id="front-door",
        name=None,
        person_id=None,
        distance=0.9,
        threshold=0.6,
        decision="unknown",
        model_id="dlib_resnet_v1",
        box=(1, 2, 100, 100),
    )


def _kept(path: Path) -> list[int]:
    return [head.seq for head in read_kept_heads(path)] if path.exists() else []


def _publisher(store: Store, keep: Path, **spec) -> AnchorPublisher:
    publisher = AnchorPublisher(AnchorSpec(file=keep, **spec), store)
    store.on_commit(publisher.committed)
    publisher.start()
    return publisher


def test_every_admin_event_and_every_nth_attempt_is_anchored(store: Store, tmp_path: Path) -> None:
    keep = tmp_path / "elsewhere.jsonl"
    publisher = _publisher(store, keep, every_attempts=3)
    store.log_admin_event("export", "0 attempts")
    assert wait_until(lambda: _kept(keep) == [2], 10), _kept(keep)
    for _ in range(2):
        _attempt(store)
    store.log_admin_event("export", "2 attempts")
    assert wait_until(lambda: _kept(keep) == [2, 5], 10), _kept(keep)
    for _ in range(3):
        _attempt(store)
    assert wait_until(lambda: _kept(keep) == [2, 5, 8], 10), _kept(keep)
    _attempt(store)
    publisher.close()
    assert _kept(keep) == [2, 5, 8, 9], "the head moved since: kept once more on closing"
    heads = read_kept_heads(keep)
    assert store.verify_chain(anchor=heads).ok


def test_the_head_is_anchored_every_few_minutes_when_another_door_moved_it(
    store: Store, tmp_path: Path
) -> None:
    """Nothing committed here: the timer reads the site-wide head (another process wrote)."""
    keep = tmp_path / "elsewhere.jsonl"
    publisher = _publisher(store, keep, every_min=0.01)
    with open_store(store.url, images_dir=store.images_dir, audit_key=KEY) as other_door:
        other_door.log_admin_event("export", "from another door")
    assert wait_until(lambda: _kept(keep) == [2], 20), _kept(keep)
    publisher.close()
    assert _kept(keep) == [2], "an unchanged head is not kept twice"


def test_a_head_failing_its_signature_is_never_anchored(
    store: Store, tmp_path: Path, caplog
) -> None:
    import sqlite3

    keep = tmp_path / "elsewhere.jsonl"
    with sqlite3.connect(store.path) as raw:
        raw.execute("UPDATE chain_head SET signature = ?", ("0" * 64,))
    publisher = _publisher(store, keep)
    publisher.committed(0, 1)
    publisher.close()
    assert not keep.exists()
    assert "not publishing the chain head at seq 1: the head signature does not match" in (
        caplog.text
    )


def test_a_failing_anchor_file_is_logged_and_kept_at_the_next_trigger(
    store: Store, tmp_path: Path, caplog
) -> None:
    folder = tmp_path / "later"
    keep = folder / "heads.jsonl"
    publisher = _publisher(store, keep)
    store.log_admin_event("export", "0 attempts")
    assert wait_until(lambda: "cannot append to" in caplog.text, 10)
    folder.mkdir()
    store.log_admin_event("export", "0 attempts again")
    assert wait_until(lambda: _kept(keep) == [3], 10), _kept(keep)
    publisher.close()
    assert (publisher.published, publisher.failures) == (1, 1)


def _readme_toml(after: str) -> str:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    return readme.split(after, 1)[1].split("```toml\n", 1)[1].split("```", 1)[0]


def test_the_readme_examples_anchor_the_head(tmp_path: Path) -> None:
    """The door section's complete example and the audit section's table are valid configs."""
    door = load_settings(_config(tmp_path, _readme_toml("## Opening the door")), environ={})
    assert door.audit_anchor.actions == ("guard",)
    assert door.audit_anchor.file == Path("/mnt/audit-usb/front-door-heads.jsonl")
    table = _readme_toml("**Keep the head elsewhere.**").replace('"guard"', '"strike"')
    actions = '[[actions]]\nkind = "command"\nname = "strike"\non = ["granted"]\nargv = ["x"]\n'
    audit = load_settings(_config(tmp_path, actions + table), environ={}).audit_anchor
    assert (audit.every_attempts, audit.every_min, audit.command.argv) == (
        100,
        10.0,
        ("/usr/local/bin/keep-head",),
    )
