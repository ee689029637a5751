"""The door in the console: an alert is a banner until the operator acknowledges it (``a``),
and a failing door action is a notification."""

from __future__ import annotations

import contextlib
import json
import sqlite3

import pytest
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

from gatekeeper.door import AlertRule
from gatekeeper.door.webhook import WebhookSpec
from gatekeeper.tui.widgets import AlertBanner
from gatekeeper.vision.camera import open_source

pytestmark = pytest.mark.slow


def events(app, kind: str) -> list[dict]:
    with contextlib.closing(sqlite3.connect(app.site.settings.database)) as db:
        rows = db.execute(
            "SELECT detail FROM admin_event WHERE kind = ? ORDER BY seq", (kind,)
        ).fetchall()
    return [json.loads(detail) for (detail,) in rows]


async def test_a_spoof_alert_is_a_banner_until_acknowledged(
    console, wait_for, shared_data, tmp_path
):
    frames = shared_data / "liveness"
    attack = tmp_path / "attack"
    attack.mkdir()
    for spoof in sorted((frames / "spoof").glob("lestari15__*")):
        (attack / spoof.name).write_bytes(spoof.read_bytes())
    nowhere = "http://127.0.0.1:9/door"  # the discard port: nothing listens
    hook = WebhookSpec(
        name="guard-hook", on=("alert",), cameras=None, timeout_s=1.0, url=nowhere, retries=0
    )
    app = console(
        open_source(str(attack), fps=5, loop=True),
        alerts=(AlertRule("photo", "spoof"),),
        actions=(hook,),
        recognition_interval_s=3600.0,  # one spoof decision for the whole test
    )
    app.site.people.enrol("lestari", [frames / "live" / "lestari15__real_f0000.jpg"])
    async with app.run_test(size=(120, 40)) as pilot:
        banner = app.query_one(AlertBanner)
        assert not banner.display
        await wait_for(pilot, lambda: banner.display, 90)
        shown = str(banner.content)
        assert (
            "ALERT" in shown and "a photo or a screen of lestari was shown to camera desk" in shown
        )
        assert "a: acknowledge" in shown
        assert any(
            "ALERT: a photo or a screen of lestari" in m for m in app.notes.messages("error")
        )

        def keys() -> set[str]:
            return {key.description for key in app.query_one(Footer).query(FooterKey)}

        await wait_for(pilot, lambda: "Ack alert" in keys())
        await wait_for(
            pilot,
            lambda: any(
                m.startswith("Door action guard-hook failed (alert photo at desk): cannot connect")
                for m in app.notes.messages("error")
            ),
        )
        await pilot.press("a")
        await wait_for(pilot, lambda: not banner.display)
        await wait_for(pilot, lambda: "Ack alert" not in keys())
        await wait_for(pilot, lambda: events(app, "alert_ack"))
    (raised,) = events(app, "alert")
    (ack,) = events(app, "alert_ack")
    assert raised["rule"] == ack["rule"] == "photo" and ack["alert"] == raised["alert"]
    (outcome,) = events(app, "action")
    assert (outcome["action"], outcome["decision"], outcome["ok"]) == ("guard-hook", "alert", False)
    assert app.site.store.verify_chain().ok
