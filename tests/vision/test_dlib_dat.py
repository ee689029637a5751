"""The .dat parser: primitive encodings from the format notes, the real file, damaged files."""

import pytest

from gatekeeper.errors import WeightsError
from gatekeeper.vision.dlib_dat import _Reader, parse_dlib_dat
from gatekeeper.vision.encoder import (
    check_topology,
    default_source,
    expected_layer_kinds,
    expected_wrapper_versions,
)


@pytest.mark.parametrize(
    ("raw", "value"),
    [(b"\x01\x00", 0), (b"\x01\x80", 128), (b"\x02\x00\x01", 256), (b"\x81\x1c", -28)],
)
def test_integer_encoding(raw, value):
    reader = _Reader(raw)
    assert reader.integer() == value
    assert reader.pos == len(raw)


def test_float_encoding_is_mantissa_times_power_of_two():
    # 0xa3d70a * 2**-28 = 0.04 (the loss margin of the real file)
    assert _Reader(b"\x03\x0a\xd7\xa3\x81\x1c").scalar() == pytest.approx(0.04, abs=1e-9)


@pytest.fixture(scope="module")
def dat_bytes():
    return default_source().read_bytes()


def test_real_file_parses_to_the_expected_topology(dat_bytes):
    net = parse_dlib_dat(dat_bytes)
    check_topology(net)
    assert [layer.kind for layer in net.layers] == expected_layer_kinds()
    assert net.wrapper_versions == expected_wrapper_versions()
    assert len(net.wrapper_versions) == 130
    assert net.input_size == (150, 150)
    assert net.channel_means == pytest.approx((122.782, 117.001, 104.298), abs=1e-3)
    assert net.loss_distance_threshold == pytest.approx(0.6)
    first, fc = net.layers[0], net.layers[-1]
    assert first.params["filters"].shape == (32, 3, 7, 7)
    assert first.params["stride"] == (2, 2) and first.params["padding"] == (0, 0)
    assert fc.params["weights"].shape == (256, 128) and fc.params["bias"] is None


def test_truncated_file_is_refused(dat_bytes):
    with pytest.raises(WeightsError, match="truncated"):
        parse_dlib_dat(dat_bytes[: len(dat_bytes) // 2])


def test_trailing_bytes_are_refused(dat_bytes):
    with pytest.raises(WeightsError, match="trailing"):
        parse_dlib_dat(dat_bytes + b"\x00")


def test_garbage_is_refused():
    with pytest.raises(WeightsError):
        parse_dlib_dat(b"this is not a dlib model")
