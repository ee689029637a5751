"""The verified cache of converted model weights under ``weights/``, for every network.

Each encoder converts a published weights file once (dlib's ``.dat``, FaceNet's Keras 2 ``.h5``)
into Keras weights and caches them as ``weights/<model_id>.weights.h5`` beside a JSON manifest
recording the converter version, the sha256 of the source file and of the cache; the compile
step (``vision/compile.py``) caches each network the run path uses, exported for the inference
runtime, the same way as ``weights/<network>.tflite`` (manifest ``<network>.tflite.json``). A
missing, corrupt or foreign cache is reported by :meth:`ConvertedWeights.problem` and rebuilt
by its loader. Imports no TensorFlow.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class ConvertedWeights:
    """The cache files of one encoder (``model_id``) inside a ``weights/`` directory.

    ``converter_version`` and ``source_sha256`` are what the cache must have been made with;
    ``details`` are extra manifest entries (e.g. where the source came from); ``suffix`` ends
    the cached file's name (Keras weights by default).
    """

    suffix = ".weights.h5"
    manifest_suffix = ".json"

    def __init__(
        self,
        directory: Path,
        *,
        model_id: str,
        converter_version: int | str,
        source_sha256: str,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.model_id = model_id
        self.converter_version = converter_version
        self.source_sha256 = source_sha256
        self.details = details or {}

    @property
    def weights(self) -> Path:
        return self.directory / f"{self.model_id}{self.suffix}"

    @property
    def manifest(self) -> Path:
        return self.directory / f"{self.model_id}{self.manifest_suffix}"

    def problem(self) -> str | None:
        """Why the cache cannot be used (``None`` when it is present and verified). Hashes the
        cached file (0.1 s for dlib's 22 MB, 0.3 s for FaceNet's 92 MB)."""
        if not self.manifest.exists() or not self.weights.exists():
            return "no converted weights cache yet"
        try:
            manifest = json.loads(self.manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            return f"unreadable cache manifest ({exc})"
        if not isinstance(manifest, dict) or manifest.get("model_id") != self.model_id:
            return "cache manifest is for another model"
        if manifest.get("converter_version") != self.converter_version:
            return "cache was written by another converter version"
        if manifest.get("source_sha256") != self.source_sha256:
            return "cache was converted from another source file"
        if manifest.get("weights_sha256") != sha256_file(self.weights):
            return "cached weights do not match their recorded sha256 (corrupt or modified)"
        return None

    def write(self, model) -> None:
        """Save ``model``'s weights and the manifest atomically (temp file + rename)."""
        self.write_with(model.save_weights)

    def write_with(self, save: Callable[[Path], object], **extra: Any) -> None:
        """Write the cached file with ``save(path)`` and the manifest (with ``extra`` entries)
        atomically: a temporary file, hashed, then renamed into place."""
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(suffix=self.suffix, dir=self.directory)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            save(tmp)
            manifest = {
                "model_id": self.model_id,
                "converter_version": self.converter_version,
                **self.details,
                **extra,
                "source_sha256": self.source_sha256,
                "weights_sha256": sha256_file(tmp),
            }
            os.replace(tmp, self.weights)
            tmp_manifest = self.manifest.with_name(self.manifest.name + ".tmp")
            tmp_manifest.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
            os.replace(tmp_manifest, self.manifest)
        finally:
            tmp.unlink(missing_ok=True)
