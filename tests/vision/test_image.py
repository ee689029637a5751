"""Image loading: formats, channel orders and every kind of bad file."""

import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

from gatekeeper.errors import ImageError
from gatekeeper.vision import image
from gatekeeper.vision.image import load_image


def _gradient(h=40, w=60):
    y, x = np.mgrid[0:h, 0:w]
    return np.dstack([x * 4, y * 6, np.full_like(x, 200)]).astype(np.uint8)  # RGB


def test_jpeg_png_and_arrays_are_rgb(tmp_path):
    rgb = _gradient()
    cv2.imwrite(str(tmp_path / "a.png"), rgb[:, :, ::-1])  # OpenCV writes BGR
    out = load_image(tmp_path / "a.png")
    assert out.dtype == np.uint8 and out.shape == (40, 60, 3)
    assert np.array_equal(out, rgb)
    assert np.array_equal(load_image((tmp_path / "a.png").read_bytes()), rgb)
    assert np.array_equal(load_image(rgb[:, :, ::-1], bgr=True), rgb)
    assert np.array_equal(load_image(rgb), rgb)


def test_sixteen_bit_png_is_scaled_to_eight_bits(tmp_path):
    rgb16 = (_gradient().astype(np.uint16) * 257)[:, :, ::-1]
    cv2.imwrite(str(tmp_path / "deep.png"), rgb16)
    out = load_image(tmp_path / "deep.png")
    assert out.dtype == np.uint8
    assert np.array_equal(out, _gradient())


def test_grayscale_becomes_three_equal_channels(tmp_path):
    gray = _gradient()[:, :, 0]
    cv2.imwrite(str(tmp_path / "g.png"), gray)
    out = load_image(tmp_path / "g.png")
    assert out.shape == (40, 60, 3)
    assert np.array_equal(out[:, :, 0], gray) and np.array_equal(out[:, :, 2], gray)


def test_rgba_is_composited_over_white(tmp_path):
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[:, :5] = (255, 0, 0, 255)  # opaque red
    rgba[:, 5:] = (0, 0, 255, 0)  # fully transparent blue
    Image.fromarray(rgba, "RGBA").save(tmp_path / "t.png")
    out = load_image(tmp_path / "t.png")
    assert tuple(out[0, 0]) == (255, 0, 0)
    assert tuple(out[0, 9]) == (255, 255, 255)


def test_real_rgba_photo_loads(shared_data):
    out = load_image(shared_data / "faces" / "probe" / "32bit.png")
    assert out.shape == (1200, 626, 3)


def test_exif_orientation_is_applied(tmp_path):
    img = Image.fromarray(_gradient(40, 60))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise for display
    img.save(tmp_path / "rot.jpg", exif=exif, quality=95)
    assert load_image(tmp_path / "rot.jpg").shape == (60, 40, 3)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing.jpg", "no such file"),
        (lambda d: d, "is a directory"),
        (lambda d: _write(d / "empty.jpg", b""), "empty file"),
        (lambda d: _write(d / "text.jpg", b"just some text, not an image\n"), "not an image"),
        (lambda d: _write(d / "cut.jpg", _jpeg()[:-600]), "truncated JPEG"),
        (lambda d: _write(d / "cut.png", _png()[:-40]), "truncated PNG"),
        (lambda d: _write(d / "junk.png", b"\x89PNG\r\n\x1a\n" + bytes(200) + b"IEND"), "not an"),
    ],
    ids=["missing", "directory", "empty", "text", "truncated-jpeg", "truncated-png", "junk-png"],
)
def test_bad_files_raise_image_error(tmp_path, make, message):
    with pytest.raises(ImageError, match=message):
        load_image(make(tmp_path))


def test_bad_arrays_raise_image_error():
    with pytest.raises(ImageError):
        load_image(np.zeros((0, 10, 3), np.uint8))
    with pytest.raises(ImageError):
        load_image(np.zeros((10, 10, 5), np.uint8))
    with pytest.raises(ImageError):
        load_image(np.full((4, 4, 3), np.nan, np.float32))


def _write(path, data):
    path.write_bytes(data)
    return path


def _jpeg():
    ok, buf = cv2.imencode(".jpg", np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8))
    return buf.tobytes()


def _png():
    ok, buf = cv2.imencode(".png", _gradient())
    return buf.tobytes()


# --- decompression bombs: small files declaring huge images --------------------------------


