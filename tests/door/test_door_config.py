"""``[[actions]]`` and ``[[alerts]]`` in the TOML config: every key checked, one-line errors
naming the entry and the key, and the command line exiting 2 on a bad one."""

from __future__ import annotations

from pathlib import Path

import pytest

from gatekeeper import cli
from gatekeeper.config import load_settings
from gatekeeper.door.command import CommandSpec
from gatekeeper.door.mqtt import MqttSpec
from gatekeeper.door.webhook import WebhookSpec
from gatekeeper.errors import UsageError

FULL = """
[[actions]]
kind = "command"
name = "strike"
on = ["granted"]
cameras = ["front-door"]
argv = ["/usr/local/bin/pulse-relay", "--channel", "1"]
timeout_s = 5

[[actions]]
kind = "webhook"
on = ["granted", "unknown", "alert"]
url = "https://door.example.net/hook?token=t0ps3cret"
secret = "s3cret-signing-key"
retries = 3
backoff_s = 0.25

[[actions]]
kind = "mqtt"
name = "home-assistant"
on = ["granted", "spoof", "alert"]
host = "homeassistant.local"
username = "gatekeeper"
password = "mqtt-pass-word"
topic = "gatekeeper/{camera}/{decision}/{name}"
qos = 2

[[alerts]]
kind = "unknown_attempts"
count = 5
within_min = 2

[[alerts]]
kind = "spoof"

[[alerts]]
kind = "camera_lost"
cameras = ["front-door"]
after_s = 30

[[alerts]]
kind = "database_unavailable"
after_s = 0
"""


def write_config(path: Path, text: str) -> Path:
    """``text`` as the config file ``path``, readable by its owner alone: a config holding
    secrets (``FULL`` does) is refused otherwise."""
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return path


def settings_of(tmp_path, text: str):
    config = write_config(tmp_path / "gatekeeper.toml", text)
    return load_settings(config, environ={}, home=str(tmp_path))


def test_a_full_config_is_read_with_its_defaults(tmp_path):
    settings = settings_of(tmp_path, FULL)
    strike, hook, mqtt = settings.actions
    assert isinstance(strike, CommandSpec) and isinstance(hook, WebhookSpec)
    assert isinstance(mqtt, MqttSpec)
    assert (strike.name, strike.on, strike.cameras, strike.timeout_s) == (
        "strike",
        ("granted",),
        ("front-door",),
        5.0,
    )
    assert strike.argv == ("/usr/local/bin/pulse-relay", "--channel", "1")
    assert (hook.name, hook.cameras, hook.timeout_s, hook.retries, hook.backoff_s) == (
        "webhook-2",
        None,
        2.0,
        3,
        0.25,
    )
    assert (mqtt.port, mqtt.qos, mqtt.username) == (1883, 2, "gatekeeper")
    rules = {rule.name: rule for rule in settings.alerts}
    assert (rules["unknown_attempts"].count, rules["unknown_attempts"].within_s) == (5, 120.0)
    assert rules["camera_lost"].cameras == ("front-door",)
    assert rules["database_unavailable"].after_s == 0.0


def test_secrets_never_show_in_a_repr_or_a_description(tmp_path):
    settings = settings_of(tmp_path, FULL)
    shown = repr(settings) + " ".join(spec.describe() for spec in settings.actions)
    for secret in ("s3cret-signing-key", "mqtt-pass-word", "t0ps3cret"):
        assert secret not in shown
    assert "POST https://door.example.net:443/…, signed" in settings.actions[1].describe()


def action(body: str) -> str:
    return f'[[actions]]\nkind = "webhook"\non = ["granted"]\nurl = "http://h/x"\n{body}\n'


def command_action(body: str) -> str:
    return f'[[actions]]\nkind = "command"\non = ["granted"]\nargv = ["/bin/true"]\n{body}\n'


def test_max_ages_are_one_number_or_one_per_decision_and_default_by_decision(tmp_path):
    text = (
        '[[actions]]\nkind = "webhook"\non = ["granted", "unknown", "alert"]\nurl = "http://h"\n'
        "max_age_s = { granted = 2.5 }\n"
        '[[actions]]\nkind = "webhook"\non = ["granted", "denied"]\nurl = "http://h"\n'
        "max_age_s = 8\n"
        '[[actions]]\nkind = "webhook"\non = ["granted", "spoof"]\nurl = "http://h"\n'
    )
    first, second, third = settings_of(tmp_path, text).actions
    assert [first.max_age(d) for d in first.on] == [2.5, 30.0, 300.0]
    assert [second.max_age(d) for d in second.on] == [8.0, 8.0]
    assert [third.max_age(d) for d in third.on] == [5.0, 30.0]
    assert "(a try ≤ 2 s; not sent later than granted 2.5 s, unknown 30 s, alert 300 s)" in (
        first.describe()
    )


def test_a_command_names_the_variables_it_gets(tmp_path):
    (spec,) = settings_of(tmp_path, command_action('env = ["RELAY_PORT", "lc_x"]')).actions
    assert spec.env == ("RELAY_PORT", "lc_x")
    assert "→ /bin/true (passes RELAY_PORT, lc_x; contained by " in spec.describe()


