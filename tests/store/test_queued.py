"""The store writer of the door and the visitor keeper: order kept across refusals, items the
store rejects dropped and logged, a bounded queue, and nothing lost silently at the end."""

import logging
import threading

from helpers import wait_until

from gatekeeper.errors import StoreError, UsageError
from gatekeeper.store.queued import QueuedWriter


class FlakyStore:
    """Takes items into ``written``; refuses (StoreError) while ``down`` is set, rejects for
    good (UsageError) the item ``"bad"``."""

    def __init__(self) -> None:
        self.written: list[str] = []
        self.down = threading.Event()

    def write(self, item: str) -> None:
        if self.down.is_set():
            raise StoreError("database is locked (injected)")
        if item == "bad":
            raise UsageError("not an item this store takes")
        self.written.append(item)


def writer(store, *, describe=str, problems=None, max_pending=100):
    return QueuedWriter(
        store.write,
        name="test-writer",
        what="test items",
        max_pending=max_pending,
        retry_s=0.01,
        describe=describe,
        on_problem=None if problems is None else problems.append,
    )


def test_items_wait_while_the_store_refuses_and_are_written_in_order_after():
    store, problems = FlakyStore(), []
    queued = writer(store, problems=problems)
    store.down.set()
    queued.start()
    for i in range(5):
        queued.put(f"item {i}")
    assert wait_until(lambda: problems, 5)
    assert store.written == [] and queued.pending == 5
    store.down.clear()
    assert wait_until(lambda: queued.pending == 0, 5)
    queued.close()
    assert store.written == [f"item {i}" for i in range(5)]
    assert problems[0] == "cannot record test items (database is locked (injected)); 5 waiting"
    assert problems[-1] == "recorded 5 delayed test items"
    assert (queued.written, queued.dropped) == (5, 0)


def test_an_item_the_store_rejects_is_dropped_and_logged_and_the_rest_written(caplog):
    store = FlakyStore()
    queued = writer(store)
    queued.start()
    for item in ("first", "bad", "last"):
        queued.put(item)
    queued.close()
    assert store.written == ["first", "last"]
    assert (queued.written, queued.dropped) == (2, 1)
    assert "test items: dropped one the store rejects (not an item this store takes): bad" in (
        caplog.text
    )


def test_a_full_queue_drops_the_oldest_and_says_which(caplog):
    store = FlakyStore()
    queued = writer(store, max_pending=2)
    for item in ("a", "b", "c"):
        queued.put(item)
    queued.start()
    queued.close()
    assert store.written == ["b", "c"] and queued.dropped == 1
    assert "test items: queue full, dropped the oldest: a" in caplog.text


def test_what_is_left_at_close_is_logged_counted_and_undescribed_items_stay_so(caplog):
    caplog.set_level(logging.ERROR)
    store = FlakyStore()
    store.down.set()
    secret = writer(store, describe=None)
    secret.start()
    secret.put("face crop bytes")
    secret.close(timeout=5)
    assert "1 test items could not be recorded" in caplog.text
    assert "face crop bytes" not in caplog.text
    secret.put("after the end")
    assert "test items: not recorded (closed)" in caplog.text
    assert "after the end" not in caplog.text and store.written == []