def _png_declaring(width, height):
    """A valid PNG whose header declares ``width``×``height`` RGB pixels, holding 16 black rows
    (a few kilobytes; decoding it in full would need ``3 × width × height`` bytes)."""

    def chunk(kind, body):
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = zlib.compress(bytes(1 + 3 * width) * 16, 9)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )


def _jpeg_declaring(width, height):
    """A real JPEG whose start-of-frame segment is rewritten to declare ``width``×``height``."""
    data = bytearray(_jpeg())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def _bmp_declaring(width, height):
    data = bytearray(cv2.imencode(".bmp", _gradient())[1].tobytes())
    data[18:26] = struct.pack("<ii", width, height)
    return bytes(data)


def _gif_declaring(width, height):
    data = bytearray(cv2.imencode(".gif", _gradient())[1].tobytes())
    data[6:10] = struct.pack("<HH", width, height)
    return bytes(data)


@pytest.fixture
def no_decoding(monkeypatch):
    """Decoding is forbidden: a refusal must come from the header alone."""

    def imdecode(*args):
        raise AssertionError("the image was decoded")

    monkeypatch.setattr(image.cv2, "imdecode", imdecode)


@pytest.mark.parametrize(
    ("make", "width", "height"),
    [
        (_png_declaring, 30000, 30000),
        (_jpeg_declaring, 30000, 30000),
        (_bmp_declaring, 12000, 10000),  # read by Pillow (which itself refuses 179 M and more)
    ],
    ids=["png", "jpeg", "bmp"],
)
def test_an_image_declaring_too_many_pixels_is_refused_from_its_header(
    tmp_path, no_decoding, make, width, height
):
    bomb = _write(tmp_path / "bomb", make(width, height))
    assert bomb.stat().st_size < 100_000

    with pytest.raises(ImageError) as refused:
        load_image(bomb)
    assert str(refused.value) == (
        f"{bomb}: image too large ({width}×{height} pixels declared; at most 100,000,000 pixels)"
    )


def test_a_header_pillow_itself_calls_a_bomb_is_refused(no_decoding):
    with pytest.raises(ImageError, match=r"^image: image too large \(Image size \(4294836225 "):
        load_image(_gif_declaring(65535, 65535))


def test_the_header_check_reads_what_decoding_finds():
    pixels = _gradient(48, 64)
    encoded = [cv2.imencode(ext, pixels)[1].tobytes() for ext in (".png", ".jpg", ".bmp", ".gif")]
    for data in [*encoded, _png(), _jpeg()]:
        height, width = load_image(data).shape[:2]
        assert image.declared_size(data) == (width, height)
    assert image.declared_size(b"just some text") is None


def test_an_image_at_the_limit_passes_the_header_check(no_decoding):
    width = 10_000
    with pytest.raises(AssertionError, match="the image was decoded"):
        load_image(_png_declaring(width, image.MAX_PIXELS // width))
    with pytest.raises(ImageError, match="image too large"):
        load_image(_png_declaring(width, image.MAX_PIXELS // width + 1))


def _load_without_hanging(path) -> ImageError:
    """``load_image(path)`` on a thread; fails the test if it is still waiting after 10 s (then
    a writer is opened on the FIFO to let the thread finish)."""
    import threading

    caught: list[BaseException] = []

    def load() -> None:
        try:
            load_image(path)
        except BaseException as exc:
            caught.append(exc)

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    thread.join(10)
    if thread.is_alive():
        with open(path, "wb"):
            pass
        thread.join(10)
        pytest.fail(f"load_image({path}) waited for a writer instead of refusing the file")
    (error,) = caught
    assert isinstance(error, ImageError), error
    return error


def test_a_fifo_named_as_a_photo_is_refused_before_it_is_opened(tmp_path):
    import os

    fifo = tmp_path / "photo.jpg"
    os.mkfifo(fifo)
    error = _load_without_hanging(fifo)
    assert str(error) == f"{fifo}: a FIFO, not a regular file: expected an image file"


def test_devices_and_sockets_are_refused_as_photos(tmp_path):
    import socket

    assert str(_load_without_hanging("/dev/null")) == (
        "/dev/null: a character device, not a regular file: expected an image file"
    )
    path = tmp_path / "s.png"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    try:
        assert str(_load_without_hanging(path)) == (
            f"{path}: a socket, not a regular file: expected an image file"
        )
    finally:
        server.close()
    link = tmp_path / "link.jpg"
    link.symlink_to("/dev/null")
    assert "a character device, not a regular file" in str(_load_without_hanging(link))
