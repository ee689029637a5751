"""Pair evaluation: reading LFW and CSV pair files, scoring, and ``gatekeeper evaluate`` on a real
pairs CSV built from the shared photos and on an LFW-layout folder."""

from __future__ import annotations

import csv
import itertools
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import PROBES

from gatekeeper.config import DEFAULT_THRESHOLD
from gatekeeper.decision import DLIB_MODEL, DecisionRule, Tier
from gatekeeper.errors import ImageError, NoFaceError, UsageError
from gatekeeper.evaluate import Pair, PairResult, evaluate_pairs, read_pairs, score

#: One-face photos of the shared data and who they show (faces/train folders, README probes).
#: The probes this file pairs up: a subset of the labelled ones, and one stranger.
PROBE_IDENTITIES = {
    name: PROBES[name]
    for name in (
        "alex_lacamoire1.jpg",
        "alex-lacamoire.png",
        "johnsnow_test1.jpg",
        "obama1.jpg",
        "obama-720p.jpg",
        "obama_partial_face.jpg",
    )
} | {"lin-manuel-miranda.png": "lin_manuel_miranda"}


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# Reading pair files.


def test_lfw_pairs_with_sets_header(tmp_path):
    pairs = read_pairs(
        _write(tmp_path / "pairs.txt", "2\t1\nAda\t1\t2\nBob\t1\t3\nAda\t1\tBob\t2\nBob 3 Cy 1\n"),
        images=tmp_path / "lfw",
    )
    assert [(p.first, p.second, p.same, p.line) for p in pairs] == [
        (tmp_path / "lfw/Ada/Ada_0001.jpg", tmp_path / "lfw/Ada/Ada_0002.jpg", True, 2),
        (tmp_path / "lfw/Bob/Bob_0001.jpg", tmp_path / "lfw/Bob/Bob_0003.jpg", True, 3),
        (tmp_path / "lfw/Ada/Ada_0001.jpg", tmp_path / "lfw/Bob/Bob_0002.jpg", False, 4),
        (tmp_path / "lfw/Bob/Bob_0003.jpg", tmp_path / "lfw/Cy/Cy_0001.jpg", False, 5),
    ]


def test_csv_pairs_relative_to_their_folder_with_every_label(tmp_path):
    rows = [
        ("a.jpg", "b.jpg", "yes"),
        ("a.jpg", "c.jpg", "No"),
        ("sub/d.png", "/abs/e.jpg", "1"),
        ("a.jpg", "d.jpg", "0"),
        ("a.jpg", "b.jpg", "TRUE"),
        ("a.jpg", "b.jpg", "false"),
        ("a.jpg", "b.jpg", "same"),
        ("a.jpg", "b.jpg", "different"),
    ]
    path = _write(tmp_path / "pairs.csv", "\n".join(",".join(r) for r in rows) + "\n\n")
    pairs = read_pairs(path)
    assert [p.same for p in pairs] == [True, False, True, False, True, False, True, False]
    assert pairs[2].first == tmp_path / "sub/d.png" and pairs[2].second == Path("/abs/e.jpg")
    assert read_pairs(path, images="/photos")[0].first == Path("/photos/a.jpg")


