"""gatekeeper models: every encoder listed with what they need, installed or not."""

from __future__ import annotations

import json


def test_models_lists_every_encoder_installed(run, home):
    listed = json.loads(run("--home", home, "models", "--json").out)
    assert [m["model_id"] for m in listed] == [
        "dlib_resnet_v1", "facenet_keras_v1", "sface_int8bq_v1"
    ]  # fmt: skip
    assert all(m["installed"] and m["problem"] is None for m in listed)
    assert [m["input_size"] for m in listed] == [150, 160, 112]
    assert listed[1]["parameters"] == 22_808_144
    assert listed[1]["size_bytes"] > 80_000_000


def test_models_on_a_fresh_home_says_what_would_be_fetched(run, bare_home):
    result = run("--home", bare_home, "models")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0] == "dlib_resnet_v1: not installed"
    assert lines[4] == "facenet_keras_v1: not installed (downloads 85.1 MB once)"
    assert "gatekeeper models install facenet --from FILE" in result.out


def test_models_install_from_a_missing_file_is_a_usage_error(run, bare_home):
    result = run("--home", bare_home, "models", "install", "facenet", "--from", bare_home / "x")
    assert result.code == 2 and "no such file" in result.err
    unknown = run("--home", bare_home, "models", "install", "arcface")
    assert unknown.code == 2 and "unknown model 'arcface'" in unknown.err
