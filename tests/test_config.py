"""Settings: every key from the config file, the environment or a flag is type- and
range-checked at start, with a one-line usage error naming the key."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from gatekeeper import cli
from gatekeeper.config import DEFAULT_THRESHOLD, load_settings
from gatekeeper.decision import THRESHOLD_RANGE, validate_threshold
from gatekeeper.errors import UsageError


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gatekeeper.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("threshold = 50.0", "threshold 50.0 is outside the sane range 0.3–0.8"),
        ('threshold = "abc"', "threshold must be a number, not str 'abc'"),
        ('threshold = "0.5"', "threshold must be a number, not str '0.5'"),
        ('liveness_threshold = "0.8"', "liveness_threshold must be a number, not str '0.8'"),
        ("threshold = -1", "threshold -1 is outside the sane range"),
        ("threshold = nan", "threshold nan is outside the sane range"),
        ("threshold = inf", "threshold inf is outside the sane range"),
        ("threshold = true", "threshold must be a number, not bool"),
        ("threshold = 0.29", "outside the sane range 0.3–0.8 (the decision rule's score)"),
        ('busy_timeout_s = "x"', "busy_timeout_s must be a number, not str 'x'"),
        ("busy_timeout_s = -2", "busy_timeout_s must be >= 0"),
        ("audit_key = 12345", "audit_key must be text, not int 12345"),
        ('audit_key = ""', "audit_key cannot be empty"),
        ('audit_key = "a"', "audit_key is 1 byte long; at least 16 are needed"),
        ('audit_key = "fifteen-bytes!!"', "audit_key is 15 bytes long; at least 16 are needed"),
        ("votes_required = 2.5", "votes_required must be a whole number"),
        ("votes_window = 0", "votes_window must be at least 1"),
        ("votes_required = 9", "votes_required (9) cannot exceed votes_window (5)"),
        ("fps = 0", "fps must be > 0"),
        ('loop = "yes"', "loop must be true or false"),
        ("mute = 1", "mute must be true or false, not int 1"),
        ('greeting = "Hello {nom}"', "greeting may hold {name} and no other placeholder"),
        ('camera_id = "door[/b]"', "camera_id: a name cannot contain '/'"),
        ('camera_id = "door\\u202e1"', "camera_id: a name cannot contain the invisible"),
        ("camera_id = 7", "camera_id must be text, not int 7"),
        ("recognition_interval_s = -1", "recognition_interval_s must be >= 0"),
        ("db = []", "db must be text, not list"),
        ('liveness = "active"', "liveness must be one of passive, off, got 'active'"),
        ("liveness = false", "liveness must be one of passive, off, got False"),
        ("liveness_threshold = 0.2", "liveness_threshold 0.2 is outside the sane range 0.3–0.95"),
        ("liveness_threshold = 75", "liveness_threshold 75 is outside the sane range"),
        ("liveness_threshold = nan", "liveness_threshold nan is outside the sane range"),
        ('liveness_threshold = "high"', "liveness_threshold must be a number, not str 'high'"),
        ("visitors = true", "visitors must be a table ([visitors]), not bool True"),
        ("[visitors]\nkeep = 1", "visitors.keep must be true or false, not int 1"),
        ("[visitors]\nretention_days = 0", "visitors.retention_days must be > 0, got 0"),
        ("[visitors]\nretention_days = -3", "visitors.retention_days must be > 0, got -3"),
        ('[visitors]\nretention_days = "30"', "visitors.retention_days must be a number, not"),
        ("[visitors]\nretention_days = inf", "visitors.retention_days must be > 0, got inf"),
        ("[visitors]\nkeep = true\ndays = 3", "unknown key(s) in [visitors]: days"),
    ],
)
def test_a_bad_config_value_is_a_usage_error_naming_the_key(
    tmp_path: Path, line: str, message: str
) -> None:
    path = _config(tmp_path, line + "\n")
    with pytest.raises(UsageError) as caught:
        load_settings(path, environ={}, home=str(tmp_path))
    assert str(caught.value).startswith(f"{path}: ") or "votes_required (9)" in message
    assert message in str(caught.value)


def test_good_config_values_are_taken(tmp_path: Path) -> None:
    path = _config(
        tmp_path,
        'threshold = 0.6\ncamera = 0\ncamera_id = "front-door"\nvotes_required = 2\n'
        'greeting = "Hello {name}!"\nmute = true\nbusy_timeout_s = 2\n',
    )
    settings = load_settings(path, environ={}, home=str(tmp_path))
    assert settings.threshold == 0.6
    assert settings.camera == "0"
    assert settings.camera_id == "front-door"
    assert settings.votes_required == 2 and settings.mute
    assert settings.busy_timeout_s == 2.0


def test_visitor_crops_are_off_by_default_and_kept_as_configured(tmp_path: Path) -> None:
    default = load_settings(None, environ={}, home=str(tmp_path)).visitors
    assert (default.keep, default.retention_days) == (False, 30.0)
    path = _config(tmp_path, "threshold = 0.6\n[visitors]\nkeep = true\nretention_days = 7\n")
    visitors = load_settings(path, environ={}, home=str(tmp_path)).visitors
    assert (visitors.keep, visitors.retention_days) == (True, 7.0)
    path = _config(tmp_path, "[visitors]\nretention_days = 0.5\n")
    visitors = load_settings(path, environ={}, home=str(tmp_path)).visitors
    assert (visitors.keep, visitors.retention_days) == (False, 0.5)


def test_flags_are_checked_like_the_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"votes_required \(10\) cannot exceed votes_window \(5\)"):
        load_settings(environ={}, home=str(tmp_path), votes_required=10, votes_window=5)
    with pytest.raises(UsageError, match="camera_id: a name cannot contain control character"):
        load_settings(environ={}, home=str(tmp_path), camera_id="door\n2")


def test_a_home_that_is_a_file_is_a_usage_error(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.write_text("not a folder", encoding="utf-8")
    with pytest.raises(UsageError, match="is not a directory"):
        load_settings(environ={}, home=str(home))


def test_the_default_threshold_is_inside_its_own_range() -> None:
    low, high = THRESHOLD_RANGE
    assert low <= DEFAULT_THRESHOLD <= high
    assert validate_threshold(str(DEFAULT_THRESHOLD)) == DEFAULT_THRESHOLD


@pytest.mark.parametrize("value", [0.0, 0.2999, 0.8001, 4.0, math.nan, -math.inf, "0,6", None])
def test_validate_threshold_refuses_values_outside_the_range(value: object) -> None:
    with pytest.raises(UsageError):
        validate_threshold(value)


@pytest.mark.parametrize(
    "argv",
    [
        ["threshold", "50"],
        ["threshold", "0.81"],
        ["threshold", "nan"],
    ],
)
def test_the_threshold_command_refuses_values_outside_the_range(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    code = cli.main(["--home", str(tmp_path), *argv])
    err = capsys.readouterr().err
    assert code == 2
    assert "outside the sane range 0.3–0.8" in err and err.count("\n") == 1


@pytest.mark.parametrize("text", ["threshold = 50.0", 'threshold = "abc"', "threshold = -1"])
def test_the_cli_refuses_a_bad_config_before_doing_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    path = _config(tmp_path, text + "\n")
    code = cli.main(["--home", str(tmp_path), "--config", str(path), "people"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(f"gatekeeper: {path}: threshold")
    assert "internal error" not in err
    assert not (tmp_path / "data").exists()


def test_liveness_settings_are_taken_and_the_default_is_inside_its_range(tmp_path: Path) -> None:
    from gatekeeper.decision import LIVENESS_THRESHOLD_RANGE

    default = load_settings(environ={}, home=str(tmp_path))
    assert (default.liveness, default.liveness_threshold) == ("passive", 0.75)
    low, high = LIVENESS_THRESHOLD_RANGE
    assert low < default.liveness_threshold < high
    path = _config(tmp_path, 'liveness = "off"\nliveness_threshold = 0.9\n')
    settings = load_settings(path, environ={}, home=str(tmp_path))
    assert (settings.liveness, settings.liveness_threshold) == ("off", 0.9)


def test_numbers_are_numbers_in_the_file_and_text_on_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A TOML string is never taken for a number (``threshold = "0.5"`` is refused as
    ``mute = "yes"`` is); flags are text by nature and still parse."""
    path = _config(tmp_path, 'threshold = "0.5"\n')
    code = cli.main(["--home", str(tmp_path), "--config", str(path), "threshold"])
    assert code == 2
    assert capsys.readouterr().err == (
        f"gatekeeper: {path}: threshold must be a number, not str '0.5'\n"
    )
    assert cli.main(["--home", str(tmp_path), "threshold", "0.5"]) == 0
    assert capsys.readouterr().out == "threshold 0.6 -> 0.5\n"
    settings = load_settings(environ={}, home=str(tmp_path), busy_timeout_s=2, fps=2)
    assert (settings.busy_timeout_s, settings.fps) == (2.0, 2.0)


