"""The site's visitors (``site.visitors``): the face crops the console keeps of unknown, spoof
and denied attempts, listed, saved, enrolled from, dismissed and expired."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from gatekeeper.site.images import SourceImage
from gatekeeper.site.logbook import write_private_file
from gatekeeper.site.people import EnrolResult
from gatekeeper.store import VisitorRow

if TYPE_CHECKING:
    from gatekeeper.site.core import Site


class Visitors:
    """The kept visitor crops (``site.visitors``)."""

    def __init__(self, site: Site):
        self._site = site

    def list(self, *, limit: int = 100) -> list[VisitorRow]:
        """The newest kept visitors, newest first."""
        return self._site.store.list_visitors(limit=limit)

    def get(self, visitor_id: int) -> VisitorRow:
        """A kept visitor; ``NotFoundError`` when there is none."""
        return self._site.store.get_visitor(visitor_id)

    def dismiss(self, visitor_id: int) -> VisitorRow:
        """Delete a kept visitor crop (a ``visitor_dismiss`` event); returns the visitor."""
        return self._site.store.dismiss_visitor(visitor_id)

    def image(self, visitor_id: int) -> SourceImage:
        """A kept visitor crop as an image to enrol from; ``NotFoundError`` when there is
        none."""
        row = self.get(visitor_id)
        assert row.crop is not None
        return SourceImage.from_bytes(f"visitor {row.id}", row.crop, ".jpg")

    def enrol(self, visitor_id: int, name: str, *, force: bool = False) -> EnrolResult:
        """Enrol ``name`` from a kept visitor crop through ``site.people.enrol``, with all its
        checks (name, quality bar, another person's face, liveness; ``force`` waives them as
        there), taking the crop's largest face: the crop is centred on the attempt's face, and
        a neighbour may show in its margin. The crop becomes the person's kept photo, and the
        visitor is marked ``enrolled`` (a ``visitor_enrol`` event)."""
        people = self._site.people
        name = people.check_name(name)
        source = self.image(visitor_id)
        result = people.enrol(name, [source], largest=True, force=force)
        self._site.store.mark_visitor_enrolled(visitor_id, result.name)
        return result

    def save_crop(self, visitor_id: int, target: Path) -> VisitorRow:
        """Write a kept visitor crop (JPEG) to ``target`` as :func:`write_private_file` does;
        returns the visitor."""
        row = self.get(visitor_id)
        assert row.crop is not None
        crop = row.crop
        write_private_file(target, lambda out: out.write(crop))
        return row

    def expire(self, now: datetime | None = None) -> int:
        """Delete the visitor crops captured more than ``visitors.retention_days`` before
        ``now`` (default: the current time; UTC-aware), with one ``visitor_expire`` event when
        there were some; returns how many. Runs whether or not crops are being kept, so those
        kept before ``keep`` was turned off expire too."""
        days = self._site.settings.visitors.retention_days
        cutoff = (datetime.now(UTC) if now is None else now) - timedelta(days=days)
        return self._site.store.expire_visitors(cutoff, f"retention {days:g} days")
