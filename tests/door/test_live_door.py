"""The door fed by the live worker: the real clip replayed with Lin enrolled reaches every
endpoint once per grant with her name and attempt id, while endpoints that are down or hang
fail in the chain; and, on a scripted camera, the door opens while the database refuses
writes, and the alert rules see the store's and the camera's states."""

from __future__ import annotations

import pytest
from endpoints import Subscriber, admin_events, signed_by, wait_for
from test_live import (
    CLIP,
    FlakyStore,
    ScriptedEngine,
    attempts,
    replay_the_clip,
    scripted,
)

from gatekeeper.config import Settings
from gatekeeper.door import AlertRule, Door
from gatekeeper.door.command import CommandSpec
from gatekeeper.door.mqtt import MqttSpec
from gatekeeper.door.webhook import WebhookSpec
from gatekeeper.errors import CameraError
from gatekeeper.live import LiveRecognizer
from gatekeeper.site import Site
from gatekeeper.vision.camera import CameraFeed, CameraState, open_source

GRANTED = ("granted",)


def hook(name: str, url: str, **options) -> WebhookSpec:
    values = {"timeout_s": 2.0, "retries": 0, "backoff_s": 0.01}
    return WebhookSpec(name=name, on=GRANTED, cameras=None, url=url, **(values | options))


@pytest.mark.slow
def test_the_clip_opens_the_door_once_per_grant_on_every_endpoint(
    tmp_path, shared_data, engine, http, refused_url, recorder, broker
):
    settings = Settings(home=tmp_path / "home", camera_id="door", recognition_interval_s=3.0)
    gatekeeper = Site.open(settings, engine=engine)
    probe = shared_data / "faces" / "probe"
    gatekeeper.people.enrol("lin", [probe / "lin-manuel-miranda.png"])
    gatekeeper.people.enrol("alex", [probe / "alex-lacamoire.png"])
    webhook, hanging = http(), http(hang=True)
    subscriber = Subscriber(broker)
    actions = [
        CommandSpec(
            name="relay", on=GRANTED, cameras=None, timeout_s=10.0, argv=tuple(recorder.argv)
        ),
        hook("hook", webhook.url, secret="site secret"),
        MqttSpec(
            name="ha", on=GRANTED, cameras=None, timeout_s=5.0, host=broker.host, port=broker.port
        ),
        hook("down", refused_url, retries=1),
        hook("stuck", hanging.url, timeout_s=1.0),
    ]
    door = Door(gatekeeper.store, actions)
    door.start()
    assert door.dispatcher.runner("ha").wait_connected(10)
    feed = open_source(str(shared_data / CLIP), fps=5.0, loop=False)
    recognizer = LiveRecognizer(gatekeeper, feed, door=door)
    replay_the_clip(recognizer, feed)
    granted = [r for r in attempts(gatekeeper) if r.decision == "granted"]
    assert granted and {r.person_name for r in granted} == {"lin"}
    wanted = [(r.id, "lin") for r in granted]
    try:
        wait_for(lambda: len(admin_events(gatekeeper.store.path, "action")) == 5 * len(granted), 30)
        wait_for(lambda: len(subscriber.messages) == len(granted))
    finally:
        door.close()
        hanging.release()
        subscriber.close()

    assert [
        (r["env"]["GATEKEEPER_ATTEMPT_ID"], r["env"]["GATEKEEPER_NAME"]) for r in recorder.runs()
    ] == [(str(i), n) for i, n in wanted]
    assert [(r.json()["attempt_id"], r.json()["name"]) for r in webhook.received] == wanted
    assert all(signed_by(r, "site secret") for r in webhook.received)
    assert [(p["attempt_id"], p["name"]) for p in subscriber.payloads()] == wanted
    assert [t for t, _, _ in subscriber.messages] == ["gatekeeper/door/granted"] * len(granted)

    outcomes = admin_events(gatekeeper.store.path, "action")
    by_action = {
        name: [o for o in outcomes if o["action"] == name]
        for name, *_ in [(a.name,) for a in actions]
    }
    for name in ("relay", "hook", "ha"):
        assert [(o["attempt_id"], o["ok"]) for o in by_action[name]] == [
            (i, True) for i, _ in wanted
        ], name
    assert [(o["attempt_id"], o["ok"], o["reason"], o["attempts"]) for o in by_action["down"]] == [
        (i, False, "cannot connect: Connection refused", 2) for i, _ in wanted
    ]
    assert [(o["attempt_id"], o["reason"]) for o in by_action["stuck"]] == [
        (i, "timed out after 1 s") for i, _ in wanted
    ]
    report = gatekeeper.store.verify_chain()
    assert report.ok, report
    gatekeeper.close()