def test_an_audit_key_counts_bytes_and_is_checked_from_the_environment_too(
    tmp_path: Path,
) -> None:
    six_characters = "王小明王小明"  # 18 bytes in UTF-8
    settings = load_settings(environ={"GATEKEEPER_AUDIT_KEY": six_characters}, home=str(tmp_path))
    assert settings.audit_key == six_characters
    assert load_settings(environ={"GATEKEEPER_AUDIT_KEY": "x" * 16}, home=str(tmp_path)).audit_key
    with pytest.raises(UsageError, match="audit_key is 3 bytes long; at least 16 are needed"):
        load_settings(environ={"GATEKEEPER_AUDIT_KEY": "abc"}, home=str(tmp_path))


KEY = 'audit_key = "a-key-of-twenty-four-bytes"\n'
WEBHOOK = '[[actions]]\nkind = "webhook"\non = ["granted"]\nurl = "https://h.example/x"\n'
MQTT = '[[actions]]\nkind = "mqtt"\non = ["granted"]\nhost = "b"\nusername = "gk"\n'


@pytest.mark.parametrize(
    ("text", "named"),
    [
        (KEY, "audit_key"),
        ('db = "postgresql://gate:pw-in-url@db.example/site"\n', "db"),
        ('camera = "rtsp://admin:cam-pw@192.168.1.20/stream1"\n', "camera"),
        (WEBHOOK + 'secret = "signing-secret-1234"\n', "actions[1].secret"),
        (MQTT + 'password = "broker-pass"\n', "actions[1].password"),
    ],
)
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_a_config_file_holding_a_secret_that_others_may_read_is_refused(
    tmp_path: Path, text: str, named: str, mode: int
) -> None:
    path = _config(tmp_path, text)
    path.chmod(mode)
    with pytest.raises(UsageError) as caught:
        load_settings(path, environ={}, home=str(tmp_path))
    message = str(caught.value)
    assert message.startswith(f"config file {path} holds secrets ({named}) and ")
    assert f"(mode {mode:04o}): chmod 600 {path}" in message
    for secret in ("a-key-of-twenty", "pw-in-url", "cam-pw", "signing-secret", "broker-pass"):
        assert secret not in message, "a refusal never shows the secret"
    path.chmod(0o600)
    assert load_settings(path, environ={}, home=str(tmp_path)).home == tmp_path.resolve()


