"""The site layer: the use cases the command line and the console share, and their only door
to the store. ``Site.open(settings, read_only=...)`` opens one; its parts are ``people``,
``schedules``, ``log``, ``visitors``, ``recognition`` and ``audit``. Doctor's checks are
:mod:`gatekeeper.site.checks`, moving a site to a new database :mod:`gatekeeper.site.moving`.

The store's value types that the front ends show or build (a person, a schedule, a visitor, an
attempt and its filter, the name rules, the export target check) are re-exported here, so that
``cli/`` and ``tui/`` never import :mod:`gatekeeper.store`: they stay the store's (its queries
build and return them, and the store may not import this layer), and the front ends name them
through the one door.
"""

from gatekeeper.site.access import AccessNow
from gatekeeper.site.core import Site
from gatekeeper.site.images import SourceImage
from gatekeeper.site.logbook import parse_time, write_private_file
from gatekeeper.site.people import (
    EnrolResult,
    ImportReport,
    ReencodeReport,
    describe_added,
    plural,
)
from gatekeeper.site.recognise import CLI_CAMERA, Identification, LivenessCheck, Verification
from gatekeeper.store import (
    DECISIONS,
    KEPT_DECISIONS,
    AttemptFilter,
    AttemptRow,
    NewAttempt,
    PersonInfo,
    RemovalReport,
    VisitorRow,
    validate_name,
)
from gatekeeper.store.audit import DIVERGED, ROLLED_BACK
from gatekeeper.store.export import check_export_target, describe, export_detail
from gatekeeper.store.names import name_key, validate_new_name
from gatekeeper.store.schedules import ScheduleInfo
from gatekeeper.store.store import MAX_PAGE
from gatekeeper.verdicts import Verdict

__all__ = [
    "CLI_CAMERA",
    "DECISIONS",
    "DIVERGED",
    "KEPT_DECISIONS",
    "MAX_PAGE",
    "ROLLED_BACK",
    "AccessNow",
    "AttemptFilter",
    "AttemptRow",
    "EnrolResult",
    "Identification",
    "ImportReport",
    "LivenessCheck",
    "NewAttempt",
    "PersonInfo",
    "ReencodeReport",
    "RemovalReport",
    "ScheduleInfo",
    "Site",
    "SourceImage",
    "Verdict",
    "Verification",
    "VisitorRow",
    "check_export_target",
    "describe",
    "describe_added",
    "export_detail",
    "name_key",
    "parse_time",
    "plural",
    "validate_name",
    "validate_new_name",
    "write_private_file",
]
