"""Statements whose SQL text peewee generates once per database class, then only binds values.

Generating a query's SQL costs more than running it on a local server: profiled on PostgreSQL
(one writer, 2,000 chained attempts), half of each append went to peewee building the same
statements' text again (reading and moving the chain head, the insert, the head lock). The
append path runs those statements through a :class:`Statement`: built from the query builder
as everywhere else, with a placeholder for each value, compiled the first time it runs on a
``SqliteDatabase`` or a ``PostgresqlDatabase``, and afterwards executed with new values only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from peewee import Database, Query


class _Slot:
    """Where the ``index``-th value goes; peewee passes it through to the parameters as is (the
    query is built on plain ``Table`` columns, which convert nothing)."""

    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index


class Statement:
    """``build(*slots)`` makes the query (on plain ``Table`` columns) with a slot for each of
    its ``arity`` values; :meth:`execute` runs it with values in their place."""

    def __init__(self, arity: int, build: Callable[..., Query]) -> None:
        self._arity = arity
        self._build = build
        self._compiled: dict[type[Database], tuple[str, tuple[int, ...]]] = {}
        self._lock = threading.Lock()

    def _compile(self, db: Database) -> tuple[str, tuple[int, ...]]:
        with self._lock:
            compiled = self._compiled.get(type(db))
            if compiled is None:
                query = self._build(*map(_Slot, range(self._arity)))
                sql, params = db.get_sql_context().sql(query).query()
                if not all(isinstance(p, _Slot) for p in params):
                    raise TypeError(f"a constant among the parameters of {sql!r}: make it a value")
                compiled = sql, tuple(p.index for p in params)
                self._compiled[type(db)] = compiled
            return compiled

    def execute(self, db: Database, *values: Any) -> Any:
        """The cursor of the statement run on ``db`` with ``values``."""
        if len(values) != self._arity:
            raise TypeError(f"expected {self._arity} values, got {len(values)}")
        sql, order = self._compiled.get(type(db)) or self._compile(db)
        return db.execute_sql(sql, [values[i] for i in order])