def test_the_door_opens_while_the_database_refuses_and_an_alert_is_raised(tmp_path, recorder):
    """Ada granted while every write fails: the relay runs at once with a null attempt id,
    the ``database_unavailable`` rule raises (its alert fires the siren), and once the store is
    back the attempt, the outcomes and the alert are all chained."""
    relay = CommandSpec(
        name="relay", on=GRANTED, cameras=None, timeout_s=10.0, argv=tuple(recorder.argv)
    )
    siren = CommandSpec(
        name="siren", on=("alert",), cameras=None, timeout_s=10.0, argv=tuple(recorder.argv)
    )
    rules = [AlertRule("db", "database_unavailable", after_s=0.0)]
    doors: list[Door] = []
    gatekeeper, feed, events, recognizer = scripted(
        tmp_path,
        [1] * 5,
        fps=20,
        store=FlakyStore,
        door=lambda store: doors.append(Door(store, [relay, siren], rules)) or doors[0],
    )
    (door,) = doors
    gatekeeper.store.failing.set()
    door.start()
    recognizer.start()
    try:
        wait_for(lambda: len(recorder.runs()) == 2)
        runs = {r["env"]["GATEKEEPER_DECISION"]: r["env"] for r in recorder.runs()}
        assert (runs["granted"]["GATEKEEPER_NAME"], runs["granted"]["GATEKEEPER_ATTEMPT_ID"]) == (
            "ada",
            "",
        )
        assert runs["alert"]["GATEKEEPER_RULE"] == "db"
        assert runs["alert"]["GATEKEEPER_CAMERA"] == "site"
        (alert,) = door.alerts.active()
        assert alert.message.startswith("the database refuses writes for more than 0 s")
        gatekeeper.store.failing.clear()
        wait_for(lambda: recognizer.unrecorded == 0)
    finally:
        recognizer.stop()
    wait_for(lambda: len(admin_events(gatekeeper.store.path, "action")) == 2)
    door.close()
    (row,) = attempts(gatekeeper)
    assert (row.decision, row.person_name) == ("granted", "ada")
    granted = [e for e in admin_events(gatekeeper.store.path, "action") if e["action"] == "relay"]
    assert [(e["ok"], e["attempt_id"], e["time"]) for e in granted] == [
        (True, None, row.time.isoformat(timespec="microseconds"))
    ], "the outcome is tied to the delayed attempt by its time"
    assert [e["rule"] for e in admin_events(gatekeeper.store.path, "alert")] == ["db"]
    assert gatekeeper.store.verify_chain().ok


class RefusingCamera:
    """A stream that never opens: the feed is lost, then reconnecting, over and over."""

    description = "rtsp://door-camera.example:554/stream"
    live = True

    def open(self):
        raise CameraError("connection refused (test)")


def test_a_camera_that_cannot_be_reached_raises_the_camera_lost_alert(tmp_path):
    gatekeeper = Site.open(Settings(home=tmp_path, camera_id="gate"), engine=ScriptedEngine())
    feed = CameraFeed(RefusingCamera(), backoff_initial_s=30.0)
    door = Door(gatekeeper.store, (), [AlertRule("camera", "camera_lost", after_s=0.0)])
    recognizer = LiveRecognizer(gatekeeper, feed, door=door)
    door.start()
    recognizer.start()
    try:
        wait_for(lambda: door.alerts.active())
        assert feed.status().state in (CameraState.LOST, CameraState.RECONNECTING)
    finally:
        recognizer.stop()
        door.close()
    assert [a.message for a in door.alerts.active()] == ["camera gate lost for more than 0 s"]
    assert [e["message"] for e in admin_events(gatekeeper.store.path, "alert")] == [
        "camera gate lost for more than 0 s"
    ]