def test_a_readable_config_without_secrets_is_fine(tmp_path: Path) -> None:
    path = _config(
        tmp_path,
        'db = "postgresql://gate@db.example/site"\ncamera = "rtsp://192.168.1.20/s"\n' + WEBHOOK,
    )
    path.chmod(0o644)
    assert load_settings(path, environ={}, home=str(tmp_path)).db.startswith("postgresql://")


def test_a_config_that_is_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    import os

    from helpers import run_process

    fifo = tmp_path / "site.toml"
    os.mkfifo(fifo)
    result = run_process("--home", tmp_path / "home", "--config", fifo, "people", timeout=60)
    assert (result.code, result.err) == (
        2,
        f"gatekeeper: config file {fifo} is not a regular file\n",
    )


def test_doctor_reports_an_exposed_config_and_a_short_key_where_others_refuse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _config(tmp_path, 'audit_key = "short"\n' + WEBHOOK + 'secret = "signing-secret-1"\n')
    path.chmod(0o644)
    base = ["--home", str(tmp_path / "home"), "--mute", "--config", str(path)]
    assert cli.main([*base, "people"]) == 2
    assert capsys.readouterr().err == (
        f"gatekeeper: {path}: audit_key is 5 bytes long; at least 16 are needed (e.g. python3 "
        "-c 'import secrets; print(secrets.token_urlsafe(32))')\n"
    )
    assert cli.main([*base, "doctor"]) == 1
    out = capsys.readouterr().out
    (line,) = [line for line in out.splitlines() if "secrets:" in line]
    assert line.startswith(
        f"FAIL  secrets: config file {path} holds secrets (audit_key, actions[1].secret) and "
        "its group and others may read it (mode 0644)"
    )
    assert "; audit_key is 5 bytes long; at least 16 are needed" in line
    assert "short" not in line and "signing-secret" not in out

    path.write_text('audit_key = "a-key-of-twenty-four-bytes"\n', encoding="utf-8")
    path.chmod(0o600)
    assert cli.main([*base, "doctor"]) in (0, 1)
    (line,) = [line for line in capsys.readouterr().out.splitlines() if "secrets:" in line]
    assert line == "OK    secrets: audit key of 26 bytes; no secret readable by others in it"


def test_a_config_with_the_removed_facenet_threshold_says_what_replaced_it(tmp_path: Path) -> None:
    config = tmp_path / "gatekeeper.toml"
    config.write_text("facenet_threshold = 1.0\n", encoding="utf-8")
    with pytest.raises(UsageError) as refused:
        load_settings(config, environ={})
    assert str(refused.value) == (
        f"unknown key(s) in {config}: facenet_threshold; facenet_threshold: no longer a "
        "setting: the decision rule weighs every encoder with weights fitted on held-out "
        "data; move 'threshold' instead"
    )
