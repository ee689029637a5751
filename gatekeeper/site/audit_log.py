"""The site's audit log (``site.audit``): the hash chain checked, its head to keep elsewhere,
and the live state the chain vouches for (or an operator's acceptance of one changed outside
Gatekeeper)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from gatekeeper.store import ChainReport
from gatekeeper.store.audit import Head, KeptHead

if TYPE_CHECKING:
    from gatekeeper.site.core import Site


class Audit:
    """The audit chain and the state it records (``site.audit``)."""

    def __init__(self, site: Site):
        self._site = site

    def integrity_problems(self) -> list[str]:
        """What the database's own consistency check finds wrong (a few lines at most)."""
        return self._site.store.integrity_problems()

    def verify(self, *, anchor: Sequence[KeptHead] = ()) -> ChainReport:
        """Walk the chain, check its head's signature and the heads kept in an ``anchor``,
        and the live state against the newest state record."""
        return self._site.store.verify_chain(anchor=anchor)

    def head(self) -> Head:
        """The chain head, to keep outside the database."""
        return self._site.store.chain_head()

    def head_problem(self, head: Head) -> str | None:
        """Why ``head`` must not be trusted under the site's audit key, or None."""
        return self._site.store.head_problem(head)

    def state_problem(self) -> str | None:
        """Why the live state differs from the one the audit log records, or None (read now,
        not cached: ``site.recognition.state_problem`` is the live worker's cached view)."""
        return self._site.store.state_problem()

    def accept_state(self) -> list[str]:
        """Record the live state as it is now, after it was changed outside Gatekeeper; the
        parts that differed."""
        return self._site.store.accept_state()
