"""Exception types that reach users.

Every error a user can cause or meet (bad image, no face, locked database, missing camera...)
is a ``GatekeeperError`` with a one-line message; the CLI prints ``str(error)`` to stderr and
exits with ``exit_code`` (2 for usage errors, 1 for failures), never a stack trace.
"""

#: ``extra`` of a log line that repeats an error raised to the caller as well: kept for the
#: console's log file, where nobody reads the exception, but left out by the command line,
#: which prints the error itself (one line, as the README promises).
ALSO_RAISED = {"also_raised": True}


def not_also_raised(record: object) -> bool:
    """A ``logging`` filter: False for a record logged with :data:`ALSO_RAISED`."""
    return not getattr(record, "also_raised", False)


class GatekeeperError(Exception):
    """Base class: a failure explained in one line."""

    exit_code = 1


class UsageError(GatekeeperError):
    """The command line or an argument is wrong (bad name, unknown option value...)."""

    exit_code = 2


class NotFoundError(GatekeeperError):
    """What a command names does not exist (no such person): a failure, not a usage error —
    the command line was right, the site does not hold it."""


class ImageError(GatekeeperError):
    """An image could not be read: missing, empty, not an image, truncated or corrupt."""


class NoFaceError(GatekeeperError):
    """No face was found in an image."""


class MultipleFacesError(GatekeeperError):
    """Exactly one face was required but several were found."""

    def __init__(self, message: str, count: int):
        super().__init__(message)
        self.count = count


class WeightsError(GatekeeperError):
    """Model weights are missing, corrupt or do not match what the code expects."""


class StoreError(GatekeeperError):
    """The database cannot be opened, read or written (locked, read-only, not a database...)."""


class CameraError(GatekeeperError):
    """A camera source cannot be opened or read."""


class OverridableError(GatekeeperError):
    """A refusal the operator may override on purpose: ``reason`` says why; the message adds
    how to override it on the command line (the console asks for a confirmation instead)."""

    hint = "use --force to enrol it anyway"

    def __init__(self, reason: str):
        super().__init__(f"{reason}; {self.hint}")
        self.reason = reason


class LowQualityFaceError(OverridableError):
    """An enrolment face is below the quality bar (too small, blurred, turned away...): as a
    template it would match strangers."""


class DuplicateFaceError(OverridableError):
    """An enrolment face matches a person enrolled under another name."""

    hint = "use --force to enrol it as a different person"


class SpoofFaceError(OverridableError):
    """A face enrolled from the camera is judged not live: a photo or a screen held up to it.
    (A photo *file* is never refused for liveness.) The operator may decide otherwise."""

    hint = "enrol from a photo file instead, or use --force to enrol the frame anyway"
