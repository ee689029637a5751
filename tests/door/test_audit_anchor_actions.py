"""The audit anchor sent through the door's own action kinds (``gatekeeper/anchor.py``): a
webhook, an MQTT broker and a command receive the head, and what they received is an anchor
file that ``audit verify --anchor`` reads."""

from __future__ import annotations

import json
from pathlib import Path

from endpoints import Subscriber, signed_by, wait_for

from gatekeeper.anchor import (
    ANCHOR_RULE,
    AnchorPublisher,
    AnchorSpec,
    parse_anchor,
    read_kept_heads,
)
from gatekeeper.door.registry import parse_actions
from gatekeeper.store import Store


def _anchored(store: Store, spec: AnchorSpec, actions) -> AnchorPublisher:
    publisher = AnchorPublisher(spec, store, actions)
    store.on_commit(publisher.committed)
    publisher.start()
    return publisher


def _verify_against(store: Store, tmp_path: Path, lines: list[bytes | str]) -> None:
    """What an endpoint kept, written as an anchor file, verifies against the store."""
    keep = tmp_path / "received.jsonl"
    keep.write_text(
        "".join(f"{line if isinstance(line, str) else line.decode()}\n" for line in lines)
    )
    heads = read_kept_heads(keep)
    head = store.chain_head()
    assert [(h.seq, h.hash, h.signature) for h in heads][-1] == (head.seq, head.hash, None)
    assert store.verify_chain(anchor=heads).ok


def test_the_head_is_posted_to_the_sites_webhook(store: Store, http, tmp_path: Path) -> None:
    endpoint = http()
    actions = parse_actions(
        "actions",
        [
            {
                "kind": "webhook",
                "name": "guard",
                "on": ["unknown"],
                "url": endpoint.url,
                "secret": "s",
            }
        ],
    )
    publisher = _anchored(store, AnchorSpec(actions=("guard",)), actions)
    store.log_admin_event("export", "0 attempts")
    wait_for(lambda: len(endpoint.received) == 1)
    publisher.close()
    (request,) = endpoint.received
    payload = request.json()
    assert (payload["decision"], payload["camera"], payload["rule"]) == (
        "alert",
        "site",
        ANCHOR_RULE,
    )
    assert json.loads(payload["message"])["seq"] == 2
    assert signed_by(request, "s"), "signed like every webhook of the site"
    _verify_against(store, tmp_path, [request.body])


def test_the_head_is_published_to_the_sites_broker(store: Store, broker, tmp_path: Path) -> None:
    subscriber = Subscriber(broker)
    actions = parse_actions(
        "actions",
        [
            {
                "kind": "mqtt",
                "name": "home-assistant",
                "on": ["granted"],
                "host": broker.host,
                "port": broker.port,
                "qos": 1,
            }
        ],
    )
    publisher = _anchored(store, AnchorSpec(actions=("home-assistant",)), actions)
    store.log_admin_event("export", "0 attempts")  # sent while the client may still connect
    wait_for(lambda: len(subscriber.messages) == 1)
    publisher.close()
    subscriber.close()
    ((topic, body, retained),) = subscriber.messages
    assert (topic, retained) == ("gatekeeper/site/alert", False)
    _verify_against(store, tmp_path, [json.loads(body)["message"]])


def test_the_head_is_given_to_a_command(store: Store, recorder, tmp_path: Path) -> None:
    spec = parse_anchor("audit_anchor", {"command": recorder.argv, "timeout_s": 5})
    publisher = _anchored(store, spec, ())
    store.log_admin_event("export", "0 attempts")
    wait_for(lambda: len(recorder.runs()) == 1)
    publisher.close()
    (run,) = recorder.runs()
    assert run["env"]["GATEKEEPER_RULE"] == ANCHOR_RULE
    assert json.loads(run["env"]["GATEKEEPER_MESSAGE"]) == store.chain_head().record()
    _verify_against(store, tmp_path, [run["stdin"]])
