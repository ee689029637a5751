"""Moving a site: copy one Gatekeeper database into a new, empty one (``gatekeeper db copy``).

Everything is copied exactly as stored — people, schedules, encodings, the kept photos'
records, visitor crops, attempts, admin events, settings and the chain head with its signature
— with the same ids, so the audit chain copied from SQLite to PostgreSQL (or back) still
verifies: the canonical row encoding depends only on the stored values, which both backends
return identically.

How:

- the source is read in ONE read transaction (a consistent snapshot even while consoles keep
  recording), table by table in ``id`` order, :data:`CHUNK` rows at a time by keyset, so memory
  stays flat however long the log is;
- the target must be empty (a SQLite file that does not exist yet, or a PostgreSQL database
  with no tables); its schema is created without the initial state record a new site gets, and
  every row is written in ONE write transaction: a copy that fails part-way leaves no rows
  behind (a SQLite file made for it is deleted again);
- a signed chain (a keyed site) is copied only with its audit key, and its head signature is
  checked on the source before anything is written: without the key a chain rewritten by
  someone who lacks it would be carried into the new database as if it were the site's;
- the copy is then verified on the target: the row counts match the source's, and the audit
  chain, head signature (with the audit key) and state records verify. Only then is the copy
  reported as done.

The kept photo files stay where they are (the copy holds their records): a console that
re-encodes needs the ``images/`` folder that took them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from peewee import Model, chunked

from gatekeeper.errors import StoreError, UsageError
from gatekeeper.store import audit
from gatekeeper.store.backends import parse_database
from gatekeeper.store.models import MODELS, ChainHead, SchemaVersion, Setting
from gatekeeper.store.store import Store, open_store

#: Rows read and written per step.
CHUNK = 5000
#: Most values one INSERT may carry (PostgreSQL's protocol allows 65,535 parameters; SQLite's
#: default limit is 32,766).
MAX_PARAMETERS = 30_000

#: Tables copied row by row, in an order that satisfies their foreign keys; ``chain_head`` and
#: ``setting`` replace the new database's initial rows, and ``schema_version`` is the target's
#: own (both are at this Gatekeeper's version).
_ROW_TABLES: tuple[type[Model], ...] = tuple(
    model for model in MODELS if model not in (ChainHead, Setting, SchemaVersion)
)


@dataclass(frozen=True)
class CopyReport:
    """What ``copy_site`` copied (rows per table, in copy order) and the target's verification."""

    rows: dict[str, int]
    chain: audit.ChainReport


def _table(model: type[Model]) -> str:
    return model._meta.table_name


def _stream(source: Store, model: type[Model]):
    """The stored rows of ``model`` in ``id`` order, ``CHUNK`` at a time, as tuples of
    database values (the field order of ``model._meta.sorted_fields``)."""
    fields = model._meta.sorted_fields
    last = None
    while True:
        query = model.select(*fields).order_by(model._meta.primary_key).limit(CHUNK)
        if last is not None:
            query = query.where(model._meta.primary_key > last)
        rows = list(query.tuples().bind(source.db))
        if not rows:
            return
        yield rows
        last = rows[-1][0]
        if len(rows) < CHUNK:
            return