def test_credentials_in_a_webhook_url_are_basic_auth_and_never_shown(tmp_path):
    text = action("").replace("http://h/x", "https://gk:t0p%2Fs3cret@lock.example.net/open")
    (spec,) = settings_of(tmp_path, text).actions
    shown = repr(spec) + spec.describe()
    assert "t0p" not in shown and "s3cret" not in shown
    assert "POST https://lock.example.net:443/…, basic auth as gk" in spec.describe()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (action("timeout_s = 'soon'"), "[[actions]] #1 (webhook-1): timeout_s must be a number"),
        (action("timeout_s = 0"), "timeout_s must be between 0.1 and 300, got 0"),
        (action("retries = 11"), "retries must be between 0 and 10, got 11"),
        (action("retries = 1.5"), "retries must be a whole number, not float 1.5"),
        (action("secret = ''"), "secret cannot be empty"),
        (action("cameras = 'door'"), "cameras must be a non-empty list of text"),
        (action("colour = 'red'"), "#1 (webhook-1): unknown key(s): colour"),
        (action("max_age_s = 'soon'"), "max_age_s must be a number, not str 'soon'"),
        (action("max_age_s = 0"), "max_age_s must be between 0.1 and 86400, got 0"),
        (action("max_age_s = true"), "max_age_s must be a number, not bool True"),
        (action("max_age_s = { granted = -1 }"), "max_age_s.granted must be between 0.1 and"),
        (action("max_age_s = { granted = '3' }"), "max_age_s.granted must be a number, not str"),
        (action("max_age_s = { alert = 60 }"), "max_age_s: 'alert' is not one of granted"),
        (action("max_age_s = [3]"), "max_age_s must be a number, not list [3]"),
        (action("name = 'front door'"), "name must be at most 64 printable characters"),
        ('[[actions]]\nkind = "webhook"\non = ["granted"]\n', "#1 (webhook-1): url is required"),
        (
            '[[actions]]\nkind = "webhook"\non = ["opened"]\nurl = "http://h"\n',
            "on: 'opened' is not one of granted, denied, unknown, spoof, alert",
        ),
        ('[[actions]]\nkind = "webhook"\non = []\nurl = "http://h"\n', "on must be a non-empty"),
        ('[[actions]]\nkind = "webhook"\nurl = "http://h"\n', "on is required"),
        (
            '[[actions]]\nkind = "webhook"\non = ["granted", "granted"]\nurl = "http://h"\n',
            "on lists a value twice",
        ),
        (
            '[[actions]]\nkind = "webhook"\non = ["granted"]\nurl = "ftp://h/x"\n',
            "url must be an http:// or https:// URL with a host",
        ),
        (
            '[[actions]]\nkind = "webhook"\non = ["granted"]\nurl = "http://h:99999/x"\n',
            "url has a bad port",
        ),
        ('[[actions]]\nkind = "relay"\non = ["granted"]\n', "kind must be one of command, webhook"),
        ('[[actions]]\non = ["granted"]\n', "[[actions]] #1: kind is required"),
        (
            '[[actions]]\nkind = "command"\non = ["granted"]\nargv = "/bin/relay"\n',
            "#1 (command-1): argv must be a non-empty list of text",
        ),
        (
            '[[actions]]\nkind = "command"\non = ["granted"]\nargv = ["/bin/relay", 1]\n',
            "argv must hold non-empty text only, got 1",
        ),
        (command_action('env = "RELAY_PORT"'), "env must be a non-empty list of text"),
        (command_action('env = ["RELAY PORT"]'), "env: 'RELAY PORT' is not a variable name"),
        (command_action('env = ["1X"]'), "env: '1X' is not a variable name"),
        (
            command_action('env = ["PGPASSWORD"]'),
            "env: PGPASSWORD is never passed to a door program (no GATEKEEPER_ or PG variable",
        ),
        (command_action('env = ["GATEKEEPER_AUDIT_KEY"]'), "env: GATEKEEPER_AUDIT_KEY is never"),
        (
            '[[actions]]\nkind = "mqtt"\non = ["granted"]\nhost = "b"\ntopic = "a/{person}"\n',
            "topic may hold {camera}, {decision}, {name} and no other placeholder",
        ),
        (
            '[[actions]]\nkind = "mqtt"\non = ["granted"]\nhost = "b"\ntopic = "a/#"\n',
            "topic cannot hold the wildcards + or #",
        ),
        (
            '[[actions]]\nkind = "mqtt"\non = ["granted"]\nhost = "b"\nqos = 3\n',
            "qos must be between 0 and 2, got 3",
        ),
        (
            '[[actions]]\nkind = "mqtt"\non = ["granted"]\nhost = "b"\npassword = "p"\n',
            "password needs a username",
        ),
        (
            '[[actions]]\nkind = "mqtt"\non = ["granted"]\nhost = "b"\nport = 0\n',
            "port must be between 1 and 65535",
        ),
        ('actions = "webhook"\n', "actions must be an array of tables ([[actions]])"),
        ("actions = [1]\n", "[[actions]] #1 must be a table, not int"),
        (
            action('name = "x"') + action('name = "x"'),
            "[[actions]]: two entries are named 'x'; names must be unique",
        ),
        (
            '[[alerts]]\nkind = "unknown_attempts"\ncount = 0\n',
            "[[alerts]] #1 (unknown_attempts): count must be between 1 and 1000, got 0",
        ),
        ('[[alerts]]\nkind = "camera_lost"\nafter_s = -1\n', "after_s must be between 0 and"),
        ('[[alerts]]\nkind = "spoof"\nafter_s = 3\n', "(spoof): unknown key(s): after_s"),
        ('[[alerts]]\nkind = "database_unavailable"\ncameras = ["a"]\n', "unknown key(s): cameras"),
        ('[[alerts]]\nkind = "fire"\n', "kind must be one of unknown_attempts, spoof"),
        (
            '[[alerts]]\nkind = "spoof"\n[[alerts]]\nkind = "spoof"\n',
            "[[alerts]]: two entries are named 'spoof'",
        ),
    ],
)
def test_a_bad_entry_is_one_line_naming_the_entry_and_the_key(tmp_path, text, message):
    with pytest.raises(UsageError) as error:
        settings_of(tmp_path, text)
    assert message in str(error.value)
    assert "\n" not in str(error.value)
    assert str(error.value).startswith(str(tmp_path / "gatekeeper.toml"))


