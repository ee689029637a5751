"""The site: one home's store, its recognition engine (loaded lazily) and its parts.

:class:`Site` is opened one way, :meth:`Site.open`, and is the only door to the store for the
command line and the console: each concern is a part of it (``site.people``,
``site.schedules``, ``site.log``, ``site.visitors``, ``site.recognition``, ``site.audit``;
doctor's checks are :mod:`gatekeeper.site.checks`). The engine is loaded on first use:
commands such as ``log`` or ``export`` never need it, and a first run builds its model cache,
which takes a minute or two. Inputs are validated before the engine is loaded or anything is
written, so a bad argument fails fast and leaves the database unchanged. Embeddings never
leave this layer in printable form.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from gatekeeper.anchor import start_publisher
from gatekeeper.config import Settings
from gatekeeper.schedule import load_timezone
from gatekeeper.site.access import Schedules
from gatekeeper.site.audit_log import Audit
from gatekeeper.site.logbook import Log
from gatekeeper.site.people import People
from gatekeeper.site.recognise import Recognition
from gatekeeper.site.visitor_crops import Visitors
from gatekeeper.store import Store, open_store
from gatekeeper.vision.wheel import stderr_progress


class Site:
    """One site's store and recognition engine, and the operations on them, by part.

    Thread safety: store calls may come from any thread (each opens its own connection); the
    engine is used under a lock, since its networks (LiteRT interpreters) are driven from one
    thread at a time.

    ``clock()`` gives the current time (an aware UTC datetime) that access schedules and
    validity dates are judged at: the system clock unless given (tests control "now").
    """

    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        anchored: bool,
        engine=None,
        on_engine_load: Callable[[str], None] | None = None,
        clock: Callable[[], datetime] | None = None,
    ):
        self.settings = settings
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self.store = store
        #: Publishes the chain head to the config's ``[audit_anchor]`` (a store given to us
        #: is the caller's: it anchors it, if it writes).
        self.anchor = start_publisher(settings, store) if anchored else None
        self._engine = engine
        #: Receives the engine's one-line progress messages while it builds its model cache
        #: (first use); the console's worker points it at its loading status.
        self.on_engine_load = on_engine_load
        self._engine_lock = threading.Lock()
        self._loading_note: str | None = None
        self.people = People(self)
        self.schedules = Schedules(self)
        self.log = Log(self)
        self.visitors = Visitors(self)
        self.recognition = Recognition(self)
        self.audit = Audit(self)

    @classmethod
    def open(
        cls,
        settings: Settings,
        *,
        read_only: bool = False,
        create: bool = True,
        store: Store | None = None,
        engine=None,
        on_engine_load: Callable[[str], None] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> Site:
        """The site of ``settings``: its store opened (created if missing and migrated), the
        chain head anchored as its ``[audit_anchor]`` says, and its ``engine`` (default:
        loaded on first use, its progress told to ``on_engine_load``, else on stderr).

        ``read_only`` (commands that only look: ``people``, ``log``, ``export``, ``audit
        verify``, ``doctor``) opens the database with SQLite's ``mode=ro`` instead: nothing is
        created, migrated or repaired, a missing or empty database is an error, and a
        write-protected evidence copy can be read; nothing is anchored. Without ``create`` a
        missing database is an error too. A ``store`` given is the caller's (it anchors it, if
        it writes)."""
        if store is None:
            store = open_store(
                settings.database,
                images_dir=settings.images_dir,
                create=create,
                busy_timeout_s=settings.busy_timeout_s,
                audit_key=settings.audit_key,
                read_only=read_only,
            )
            anchored = not read_only
        else:
            anchored = False
        return cls(
            settings,
            store,
            anchored=anchored,
            engine=engine,
            on_engine_load=on_engine_load,
            clock=clock,
        )

    def close(self) -> None:
        if self.anchor is not None:
            self.anchor.close()
        self.store.close()

    def __enter__(self) -> Site:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # The engine, lazily.

    @property
    def engine(self):
        """The :class:`~gatekeeper.vision.engine.FaceEngine`, loaded on first use (under a
        second once its model cache is built; building it, the first time, is told to
        :attr:`on_engine_load`)."""
        with self._engine_lock:
            if self._engine is None:
                from gatekeeper.vision.engine import FaceEngine

                self._engine = FaceEngine(self.settings.weights_dir, progress=self._progress)
            return self._engine

    def _progress(self, message: str) -> None:
        """The engine's progress while it builds its model cache (FaceNet's and SFace's first
        download and conversion): noted for the console and told to :attr:`on_engine_load`, or
        else written on stderr."""
        self.report_loading(message)
        if self.on_engine_load is not None:
            self.on_engine_load(message)
        else:
            stderr_progress(message)

    def report_loading(self, message: str) -> None:
        """Say where loading the models stands, in one line of plain text (``"warming up
        facenet_keras_v1"``), from the thread that loads them; the console shows the latest
        (:attr:`loading_note`) until the models are ready."""
        self._loading_note = message

    @property
    def loading_note(self) -> str | None:
        """The latest :meth:`report_loading` message, or ``None`` before any (any thread)."""
        return self._loading_note

    @contextlib.contextmanager
    def engine_in_use(self) -> Iterator:
        """The engine, held for this thread alone for the block (loaded first if needed): the
        console's recognition worker and an enrolment in another thread take turns."""
        engine = self.engine
        with self._engine_lock:
            yield engine

    @property
    def engine_loaded(self):
        """The engine if it is loaded, else None (never loads it)."""
        return self._engine

    @property
    def model_id(self) -> str:
        from gatekeeper.vision.encoder import MODEL_ID

        return self._engine.model_id if self._engine is not None else MODEL_ID

    @property
    def timezone(self) -> ZoneInfo:
        """The site's time zone (the ``timezone`` setting): schedules and validity dates are
        judged on its wall clock."""
        return load_timezone(self.settings.timezone)


def record_export(settings: Settings, detail: str) -> None:
    """Chain the ``export`` admin event (``detail``) of an export read through a read-only
    site, in the existing database (created by nothing), its head anchored as the config
    says."""
    with Site.open(settings, create=False) as site:
        site.store.log_admin_event("export", detail)
