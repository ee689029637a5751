"""Materialise the validation photos listed in manifest.csv from local git mirrors.

Each manifest row names a source repository, a commit and a path in it, and the sha256 of the
bytes stored there. This script reads every source with ``git show COMMIT:PATH`` from a bare git
directory under ``--mirror`` (the /work/.mirror layout: ``<owner>+<name>/repo``), checks the
sha256, and writes the photo to ``<out>/<file>``:

- ``web``: the source bytes, unchanged (JPEG);
- ``camera``: the ORL/AT&T PGM, decoded and re-encoded losslessly as PNG (the pipeline's image
  suffixes do not include ``.pgm``); pixels are unchanged;
- ``degraded``: a synthetic camera-like variant of the source photo, made by :func:`degrade`
  (documented in README.md). Deterministic: same source, same numpy/OpenCV build, same bytes.

The sha256 column is always that of the *source* bytes (what is verified here); converted and
degraded outputs are regenerated, not pinned.

Fails (exit status 1, one line per problem) when a mirror, commit or path is missing or a checksum
differs; nothing is reported as done unless every row was written.

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
KINDS = ("web", "camera", "degraded")

#: Synthetic degradation (kind ``degraded``), applied to a 250x250 LFW photo whose face is about
#: 100-115 px wide: the result is 160x160 px with a face of about 60 px wide and 80 px high.
DEGRADE_SIDE = 160  # output side in pixels (INTER_AREA downscale)
DEGRADE_BLUR_SIGMA = 0.8  # Gaussian blur after downscaling: soft webcam optics
DEGRADE_GAMMA = 1.35  # > 1 darkens mid-tones: dim indoor light
DEGRADE_CONTRAST = 0.8  # contrast squeezed around the middle grey ...
DEGRADE_OFFSET = 10.0  # ... and lifted a little: washed-out blacks
DEGRADE_NOISE_SIGMA = 4.0  # additive Gaussian sensor noise, grey levels; seeded per photo
DEGRADE_JPEG_QUALITY = 30  # heavy JPEG recompression


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


def read_blob(gitdir: Path, commit: str, path: str) -> bytes:
    result = subprocess.run(
        ["git", "--git-dir", str(gitdir), "show", f"{commit}:{path}"], capture_output=True
    )
    if result.returncode != 0:
        why = result.stderr.decode("utf-8", "replace").strip().splitlines()
        raise FetchError(f"{commit[:12]}:{path}: {why[-1] if why else 'git show failed'}")
    return result.stdout


def decode(data: bytes, what: str) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise FetchError(f"{what}: cannot decode the image")
    return image


def materialise(row: dict, data: bytes) -> bytes:
    kind, what = row["kind"], row["source_path"]
    if kind == "web":
        return data
    if kind == "camera":
        grey = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
        if grey is None:
            raise FetchError(f"{what}: cannot decode the image")
        ok, buf = cv2.imencode(".png", grey)
        if not ok:
            raise FetchError(f"{what}: PNG encoding failed")
        return buf.tobytes()
    seed = int(row["sha256"][:16], 16)
    return degrade(decode(data, what), seed)


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
    parser.add_argument("--manifest", type=Path, default=HERE / "manifest.csv")
    args = parser.parse_args(argv)

    with args.manifest.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    problems: list[str] = []
    gitdirs: dict[str, Path | None] = {}
    outputs: list[tuple[Path, bytes]] = []
    for number, row in enumerate(rows, start=2):
        where = f"manifest line {number} ({row.get('file')})"
        if row.get("kind") not in KINDS:
            problems.append(f"{where}: unknown kind {row.get('kind')!r}")
            continue
        repo = row["source_repo"]
        if repo not in gitdirs:
            try:
                gitdirs[repo] = git_dir(args.mirror, repo)
            except FetchError as exc:
                gitdirs[repo] = None
                missing = sum(r["source_repo"] == repo for r in rows)
                problems.append(f"{exc}; its {missing} photo(s) cannot be fetched")
        if gitdirs[repo] is None:
            continue
        try:
            data = read_blob(gitdirs[repo], row["source_commit"], row["source_path"])
            digest = hashlib.sha256(data).hexdigest()
            if digest != row["sha256"]:
                raise FetchError(
                    f"{row['source_path']}: sha256 {digest} differs from the manifest's "
                    f"{row['sha256']}"
                )
            outputs.append((args.out / row["file"], materialise(row, data)))
        except FetchError as exc:
            problems.append(f"{where}: {exc}")
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