@pytest.mark.parametrize("header", ["image1,image2,same", "first,second,label", "a,b,is_same"])
def test_csv_header_row_is_optional(tmp_path, header):
    pairs = read_pairs(_write(tmp_path / "p.csv", f"{header}\nx.jpg,y.jpg,no\n"))
    assert [(p.first.name, p.second.name, p.same, p.line) for p in pairs] == [
        ("x.jpg", "y.jpg", False, 2)
    ]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("p.csv", "a.jpg,b.jpg,yes\na.jpg,b.jpg\n", "p.csv, line 2: expected 3 columns"),
        ("p.csv", "a.jpg,b.jpg,yes\na.jpg,b.jpg,perhaps\n", "line 2: unknown label 'perhaps'"),
        ("p.csv", "a.jpg,,yes\n", "line 1: empty image path"),
        ("p.csv", "\n\n", "empty pairs file"),
        ("p.csv", "image1,image2,label\n", "no pairs in the file"),
        ("pairs.txt", "1\nAda\t1\t2\n", "pairs.txt, line 1: the header '1' announces 2 pairs"),
        ("pairs.txt", "1\nAda\t1\t2\nAda\t1\tBob\tx\n", "line 3: image number must be a positive"),
        ("pairs.txt", "1\nAda\t0\t2\nAda\t1\tBob\t1\n", "line 2: image number must be a positive"),
        ("pairs.txt", "1 2 3\n", "line 1: bad header '1 2 3'"),
        ("pairs.txt", "1\n\n..\t1\t2\nAda\t1\tBob\t1\n", "line 3: bad person name '..'"),
        ("pairs.txt", "1\nAda\t1\t2\t3\t4\nAda\t1\tBob\t1\n", "line 2: expected 'name n1 n2'"),
    ],
)
def test_malformed_pair_files_name_the_line(tmp_path, name, text, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(")):
        read_pairs(_write(tmp_path / name, text))


def test_unreadable_pair_files(tmp_path):
    with pytest.raises(ImageError, match="no such file"):
        read_pairs(tmp_path / "missing.txt")
    (tmp_path / "binary.txt").write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(UsageError, match="not a text file"):
        read_pairs(tmp_path / "binary.txt")


# Scoring.


def _results(items: list[tuple[float | None, bool]]) -> list[PairResult]:
    return [
        PairResult(Pair(Path(f"{i}a"), Path(f"{i}b"), same, i), distance)
        for i, (distance, same) in enumerate(items, start=1)
    ]


def test_score_rates_and_best_threshold():
    results = _results(
        [
            (0.2, True),
            (0.4, True),
            (0.7, True),
            (0.5, False),
            (0.8, False),
            (0.9, False),
            (None, True),
        ]
    )
    evaluation = score(results, threshold=0.62)
    assert evaluation.no_face == 1
    assert evaluation.accuracy == pytest.approx(4 / 6)  # 0.7 rejected, 0.5 accepted
    assert evaluation.far == pytest.approx(1 / 3)
    assert evaluation.frr == pytest.approx(1 / 3)
    # Midpoints 0.3, 0.45, 0.6, 0.75, 0.85: 0.45 and 0.75 both reach 5/6; 0.75 is nearer 0.62.
    assert evaluation.best_threshold == pytest.approx(0.75)
    assert evaluation.best_accuracy == pytest.approx(5 / 6)
    summary = evaluation.as_dict()
    assert summary["pairs"] == 7 and summary["evaluated"] == 6 and summary["no_face"] == 1
    assert summary["results"][-1]["distance"] is None


def test_score_edge_cases():
    perfect = score(_results([(0.1, True), (0.9, False)]), threshold=0.6)
    assert (perfect.accuracy, perfect.far, perfect.frr) == (1.0, 0.0, 0.0)
    assert perfect.best_threshold == pytest.approx(0.5)
    only_same = score(_results([(0.3, True), (0.3, True)]), threshold=0.6)
    assert only_same.far is None and only_same.frr == 0.0
    assert (only_same.best_threshold, only_same.best_accuracy) == (0.6, 1.0)
    nothing = score(_results([(None, True)]), threshold=0.6)
    assert nothing.accuracy is None and nothing.best_accuracy is None


def test_each_image_is_embedded_once(tmp_path):
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        (tmp_path / name).write_bytes(b"x")
    pairs = [
        Pair(tmp_path / "a.jpg", tmp_path / "b.jpg", True, 1),
        Pair(tmp_path / "a.jpg", tmp_path / "c.jpg", False, 2),
        Pair(tmp_path / "b.jpg", tmp_path / "c.jpg", False, 3),
    ]
    calls: list[Path] = []
    vectors = {"a.jpg": [0.0, 0.0], "b.jpg": [0.3, 0.4]}

    def embed(path: Path) -> np.ndarray:
        calls.append(path)
        if path.name not in vectors:
            raise NoFaceError(f"{path}: no face found")
        return np.array(vectors[path.name], np.float32)

    progress: list[tuple[int, int]] = []
    dlib_alone = DecisionRule(0.6, (Tier("dlib", ((DLIB_MODEL, 1.0),), 0.0),))
    evaluation = evaluate_pairs(
        pairs, embed, dlib_alone, progress=lambda d, t, p: progress.append((d, t))
    )
    assert sorted(calls) == sorted(tmp_path / n for n in ("a.jpg", "b.jpg", "c.jpg"))
    assert progress == [(1, 3), (2, 3), (3, 3)]
    assert [r.distance for r in evaluation.results] == [pytest.approx(0.5), None, None]
    assert evaluation.results[1].problem == f"{tmp_path / 'c.jpg'}: no face found"


def test_missing_image_fails_before_embedding(tmp_path):
    pairs = [Pair(tmp_path / "a.jpg", tmp_path / "b.jpg", True, 7)]
    with pytest.raises(ImageError, match=r"a\.jpg: no such file \(pair on line 7\)"):
        evaluate_pairs(pairs, lambda path: pytest.fail("embedded"), 0.6)


# The command on real photos.


@pytest.fixture(scope="module")
def shared_pairs_csv(tmp_path_factory, shared_data) -> Path:
    """Every pair of the one-face shared photos (train folders and probes), labelled by who
    they show, plus two pairs with a face-less image; paths relative to the shared folder."""
    photos = {
        str(p.relative_to(shared_data)): p.parent.name
        for p in sorted((shared_data / "faces" / "train").rglob("*"))
        if p.is_file()
    }
    photos |= {f"faces/probe/{name}": who for name, who in PROBE_IDENTITIES.items()}
    folder = tmp_path_factory.mktemp("pairs")
    blank = folder / "blank.png"
    cv2.imwrite(str(blank), np.full((120, 160, 3), 128, np.uint8))
    path = folder / "shared_pairs.csv"
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["image1", "image2", "same"])
        for (a, who_a), (b, who_b) in itertools.combinations(sorted(photos.items()), 2):
            writer.writerow([a, b, "same" if who_a == who_b else "different"])
        writer.writerow(["faces/probe/obama1.jpg", str(blank), "no"])
        writer.writerow([str(blank), "faces/probe/obama3.jpg", "yes"])
    return path


def test_evaluate_a_real_pairs_csv(run, use_engine, home, shared_pairs_csv, shared_data, tmp_path):
    plot = tmp_path / "histograms.png"
    result = run(
        "--home", home, "evaluate", shared_pairs_csv, "--images", shared_data,
        "--json", "--plot", plot,
    )  # fmt: skip
    assert result.code == 0, result.err
    report = json.loads(result.out)
    photos = 9 + len(PROBE_IDENTITIES)
    assert report["pairs"] == photos * (photos - 1) // 2 + 2
    assert report["no_face"] == 2
    assert report["threshold"] == DEFAULT_THRESHOLD
    assert report["accuracy"] >= 0.97 and report["best_accuracy"] >= report["accuracy"]
    assert 0 <= report["far"] <= 0.05 and 0 <= report["frr"] <= 0.1
    assert 0.3 < report["best_threshold"] < 0.8
    assert len(report["results"]) == report["pairs"]
    first = report["results"][0]
    assert set(first) >= {"first", "second", "same", "distance"}
    assert Path(first["first"]).is_file() and isinstance(first["distance"], float)
    assert [r["distance"] for r in report["results"][-2:]] == [None, None]
    assert plot.read_bytes().startswith(b"\x89PNG") and plot.stat().st_size > 10_000
    assert result.err == ""


def test_evaluate_lfw_layout_in_text(run, use_engine, home, train, probe, tmp_path):
    lfw = tmp_path / "lfw"
    layout = {
        "Barack_Obama": [
            train / "obama/obama.jpg",
            train / "obama/obama2.jpg",
            probe("obama1.jpg"),
        ],
        "Joe_Biden": [train / "biden/biden.jpg", train / "biden/biden2.jpg"],
        "Rose_Leslie": [train / "rose_leslie/img1.jpg", train / "rose_leslie/img2.jpg"],
    }
    for name, photos in layout.items():
        (lfw / name).mkdir(parents=True)
        for number, photo in enumerate(photos, start=1):
            shutil.copy(photo, lfw / name / f"{name}_{number:04d}.jpg")
    pairs = _write(
        tmp_path / "pairs.txt",
        "1\t3\n"
        "Barack_Obama\t1\t2\nBarack_Obama\t2\t3\nJoe_Biden\t1\t2\n"
        "Barack_Obama\t1\tJoe_Biden\t1\nJoe_Biden\t2\tRose_Leslie\t1\n"
        "Rose_Leslie\t2\tBarack_Obama\t3\n",
    )
    result = run("--home", home, "evaluate", pairs, "--images", lfw)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0] == "6 pairs (3 same, 3 different); 0 skipped: a face was not found"
    assert lines[1].startswith(f"site rule at threshold {DEFAULT_THRESHOLD:g}: accuracy 100.0 %")
    rows = {line.split()[0]: line.split() for line in lines[3:7]}
    assert list(rows) == ["site", "SFace", "FaceNet", "dlib"], "the site's rule first"
    assert rows["site"][1:6] == [f"{DEFAULT_THRESHOLD:.3f}", "100.0", "%", "0.0", "%"]
    assert all(rows[name][1] != rows["site"][1] for name in ("SFace", "FaceNet", "dlib"))
    strict = run("--home", home, "evaluate", pairs, "--images", lfw, "--threshold", "0.3")
    assert strict.code == 0, strict.err
    assert strict.out.splitlines()[1].startswith("site rule at threshold 0.3:")
    assert json.loads(run("--home", home, "threshold", "--json").out)["threshold"] == (
        DEFAULT_THRESHOLD
    )
    missing = run("--home", home, "evaluate", pairs, "--images", tmp_path)
    assert missing.code == 1
    assert missing.err.startswith("gatekeeper: ") and "no such file (pair on line 2)" in missing.err