def copy_rows(
    source: Store, target: Store, progress: Callable[[str, int], None] | None = None
) -> dict[str, int]:
    """Copy every row of ``source`` into the empty schema of ``target`` (inside the caller's
    transactions: a read one on ``source``, a write one on ``target``); returns rows per table.
    ``progress(table, rows_so_far)`` is called after each chunk."""
    copied: dict[str, int] = {}
    target_db = target.db
    Setting.delete().bind(target_db).execute()
    for model in _ROW_TABLES:
        count = 0
        fields = model._meta.sorted_fields
        for rows in _stream(source, model):
            for batch in chunked(rows, MAX_PARAMETERS // len(fields)):
                model.insert_many(batch, fields=fields).bind(target_db).execute()
            count += len(rows)
            if progress is not None:
                progress(_table(model), count)
        copied[_table(model)] = count
    settings = list(Setting.select(Setting.key, Setting.value).tuples().bind(source.db))
    Setting.insert_many(settings, fields=[Setting.key, Setting.value]).bind(target_db).execute()
    copied[_table(Setting)] = len(settings)
    head = ChainHead.select(ChainHead.seq, ChainHead.hash, ChainHead.signature).bind(source.db)
    (seq, head_hash, signature) = head.where(ChainHead.id == 1).tuples().get()
    ChainHead.update(seq=seq, hash=head_hash, signature=signature).where(ChainHead.id == 1).bind(
        target_db
    ).execute()
    target.dialect.after_bulk_copy(target_db, _ROW_TABLES)
    return copied


def count_rows(store: Store) -> dict[str, int]:
    """Rows per copied table of ``store``."""
    return {
        _table(model): model.select().bind(store.db).count() for model in (*_ROW_TABLES, Setting)
    }


def check_copy(source_rows: dict[str, int], target: Store) -> audit.ChainReport:
    """Verify a finished copy on ``target``: its row counts equal ``source_rows`` and its chain
    verifies; raises ``StoreError`` naming the first difference."""
    found = count_rows(target)
    for table, expected in source_rows.items():
        if found.get(table) != expected:
            raise StoreError(
                f"copy check failed: {table} has {found.get(table)} rows on the target, "
                f"{expected} on the source"
            )
    report = target.verify_chain()
    if not report.ok:
        raise StoreError(f"copy check failed: the target's {report.summary()}")
    return report


def copy_site(
    source_url: str,
    target_url: str,
    *,
    images_dir: Path,
    audit_key: str | None = None,
    busy_timeout_s: float = 5.0,
    progress: Callable[[str, int], None] | None = None,
) -> CopyReport:
    """Copy the site at ``source_url`` into the new database ``target_url`` and verify it
    there (see the module docstring); returns what was copied and the target's chain report.

    The target must not exist yet (SQLite) or have no tables (PostgreSQL): ``UsageError``
    otherwise, before anything is written. Any failure after the target was created removes
    it again (the SQLite file, or the PostgreSQL tables) and raises ``StoreError``. A signed
    source needs its ``audit_key`` (``UsageError`` without it, before the target is created);
    the head signature is checked on the source first (``StoreError`` when it does not match)
    and on the target afterwards.
    """
    target_backend = parse_database(target_url, busy_timeout_s=busy_timeout_s)
    problem = target_backend.emptiness_problem()
    if problem is not None:
        raise UsageError(f"the target must be a new, empty database: {problem}")
    with open_store(
        source_url,
        images_dir=images_dir,
        busy_timeout_s=busy_timeout_s,
        audit_key=audit_key,
        read_only=True,
    ) as source:
        check_source_head(source)
        target = open_store(
            target_url, images_dir=images_dir, busy_timeout_s=busy_timeout_s, audit_key=audit_key
        )
        try:
            with source.dialect.snapshot(source.db):
                expected = count_rows(source)
                with target.dialect.errors(target.db), target.change():
                    clear_new_site(target)
                    rows = copy_rows(source, target, progress)
            report = check_copy(expected, target)
        except BaseException:
            target.dialect.discard(target.db)
            raise
        target.close()
    return CopyReport(rows, report)


def check_source_head(source: Store) -> None:
    """Refuse to copy a signed chain without the key, or one whose head signature does not
    match the key (see the module docstring)."""
    head = source.chain_head()
    if head.signature is not None and not source.has_audit_key:
        raise UsageError(
            "the source's audit log is signed: db copy needs the site's audit key "
            "(audit_key in the config, or GATEKEEPER_AUDIT_KEY) to check it before copying"
        )
    problem = source.head_problem(head)
    if problem is not None:
        raise StoreError(
            f"not copied: the source's audit chain cannot be vouched for: {problem} "
            "(run 'gatekeeper audit verify')"
        )


def clear_new_site(target: Store) -> None:
    """Delete what a new database starts with besides its schema (its initial state record),
    inside the copy's write transaction: the copied rows replace it."""
    for model in reversed(_ROW_TABLES):
        model.delete().bind(target.db).execute()