def test_the_command_line_refuses_a_bad_action_with_exit_2(tmp_path, capsys):
    config = tmp_path / "bad.toml"
    config.write_text(action("retries = -1"), encoding="utf-8")
    code = cli.main(["--home", str(tmp_path / "home"), "--config", str(config), "people"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().splitlines() == [
        f"gatekeeper: {config}: [[actions]] #1 (webhook-1): retries must be between 0 and 10, "
        "got -1"
    ]
    assert not (tmp_path / "home").exists(), "nothing created for a refused config"


def test_doctor_lists_the_actions_and_fails_on_a_missing_relay_program(tmp_path, capsys):
    config = tmp_path / "door.toml"
    relay = tmp_path / "pulse-relay"
    write_config(config, FULL.replace("/usr/local/bin/pulse-relay", str(relay)))
    home = ["--home", str(tmp_path / "home"), "--mute", "--config", str(config)]
    code = cli.main([*home, "doctor"])
    lines = [line for line in capsys.readouterr().out.splitlines() if "door:" in line]
    assert code == 1
    assert len(lines) == 1 and lines[0].startswith("FAIL  door: 3 actions, 4 alert rules: ")
    assert f"strike: {relay}: not found, or not an executable file" in lines[0]
    assert (
        "home-assistant: mqtt on granted, spoof, alert → mqtt://gatekeeper@homeassistant"
        in lines[0]
    )
    assert "mqtt-pass-word" not in lines[0] and "s3cret" not in lines[0]
    assert "; a try ≤ 5 s; not sent later than granted 5 s)" in lines[0]
    assert "contained by " in lines[0]
    relay.write_text("#!/bin/sh\nexit 0\n")
    relay.chmod(0o755)
    cli.main([*home, "doctor"])
    (line,) = [line for line in capsys.readouterr().out.splitlines() if "door:" in line]
    assert line.startswith("OK    door: 3 actions, 4 alert rules")


def test_the_readme_example_config_is_valid(tmp_path):
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Opening the door", 1)[1]
    example = section.split("```toml\n", 1)[1].split("```", 1)[0]
    settings = settings_of(tmp_path, example)
    assert [(a.kind, a.name) for a in settings.actions] == [
        ("command", "strike"),
        ("mqtt", "home-assistant"),
        ("webhook", "guard"),
    ]
    assert [r.kind for r in settings.alerts] == [
        "unknown_attempts",
        "spoof",
        "camera_lost",
        "database_unavailable",
    ]


def test_doctor_warns_of_url_credentials_sent_in_clear_and_never_prints_them(tmp_path, capsys):
    config = tmp_path / "door.toml"
    hooks = [
        action('name = "lock"').replace("http://h/x", "http://gk:t0p-s3cret@lock.lan/open"),
        action('name = "local"').replace("http://h/x", "http://gk:l0cal-s3cret@127.0.0.1:8123/"),
    ]
    config.write_text("".join(hooks), encoding="utf-8")
    config.chmod(0o600)  # URLs with credentials: the owner's alone
    home = ["--home", str(tmp_path / "home"), "--mute", "--config", str(config)]
    code = cli.main([*home, "doctor"])
    out = capsys.readouterr().out
    (line,) = [line for line in out.splitlines() if "door:" in line]
    assert code == 0, "a warning does not fail the installation"
    assert line.startswith("WARN  door: 2 actions, 0 alert rules: ")
    assert "POST http://lock.lan:80/…, basic auth as gk" in line
    assert line.endswith(
        "; lock: the URL's credentials go unencrypted over http:// "
        "(hint: use https:// for a URL with credentials)"
    )
    assert "local: the URL" not in line, "loopback never leaves the machine"
    assert "s3cret" not in out
