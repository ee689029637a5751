"""The store's unit of work: one write transaction, its chained rows and its state record.

Every write to a Gatekeeper database goes through ``with store.change(*parts) as tx:``
(:meth:`Writer.change`). The block runs in the backend's write transaction, which holds the
lock serialising every writer from its start, so the chain head read inside cannot change
before the commit. ``tx`` (a :class:`Change`) gives the block

- ``tx.db``: the database, to run the block's statements on (inside the transaction);
- ``tx.log(kind, detail)``: chain an admin event;
- ``tx.append(table, rows, unchained)``: chain rows of ``attempt`` or ``admin_event``;
- ``tx.bump_gallery()``: bump the gallery counter, so every console reloads its gallery.

``parts`` names the parts of the site's state (``gatekeeper.store.state``) the block may change:
the state is first checked against the newest state record (a change made behind the store's
back must not be blessed by this one), then recorded again if the block changed it. A change
with no parts changes no state (attempts, visitor crops, events). Changes nest: an inner one
joins the outer transaction.

After the outermost transaction commits, the commit listeners (:meth:`Writer.on_commit`) hear
how many rows of each chained table it appended.
"""

from __future__ import annotations

import getpass
import logging
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from peewee import Database

from gatekeeper.errors import ALSO_RAISED, StoreError
from gatekeeper.store import chain, state
from gatekeeper.store.backends import Backend
from gatekeeper.store.models import GALLERY_VERSION_KEY, Setting, to_db_time, utc_now

log = logging.getLogger(__name__)


def current_os_user() -> str:
    """The OS login name for admin events; falls back to the uid, never raises."""
    try:
        return getpass.getuser()
    except (OSError, KeyError, ImportError):
        uid = getattr(os, "getuid", None)
        return f"uid {uid()}" if uid is not None else "unknown"


def admin_row(kind: str, detail: str) -> tuple[str, str, str, str]:
    """The chained values of an admin event recorded now by this OS user."""
    return (to_db_time(utc_now()), kind, current_os_user(), detail)


def record_initial_state(backend: Backend, db: Database, key: bytes | None) -> None:
    """Chain the state record of a new database (inside its creation transaction), so that
    a site's state is always covered by a record, from the start."""
    detail = state.current(backend, db).record()
    chain.append_rows(db, "admin_event", [admin_row(state.STATE_KIND, detail)], key)


class Change:
    """What the block of ``store.change(...)`` works with (see the module docstring)."""

    def __init__(self, writer: Writer) -> None:
        self._writer = writer
        #: The database; statements run on it belong to this transaction.
        self.db = writer.db

    def log(self, kind: str, detail: str) -> None:
        """Chain the admin event ``kind`` with ``detail`` (one line), recorded now by this OS
        user."""
        self.append("admin_event", [admin_row(kind, detail)])

    def append(
        self, table: str, rows: Sequence[tuple[Any, ...]], unchained: tuple[str, ...] = ()
    ) -> tuple[int, int, str]:
        """Chain ``rows`` (see ``chain.append_rows``): the last row's id, and the new head's
        sequence number and hash."""
        return self._writer.append(table, list(rows), unchained)

    def bump_gallery(self) -> None:
        """Bump the gallery counter (``Store.data_version``): every console reloads who may
        enter."""
        bumped = (Setting.value.cast("INTEGER") + 1).cast("TEXT")
        Setting.update(value=bumped).where(Setting.key == GALLERY_VERSION_KEY).execute(self.db)


