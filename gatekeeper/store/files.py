"""The modes of what Gatekeeper creates on disk: the SQLite database, its folders, kept photos.

Biometric data and the access log are their owner's alone, whatever the umask (which can only
take more bits away). Existing files and folders keep the modes they have, so a site that
shares them with a group on purpose stays shared.
"""

from __future__ import annotations

from pathlib import Path

PRIVATE_FOLDER_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def make_private_folders(folder: Path, created: list[Path]) -> None:
    """Create ``folder`` and its missing parents, each with :data:`PRIVATE_FOLDER_MODE`,
    appending each one made to ``created`` (outermost first); raises ``OSError``."""
    for parent in [p for p in (folder, *folder.parents) if not p.exists()][::-1]:
        try:
            parent.mkdir(mode=PRIVATE_FOLDER_MODE)
        except FileExistsError:
            continue
        created.append(parent)
