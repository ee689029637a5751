"""Materialise the validation photos listed in manifest.csv and train_manifest.csv from local git
mirrors.

Each manifest row names a source repository, a commit and a path in it, and the sha256 of the
bytes stored there. This script reads every source with ``git cat-file`` from a bare git
directory under ``--mirror`` (the /work/.mirror layout: ``<owner>+<name>/repo``), checks the
sha256, and writes the photo to ``<out>/<file>``:

- a ``.pgm`` source (ORL, Extended Yale B; the pipeline's image suffixes do not include it) is
  decoded and re-encoded losslessly as PNG: pixels are unchanged;
- kind ``degraded``: a synthetic camera-like variant of the source photo, made by :func:`degrade`
  (documented in README.md). Deterministic: same source, same numpy/OpenCV build, same bytes;
- kind ``tiny``: the whole photo shrunk so that its face is 24-38 px wide, made by :func:`shrink`:
  a face far from the camera, or a small seed photo such as the tutorial's 96-px images;
- anything else (``web``, ``train``, JPEG ``camera``): the source bytes, unchanged.

The sha256 column is always that of the *source* bytes (what is verified here); converted and
degraded outputs are regenerated, not pinned.

Fails (exit status 1, one line per problem) when a mirror, commit or path is missing or a checksum
differs; nothing is written unless every row succeeded.

    python benchmarks/validation/fetch.py --mirror /work/.mirror --out /work/validation/photos
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
KINDS = ("web", "camera", "degraded", "tiny", "train")
MANIFESTS = (HERE / "manifest.csv", HERE / "train_manifest.csv")

#: Synthetic degradation (kind ``degraded``), applied to a 250x250 LFW photo whose face is about
#: 100-115 px wide: the result is 160x160 px with a face of about 60 px wide and 80 px high.
DEGRADE_SIDE = 160  # output side in pixels (INTER_AREA downscale)
DEGRADE_BLUR_SIGMA = 0.8  # Gaussian blur after downscaling: soft webcam optics
DEGRADE_GAMMA = 1.35  # > 1 darkens mid-tones: dim indoor light
DEGRADE_CONTRAST = 0.8  # contrast squeezed around the middle grey ...
DEGRADE_OFFSET = 10.0  # ... and lifted a little: washed-out blacks
DEGRADE_NOISE_SIGMA = 4.0  # additive Gaussian sensor noise, grey levels; seeded per photo
DEGRADE_JPEG_QUALITY = 30  # heavy JPEG recompression


#: Shrinking (kind ``tiny``), applied to a 250x250 LFW photo whose face is about 100-115 px wide:
#: the output side is drawn per photo (seeded) from these, giving faces of about 24 to 38 px.
TINY_SIDES = (60, 68, 76, 84)
TINY_JPEG_QUALITY = 75


class FetchError(Exception):
    pass


def degrade(bgr: np.ndarray, seed: int) -> bytes:
    """The camera-like JPEG made from a BGR photo (see the DEGRADE_* constants)."""
    small = cv2.resize(bgr, (DEGRADE_SIDE, DEGRADE_SIDE), interpolation=cv2.INTER_AREA)
    soft = cv2.GaussianBlur(small, (0, 0), DEGRADE_BLUR_SIGMA)
    x = soft.astype(np.float64) / 255.0
    x = np.power(x, DEGRADE_GAMMA) * 255.0
    x = (x - 128.0) * DEGRADE_CONTRAST + 128.0 + DEGRADE_OFFSET
    rng = np.random.default_rng(seed)
    x = x + rng.normal(0.0, DEGRADE_NOISE_SIGMA, size=x.shape)
    out = np.clip(np.rint(x), 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, DEGRADE_JPEG_QUALITY])
    if not ok:
        raise FetchError("JPEG encoding failed")
    return buf.tobytes()


def git_dir(mirror: Path, repo: str) -> Path:
    """The bare git directory of ``owner/name`` under ``mirror``."""
    base = mirror / repo.replace("/", "+")
    for candidate in (
        base / "repo" / ".git",
        base / "repo",
        base,
        base.with_name(base.name + ".git"),
    ):
        if candidate.is_dir():
            probe = subprocess.run(
                ["git", "--git-dir", str(candidate), "rev-parse", "--git-dir"],
                capture_output=True,
            )
            if probe.returncode == 0:
                return candidate
    raise FetchError(f"{repo}: no git mirror under {mirror} (looked for {base}/repo)")


class BlobReader:
    """Reads ``COMMIT:PATH`` blobs of one bare git directory through one ``git cat-file --batch``.

    Use as a context manager; :meth:`read` raises :class:`FetchError` for a missing commit or path.
    """

    def __init__(self, gitdir: Path):
        self.gitdir = gitdir
        self._process: subprocess.Popen | None = None

    def __enter__(self) -> BlobReader:
        self._process = subprocess.Popen(
            ["git", "--git-dir", str(self.gitdir), "cat-file", "--batch"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        return self

    def __exit__(self, *exc) -> None:
        assert self._process is not None
        self._process.stdin.close()
        self._process.wait()

    def read(self, commit: str, path: str) -> bytes:
        assert self._process is not None, "use BlobReader as a context manager"
        if "\n" in path:
            raise FetchError(f"{path!r}: a path with a newline")
        self._process.stdin.write(f"{commit}:{path}\n".encode())
        self._process.stdin.flush()
        header = self._process.stdout.readline().decode("utf-8", "replace").split()
        if len(header) != 3 or header[1] != "blob":
            raise FetchError(f"{commit[:12]}:{path}: not in the mirror ({' '.join(header[1:])})")
        data = self._process.stdout.read(int(header[2]))
        self._process.stdout.read(1)  # the newline after the contents
        return data


def shrink(bgr: np.ndarray, seed: int) -> bytes:
    """The small JPEG made from a BGR photo (see the TINY_* constants)."""
    side = TINY_SIDES[seed % len(TINY_SIDES)]
    small = cv2.resize(bgr, (side, side), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, TINY_JPEG_QUALITY])
    if not ok:
        raise FetchError("JPEG encoding failed")
    return buf.tobytes()


def decode(data: bytes, what: str) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise FetchError(f"{what}: cannot decode the image")
    return image


def materialise(row: dict, data: bytes) -> bytes:
    """The bytes written for a manifest row whose source bytes are ``data``."""
    what = row["source_path"]
    if row["kind"] == "degraded":
        return degrade(decode(data, what), int(row["sha256"][:16], 16))
    if row["kind"] == "tiny":
        return shrink(decode(data, what), int(row["sha256"][:16], 16))
    if what.endswith(".pgm"):
        grey = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
        if grey is None:
            raise FetchError(f"{what}: cannot decode the image")
        ok, buf = cv2.imencode(".png", grey)
        if not ok:
            raise FetchError(f"{what}: PNG encoding failed")
        return buf.tobytes()
    return data


def read_rows(manifests: list[Path]) -> list[dict]:
    rows = []
    for manifest in manifests:
        with manifest.open(newline="", encoding="utf-8") as fh:
            rows += [dict(row, manifest=manifest.name) for row in csv.DictReader(fh)]
    return rows


def source_bytes(rows: list[dict], mirror: Path) -> tuple[list[tuple[dict, bytes]], list[str]]:
    """Each row with its verified source bytes, and one line per problem."""
    problems: list[str] = []
    found: list[tuple[dict, bytes]] = []
    by_repo: dict[str, list[dict]] = {}
    for row in rows:
        by_repo.setdefault(row["source_repo"], []).append(row)
    for repo, group in by_repo.items():
        try:
            gitdir = git_dir(mirror, repo)
        except FetchError as exc:
            problems.append(f"{exc}; its {len(group)} photo(s) cannot be fetched")
            continue
        with BlobReader(gitdir) as reader:
            for row in group:
                where = f"{row['manifest']} {row['file']}"
                try:
                    data = reader.read(row["source_commit"], row["source_path"])
                    digest = hashlib.sha256(data).hexdigest()
                    if digest != row["sha256"]:
                        raise FetchError(
                            f"{row['source_path']}: sha256 {digest} differs from the manifest's "
                            f"{row['sha256']}"
                        )
                    found.append((row, data))
                except FetchError as exc:
                    problems.append(f"{where}: {exc}")
    return found, problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--mirror",
        type=Path,
        default=Path("/work/.mirror"),
        help="folder of <owner>+<name>/repo bare git dirs (default /work/.mirror)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=HERE / "photos",
        help="where to write the photos (default: benchmarks/validation/photos/)",
    )
    parser.add_argument(
        "--manifest",
        type=Path,
        action="append",
        help="a manifest to read (repeatable; default: manifest.csv and train_manifest.csv)",
    )
    args = parser.parse_args(argv)

    rows = read_rows(args.manifest or list(MANIFESTS))
    problems = [
        f"{row['manifest']} {row['file']}: unknown kind {row['kind']!r}"
        for row in rows
        if row["kind"] not in KINDS
    ]
    found, missing = source_bytes([row for row in rows if row["kind"] in KINDS], args.mirror)
    problems += missing
    outputs: list[tuple[Path, bytes]] = []
    for row, data in found:
        try:
            outputs.append((args.out / row["file"], materialise(row, data)))
        except FetchError as exc:
            problems.append(f"{row['manifest']} {row['file']}: {exc}")
    if problems:
        for line in problems:
            print(f"fetch.py: {line}", file=sys.stderr)
        print(f"fetch.py: {len(problems)} problem(s); nothing written", file=sys.stderr)
        return 1
    for target, payload in outputs:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(payload)
    counts = {k: sum(r["kind"] == k for r in rows) for k in KINDS}
    print(
        f"wrote {len(outputs)} photos of {len({r['identity'] for r in rows})} identities to "
        f"{args.out} ({', '.join(f'{v} {k}' for k, v in counts.items())}); all sha256 verified"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