class Writer:
    """The write transactions of one store: its database, its audit key, and per thread the
    head its write lock read, the rows chained so far and the state it last recorded."""

    def __init__(self, db: Database, backend: Backend, key: bytes | None) -> None:
        self.db = db
        self._backend = backend
        self._key = key
        self._last_state = threading.local()
        self._locked_head = threading.local()
        self._chained = threading.local()
        self._commit_listeners: list[Callable[[int, int], None]] = []

    def on_commit(self, listener: Callable[[int, int], None]) -> None:
        """Call ``listener(attempts, admin_events)`` after every write transaction that chained
        rows has committed (see ``Store.on_commit``)."""
        self._commit_listeners.append(listener)

    @contextmanager
    def change(self, *parts: str) -> Iterator[Change]:
        """A write transaction that may change these ``parts`` of the state (none: no state);
        see the module docstring."""
        if not parts:
            with self._transaction():
                yield Change(self)
            return
        with self._state_checked(parts) as change:
            yield change

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """A write transaction holding the backend's write lock from its start. The head that
        taking the lock read (PostgreSQL) goes to the transaction's first append, which then
        need not read it."""
        try:
            with self._backend.write_transaction(self.db) as head:
                self._locked_head.value = head
                try:
                    yield
                finally:
                    self._locked_head.value = None
        except BaseException:
            if not self.db.transaction_depth():
                # Rolled back: nothing was chained, and the state a change inside this
                # transaction cached (the one it left) was undone with it.
                self._chained.value = None
                self._last_state.value = None
            raise
        if not self.db.transaction_depth():
            self._announce_commit()

    def _announce_commit(self) -> None:
        """Tell the commit listeners how many rows of each table the transaction that just
        committed chained (nothing when it chained none)."""
        chained, self._chained.value = getattr(self._chained, "value", None), None
        if not chained:
            return
        for listener in self._commit_listeners:
            try:
                listener(chained.get("attempt", 0), chained.get("admin_event", 0))
            except Exception:
                log.exception("a commit listener of %s failed", self._backend.display)

    def append(
        self, table: str, rows: list[tuple[Any, ...]], unchained: tuple[str, ...] = ()
    ) -> tuple[int, int, str]:
        """Chain ``rows`` inside the current transaction (see :meth:`Change.append`)."""
        head, self._locked_head.value = getattr(self._locked_head, "value", None), None
        chained = getattr(self._chained, "value", None) or {}
        chained[table] = chained.get(table, 0) + len(rows)
        self._chained.value = chained
        try:
            return chain.append_rows(
                self.db,
                table,
                rows,
                self._key,
                unchained,
                head,
                combine=self._backend.combined_append,
            )
        except chain.ChainHeadMissing:
            raise StoreError(
                "the audit chain head is missing (the log was tampered with); run verify"
            ) from None
        except chain.UntrustedHead as exc:
            log.error(
                "refused to write %d %s row(s) to %s: %s",
                len(rows),
                table,
                self._backend.display,
                exc,
                extra=ALSO_RAISED,
            )
            raise StoreError(
                f"refusing to extend the audit log: {exc}; nothing was written "
                "(run 'gatekeeper audit verify')"
            ) from None

    @contextmanager
    def _state_checked(self, parts: tuple[str, ...]) -> Iterator[Change]:
        """A write transaction that may change these ``parts`` of the state: first checks that
        the state still matches the newest state record, then records the new state if it
        changed.

        On SQLite the state this thread's connection last recorded is reused while no other
        connection has committed since (``Backend.state_token``: SQLite's ``data_version``), so
        a run of changes (an import) does not read the gallery twice per change; PostgreSQL
        offers no such token, and the state is read before each change. A database without
        any state record (from before they existed) is trusted as it is and recorded by its
        first change."""
        backend, db = self._backend, self.db
        with self._transaction():
            token = backend.state_token(db)
            cached = getattr(self._last_state, "value", None)
            if token is not None and cached is not None and cached[0] == token:
                before = cached[1]
            else:
                before = state.current(backend, db)
            record = state.recorded(db)
            changed = state.differences(before, record) if record is not None else []
            if changed:
                log.error(
                    "refused a change to %s: the %s differ from the state record",
                    backend.display,
                    ", ".join(changed),
                    extra=ALSO_RAISED,
                )
                raise StoreError(
                    f"the {', '.join(changed)} were changed outside Gatekeeper (they differ "
                    "from the audit log's state record); nothing was written "
                    "(run 'gatekeeper audit verify')"
                )
            change = Change(self)
            yield change
            after = state.current(backend, db, parts, unchanged=before)
            if after.digests != (state.EMPTY_DIGESTS if record is None else record.digests):
                change.log(state.STATE_KIND, after.record())
        self._last_state.value = (token, after)

    def adopt_state(self) -> None:
        """Record the state of a database from before state records (every database made
        since has one from its creation): trust on first use, once. A refusal (a log this
        store cannot extend) is logged, not raised: reading must still work."""
        with self._backend.errors(self.db):
            if state.recorded(self.db) is not None:
                return
            try:
                with self.change(*state.PARTS):
                    pass
            except StoreError as exc:
                log.warning(
                    "cannot record the state of %s in the audit log: %s", self._backend.display, exc
                )

    def accept_state(self) -> list[str]:
        """Record the live state as it is, after it was changed outside Gatekeeper (see
        ``Store.accept_state``); returns the parts that differed."""
        backend, db = self._backend, self.db
        with self.change() as tx:
            now = state.current(backend, db)
            changed = state.differences(now, state.recorded(db))
            if changed:
                tx.log("state_accept", "accepted the changed " + ", ".join(changed))
                tx.bump_gallery()
                tx.log(state.STATE_KIND, state.current(backend, db).record())
        self._last_state.value = None
        return changed
