"""The site's access rules (``site.schedules``): named weekly schedules, who has which, the
validity dates, and whether each person may enter now."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import TYPE_CHECKING

from gatekeeper.errors import NotFoundError
from gatekeeper.schedule import ANY_TIME, Access, Window, admission
from gatekeeper.store import PersonInfo, Store, validate_name
from gatekeeper.store.schedules import ScheduleInfo

if TYPE_CHECKING:
    from gatekeeper.site.core import Site


@dataclass(frozen=True)
class AccessNow:
    """A person's access and whether it lets them in now: ``may_enter``, else ``reason``."""

    access: Access
    may_enter: bool
    reason: str | None


@contextlib.contextmanager
def _one_transaction(store: Store) -> Iterator[None]:
    """One write transaction around several of the store's changes (each of which then joins
    it): all of them commit, or none; database errors are translated as the store's own."""
    with store.dialect.errors(store.db), store.change():
        yield


class Schedules:
    """Schedules, their assignment and the validity dates (``site.schedules``)."""

    def __init__(self, site: Site):
        self._site = site

    @property
    def _store(self) -> Store:
        return self._site.store

    def list(self) -> list[ScheduleInfo]:
        """Every schedule, by name, with its windows and people."""
        return self._store.list_schedules()

    def get(self, name: str) -> ScheduleInfo:
        """One schedule; ``NotFoundError`` if there is none so called."""
        return self._store.get_schedule(name)

    def set(
        self,
        name: str,
        windows: Sequence[tuple[int, int, int]],
        *,
        description: str | None = None,
    ) -> str:
        """Create or replace a named schedule; ``created``, ``replaced`` or ``unchanged``."""
        return self._store.set_schedule(name, windows, description=description)

    def delete(self, name: str) -> None:
        """Delete a schedule nobody has."""
        self._store.delete_schedule(name)

    def assign(self, person: str, schedule: str | None) -> bool:
        """Give ``person`` the schedule ``schedule`` (``None``: any time); whether it changed."""
        return self._store.assign_schedule(person, schedule)

    def change_access(
        self,
        person: str,
        schedule: str | None,
        valid_from: date | None,
        valid_until: date | None,
        *,
        new_windows: Sequence[Window] | None = None,
    ) -> None:
        """Give ``person`` the schedule ``schedule`` (``None``: any time) — created first with
        ``new_windows`` when they are given — and the validity dates, in one transaction:
        a refusal of any part (a bad name, dates out of order, a person removed meanwhile)
        changes nothing."""
        store = self._store
        with _one_transaction(store):
            if new_windows is not None and schedule is not None:
                store.set_schedule(schedule, new_windows)
            store.assign_schedule(person, schedule)
            store.set_validity(person, valid_from, valid_until)

    def access_now(self, people: Sequence[PersonInfo]) -> dict[str, AccessNow]:
        """Each person's access and whether it lets them in at ``clock()``, by name (for
        ``people`` and the console's People screen; one read of the access rules)."""
        site = self._site
        rules, now, tz = self._store.access_rules(), site.clock(), site.timezone
        result = {}
        for person in people:
            access = rules.get(person.id, ANY_TIME)
            result[person.name] = AccessNow(access, *admission(person.active, access, now, tz))
        return result

    def change_validity(
        self,
        person: str,
        *,
        valid_from: date | None = None,
        valid_until: date | None = None,
        clear: bool = False,
    ) -> tuple[bool, Access]:
        """Set the dates given, keep the others (``clear``: clear them) of ``person``'s
        validity; returns whether it changed and the person's access now."""
        info = self._store.get_person(person)
        if info is None:
            raise NotFoundError(f"no such person: {validate_name(person)}")
        old = self._store.access_rules().get(info.id, ANY_TIME)
        if valid_from is None and not clear:
            valid_from = old.valid_from
        if valid_until is None and not clear:
            valid_until = old.valid_until
        changed = self._store.set_validity(info.name, valid_from, valid_until)
        return changed, replace(old, valid_from=valid_from, valid_until=valid_until)
