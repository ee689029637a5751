"""Before a decision uses the live state, the store says whether the audit chain vouches for
it (``Store.state_problem``): a person re-activated, a template moved to another person or a
state record rewritten with the database's own driver is caught there, on both backends, and
``accept_state`` re-signs a state an operator decides to keep."""

from __future__ import annotations

import hashlib

from helpers import DatabaseUnderTest

from gatekeeper.store import Store, state
from gatekeeper.store.audit import CHAINED_COLUMNS, row_hash
from gatekeeper.store.models import THRESHOLD_KEY


def _enrol(store: Store, name: str, seed: int, make_embedding) -> None:
    embedding = make_embedding(seed)
    store.add_encoding(
        name,
        model_id="dlib_resnet_v1",
        embedding=embedding,
        image_sha256=hashlib.sha256(embedding.tobytes()).hexdigest(),
    )


def test_a_state_changed_through_the_store_is_vouched_for(store: Store, make_embedding) -> None:
    _enrol(store, "Alice", 1, make_embedding)
    store.set_active("Alice", False)
    store.set_threshold(0.55)
    assert store.state_problem() is None


def test_a_person_reactivated_with_sql_is_disowned_until_restored(
    store: Store, database: DatabaseUnderTest, make_embedding
) -> None:
    _enrol(store, "Alice", 1, make_embedding)
    store.set_active("Alice", False)
    with database.raw() as connection:
        connection.execute("UPDATE person SET active = TRUE WHERE name = 'Alice'")
    assert "the people (names, display names, active flags) differ" in store.state_problem()
    with database.raw() as connection:
        connection.execute("UPDATE person SET active = FALSE WHERE name = 'Alice'")
    assert store.state_problem() is None


def test_a_template_moved_to_another_person_is_disowned(
    store: Store, database: DatabaseUnderTest, make_embedding
) -> None:
    """Alice's face opening the door as Bob: the gallery's digest covers whose template each
    encoding is, not only the embeddings."""
    _enrol(store, "Alice", 1, make_embedding)
    _enrol(store, "Bob", 2, make_embedding)
    with database.raw() as connection:
        connection.execute(
            "UPDATE face_encoding SET person_id = (SELECT id FROM person WHERE name = 'Bob')"
        )
    assert "the gallery (encodings) differ" in store.state_problem()


def test_a_threshold_loosened_with_sql_is_disowned(
    store: Store, database: DatabaseUnderTest
) -> None:
    store.set_threshold(0.55)
    with database.raw() as connection:
        connection.execute("UPDATE setting SET value = '0.8' WHERE key = ?", (THRESHOLD_KEY,))
    assert "the settings (the threshold) differ" in store.state_problem()


def test_a_state_record_rewritten_to_match_is_caught_by_the_rows_after_it(
    store: Store, database: DatabaseUnderTest, make_embedding, attempt
) -> None:
    """The tamperer re-activates Alice, rewrites the newest state record's detail to the new
    digests and re-hashes that row: the attempt chained after it still links to the original."""
    _enrol(store, "Alice", 1, make_embedding)
    store.set_active("Alice", False)
    store.record_attempt(**attempt(decision="denied", reason="deactivated"))
    with database.raw() as connection:
        connection.execute("UPDATE person SET active = TRUE WHERE name = 'Alice'")
    assert store.state_problem() is not None
    with store.dialect.snapshot(store._db):
        now = state.current(store.dialect, store._db)
    columns = ", ".join(CHAINED_COLUMNS["admin_event"])
    with database.raw() as connection:
        row_id, seq, prev, *values = connection.execute(
            f"SELECT id, seq, prev_hash, {columns} FROM admin_event WHERE kind = 'state' "
            "ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        values[-1] = now.record()
        digest = row_hash("admin_event", seq, prev, values)
        connection.execute(
            "UPDATE admin_event SET detail = ?, row_hash = ? WHERE id = ?",
            (values[-1], digest, row_id),
        )
    assert store.state_problem() == "the audit log since the last state record is not intact"


def test_a_keyless_reader_of_a_keyed_site_is_not_vouched_for_by_a_forged_head(
    store: Store, database: DatabaseUnderTest
) -> None:
    with database.raw() as connection:
        connection.execute("UPDATE chain_head SET signature = NULL WHERE id = 1")
    assert "not signed" in store.state_problem()


def test_accepting_the_state_re_signs_it_and_is_chained(
    store: Store, database: DatabaseUnderTest, make_embedding
) -> None:
    _enrol(store, "Alice", 1, make_embedding)
    store.set_active("Alice", False)
    with database.raw() as connection:
        connection.execute("UPDATE person SET active = TRUE WHERE name = 'Alice'")
    version = store.data_version()
    assert store.accept_state() == ["people"]
    assert store.state_problem() is None
    assert store.data_version() != version
    assert store.verify_chain().ok
    with database.raw() as connection:
        events = connection.execute(
            "SELECT detail FROM admin_event WHERE kind = 'state_accept'"
        ).fetchall()
    assert [tuple(e) for e in events] == [("accepted the changed people",)]
    assert store.accept_state() == []
