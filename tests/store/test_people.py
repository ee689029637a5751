"""People, encodings, kept photos, the gallery and biometric erasure."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import DatabaseUnderTest

from gatekeeper.errors import NotFoundError, StoreError, UsageError
from gatekeeper.store import AttemptFilter, NewEncoding, Store, open_store

MODEL = "dlib_resnet_v1"


def _enrol(store: Store, name: str, seed: int, make_embedding: Callable, sha: Callable) -> str:
    photo = f"photo of {name} #{seed}".encode()
    digest = sha(photo)
    assert store.add_encoding(
        name, model_id=MODEL, embedding=make_embedding(seed), image_sha256=digest, photo=photo
    )
    return digest


def test_add_and_get_person_round_trip(store: Store) -> None:
    added = store.add_person("  José Núñez ", display_name="Dr. José Núñez")
    assert added.name == "José Núñez"
    assert store.get_person("José Núñez") == added
    assert added.display_name == "Dr. José Núñez"
    assert added.active
    assert added.created.utcoffset().total_seconds() == 0
    assert (added.encodings, added.photos, added.last_seen) == (0, 0, None)
    assert store.get_person("Nobody") is None


def test_display_name_defaults_to_the_name(store: Store) -> None:
    assert store.add_person("王小明").display_name == "王小明"


def test_adding_a_person_twice_is_refused(store: Store) -> None:
    store.add_person("Alice")
    with pytest.raises(UsageError, match="person already exists: Alice"):
        store.add_person(" Alice ")


@pytest.mark.parametrize("other", ["alice", "ALICE", "\uff41lice"])
def test_a_name_differing_only_in_case_or_width_is_the_same_person(
    store: Store, other: str, make_embedding: Callable, sha: Callable
) -> None:
    store.add_person("Alice")
    with pytest.raises(UsageError, match="already enrolled as 'Alice'"):
        store.add_person(other)
    with pytest.raises(UsageError, match="already enrolled as 'Alice'"):
        _enrol(store, other, 1, make_embedding, sha)
    assert [p.name for p in store.list_people()] == ["Alice"]
    assert len(store.gallery(MODEL).names) == 0


def test_look_alike_names_never_reach_the_database(store: Store) -> None:
    with pytest.raises(UsageError, match="several scripts"):
        store.add_person("\u043ebama")
    with pytest.raises(UsageError, match="U\\+200B"):
        store.add_person("o\u200bbama")
    assert store.list_people() == []


def test_list_people_counts_encodings_photos_and_last_seen(
    store: Store, make_embedding: Callable, sha: Callable, attempt: Callable
) -> None:
    _enrol(store, "Bob", 1, make_embedding, sha)
    _enrol(store, "Bob", 2, make_embedding, sha)
    store.add_person("Alice")
    bob = store.get_person("Bob")
    store.record_attempt(**attempt(name="Bob", person_id=bob.id))
    people = store.list_people()
    assert [p.name for p in people] == ["Alice", "Bob"]
    alice, bob = people
    assert (alice.encodings, alice.photos, alice.last_seen) == (0, 0, None)
    assert (bob.encodings, bob.photos) == (2, 2)
    assert bob.last_seen == store.query_attempts(AttemptFilter(), limit=1)[0].time


def test_same_image_twice_is_stored_once(
    store: Store, make_embedding: Callable, sha: Callable
) -> None:
    digest = _enrol(store, "Alice", 1, make_embedding, sha)
    again = store.add_encoding(
        "Alice", model_id=MODEL, embedding=make_embedding(9), image_sha256=digest, photo=b"x"
    )
    assert again is False
    assert store.get_person("Alice").encodings == 1
    assert np.array_equal(store.gallery(MODEL).embeddings[0], make_embedding(1))


def test_replace_overwrites_the_embedding_of_the_same_image(
    store: Store, make_embedding: Callable, sha: Callable
) -> None:
    digest = _enrol(store, "Alice", 1, make_embedding, sha)
    assert store.add_encoding(
        "Alice", model_id=MODEL, embedding=make_embedding(2), image_sha256=digest, replace=True
    )
    gallery = store.gallery(MODEL)
    assert len(gallery.names) == 1
    assert np.array_equal(gallery.embeddings[0], make_embedding(2))


def test_photo_is_kept_in_the_persons_folder_named_by_hash(
    store: Store, images_dir: Path, sha: Callable, make_embedding: Callable
) -> None:
    photo = b"\xff\xd8 jpeg bytes"
    digest = sha(photo)
    store.add_encoding(
        "王小明",
        model_id=MODEL,
        embedding=make_embedding(1),
        image_sha256=digest,
        photo=photo,
        photo_ext=".JPG",
    )
    kept = images_dir / "王小明" / f"{digest}.jpg"
    assert kept.read_bytes() == photo
    assert [p.path for p in store.list_photos("王小明")] == [kept]
    assert sorted(p.name for p in (images_dir / "王小明").iterdir()) == [f"{digest}.jpg"]


@pytest.mark.parametrize(
    "name", ["王" * 100, "é" * 100, "José " * 20], ids=["300-bytes", "200-bytes", "104-bytes"]
)
def test_a_name_of_any_byte_length_keeps_its_photos_in_a_folder_the_disk_accepts(
    store: Store,
    database: DatabaseUnderTest,
    images_dir: Path,
    sha: Callable,
    make_embedding: Callable,
    attempt: Callable,
    name: str,
) -> None:
    """A legal name of 100 characters may be 300 bytes of UTF-8 (王 is 3 bytes), past the
    255 bytes a file name may have: enrolment ended in ``OSError: File name too long``. A
    long name's folder is a prefix of it and a hash of the whole; the name itself is stored
    whole, and removal finds the folder again."""
    name = name.strip()
    photo = f"photo of {name}".encode()
    digest = sha(photo)
    assert store.add_encoding(
        name, model_id=MODEL, embedding=make_embedding(1), image_sha256=digest, photo=photo
    )
    (kept,) = store.list_photos(name)
    assert kept.path.read_bytes() == photo
    folder = kept.path.parent
    assert folder.parent == images_dir and len(folder.name.encode("utf-8")) <= 255
    if len(name.encode("utf-8")) <= 200:
        assert folder.name == name, "a name that fits is its own folder, as before"
    else:
        assert folder.name != name and name.startswith(folder.name.rsplit("~", 1)[0])
    assert store.get_person(name).name == name
    store.record_attempt(**attempt(name=name))
    assert [row.person_name for row in store.query_attempts(AttemptFilter(person=name))] == [name]
    report = store.remove_person(name)
    assert (report.photos_deleted, report.leftover_files) == (1, ())
    assert list(images_dir.iterdir()) == []
    assert store.verify_chain().ok


def test_long_names_sharing_a_prefix_get_folders_of_their_own() -> None:
    from gatekeeper.store.names import photo_folder

    first, second = "王" * 99 + "一", "王" * 99 + "二"
    assert photo_folder(first) != photo_folder(second)
    assert all(len(photo_folder(n).encode("utf-8")) > 200 for n in (first, second))
    assert photo_folder("王" * 66) == "王" * 66, "198 bytes: short enough to be itself"


def test_reencoding_under_a_new_model_reuses_the_kept_photo(
    store: Store, make_embedding: Callable, sha: Callable
) -> None:
    digest = _enrol(store, "Alice", 1, make_embedding, sha)
    (photo,) = store.list_photos()
    assert store.add_encoding(
        "Alice", model_id="other_model", embedding=make_embedding(5), image_sha256=digest
    )
    assert store.list_photos() == [photo]
    person = store.get_person("Alice")
    assert (person.encodings, person.photos) == (2, 1)


def test_add_encoding_creates_the_person(
    store: Store, make_embedding: Callable, sha: Callable
) -> None:
    _enrol(store, "Carol", 1, make_embedding, sha)
    assert store.get_person("Carol").encodings == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [("embedding", np.zeros(127, np.float32)), ("embedding", np.full(128, np.nan))],
)
def test_bad_embeddings_are_refused(store: Store, sha: Callable, field: str, value: Any) -> None:
    arguments = {"model_id": MODEL, "embedding": np.zeros(128), "image_sha256": sha(b"x")}
    arguments[field] = value
    with pytest.raises(ValueError, match="embedding"):
        store.add_encoding("Alice", **arguments)
    assert store.get_person("Alice") is None


def test_gallery_holds_active_people_of_one_model(
    store: Store, make_embedding: Callable, sha: Callable
) -> None:
    _enrol(store, "Bob", 1, make_embedding, sha)
    _enrol(store, "Alice", 2, make_embedding, sha)
    _enrol(store, "Alice", 3, make_embedding, sha)
    store.add_encoding("Dan", model_id="other", embedding=make_embedding(4), image_sha256=sha(b"d"))
    store.set_active("Bob", False)
    gallery = store.gallery(MODEL)
    assert gallery.names == ["Alice", "Alice"]
    assert gallery.embeddings.dtype == np.float32
    assert gallery.embeddings.shape == (2, 128)
    assert np.array_equal(gallery.embeddings, np.stack([make_embedding(2), make_embedding(3)]))
    assert gallery.person_ids == [store.get_person("Alice").id] * 2
    everyone = store.gallery(MODEL, include_inactive=True)
    assert everyone.names == ["Alice", "Alice", "Bob"]
    assert everyone.active.tolist() == [True, True, False]


def test_empty_gallery_has_shape_0_by_128(store: Store) -> None:
    assert store.gallery(MODEL).embeddings.shape == (0, 128)


def test_data_version_changes_with_people_and_encodings_only(
    store: Store, make_embedding: Callable, sha: Callable, attempt: Callable
) -> None:
    seen = [store.data_version()]
    store.add_person("Alice")
    seen.append(store.data_version())
    _enrol(store, "Alice", 1, make_embedding, sha)
    seen.append(store.data_version())
    store.set_active("Alice", False)
    seen.append(store.data_version())
    store.remove_person("Alice")
    seen.append(store.data_version())
    assert len(set(seen)) == len(seen)
    store.record_attempt(**attempt(decision="unknown", name=None))
    store.set_threshold(0.5)
    assert store.data_version() == seen[-1]
    assert store.gallery(MODEL).version == seen[-1]


def test_set_active_unknown_person(store: Store) -> None:
    with pytest.raises(NotFoundError, match="no such person: Zed"):
        store.set_active("Zed", True)


def test_removal_erases_encodings_and_photos_but_keeps_attempts(
    store: Store,
    database: DatabaseUnderTest,
    images_dir: Path,
    make_embedding: Callable,
    sha: Callable,
    attempt: Callable,
) -> None:
    _enrol(store, "José Núñez", 1, make_embedding, sha)
    _enrol(store, "José Núñez", 2, make_embedding, sha)
    _enrol(store, "Alice", 3, make_embedding, sha)
    person = store.get_person("José Núñez")
    attempt_id = store.record_attempt(**attempt(name="José Núñez", person_id=person.id))

    report = store.remove_person("José Núñez")

    assert (report.encodings_deleted, report.photos_deleted, report.attempts_kept) == (2, 2, 1)
    assert report.leftover_files == ()
    assert not (images_dir / "José Núñez").exists()
    assert (images_dir / "Alice").is_dir()
    assert store.get_person("José Núñez") is None
    assert store.gallery(MODEL).names == ["Alice"]
    (row,) = store.query_attempts(AttemptFilter(person="José Núñez"))
    assert (row.id, row.person_name, row.person_id) == (attempt_id, "José Núñez", None)
    with database.raw() as connection:
        encodings = connection.execute("SELECT COUNT(*) FROM face_encoding").fetchone()
    assert encodings == (1,)
    report = store.verify_chain()
    assert report.ok, report.summary()


def _kinds(database: DatabaseUnderTest) -> list[str]:
    """The kinds of every admin event, in chain order."""
    with database.raw() as connection:
        return [row[0] for row in connection.execute("SELECT kind FROM admin_event ORDER BY seq")]


def test_removal_is_logged(store: Store, database: DatabaseUnderTest) -> None:
    store.add_person("Alice")
    store.remove_person("Alice")
    kinds = _kinds(database)
    assert kinds == ["state", "enrol", "state", "remove", "state"]


def test_removing_an_unknown_person(store: Store) -> None:
    with pytest.raises(NotFoundError, match="no such person: Nobody"):
        store.remove_person("Nobody")


def test_failed_removal_keeps_the_photos(
    database: DatabaseUnderTest, images_dir: Path, make_embedding: Callable, sha: Callable
) -> None:
    with open_store(database.url, images_dir=images_dir, busy_timeout_s=0.1) as store:
        _enrol(store, "Alice", 1, make_embedding, sha)
        with database.locked(), pytest.raises(StoreError, match="^database is locked"):
            store.remove_person("Alice")
        assert len(list((images_dir / "Alice").iterdir())) == 1
        assert store.get_person("Alice").encodings == 1


def test_threshold_round_trip_and_validation(store: Store, database: DatabaseUnderTest) -> None:
    assert store.get_threshold(0.6) == 0.6
    store.set_threshold(0.55)
    assert store.get_threshold(0.6) == 0.55
    for bad in (0, -0.1, 4, 4.5, float("nan")):
        with pytest.raises(UsageError, match="threshold"):
            store.set_threshold(bad)
    with database.raw() as connection:
        (detail,) = connection.execute(
            "SELECT detail FROM admin_event WHERE kind = 'threshold'"
        ).fetchone()
    assert detail == "unset -> 0.55"


def _photos(images_dir: Path) -> list[str]:
    return sorted(p.name for p in images_dir.rglob("*") if p.is_file())


def test_a_batch_is_stored_whole_or_not_at_all_wherever_the_disk_fills(
    tmp_path: Path, make_embedding: Callable, sha: Callable
) -> None:
    photos = [f"photo {i} of Rose".encode() * 200 for i in range(9)]
    batch = [
        NewEncoding(model, make_embedding(10 * i + m), sha(photo), photo if m == 0 else None)
        for i, photo in enumerate(photos)
        for m, model in enumerate((MODEL, "facenet_keras_v1"))
    ]
    for extra in range(40):  # every page the batch could stop at, until it fits
        home = tmp_path / str(extra)
        with open_store(str(home / "gk.db"), images_dir=home / "images") as store:
            (pages,) = store._db.execute_sql("PRAGMA page_count").fetchone()
            store._db.execute_sql(f"PRAGMA max_page_count = {pages + extra}")
            try:
                stored = store.add_encodings("Rose", batch)
            except StoreError as exc:
                assert str(exc).startswith("disk full"), exc
                assert store.get_person("Rose") is None
                assert _photos(home / "images") == []
            else:
                assert stored == [True] * len(batch)
                assert store.get_person("Rose").encodings == len(batch)
                assert len(_photos(home / "images")) == len(photos)
                break
            finally:
                store._db.execute_sql(f"PRAGMA max_page_count = {10 * pages}")
            report = store.verify_chain()
            assert report.ok, report.summary()
    else:
        pytest.fail("the batch never fitted")
    assert extra > 1, "the disk never filled during the batch"


def test_a_batch_records_one_state_event(
    store: Store, database: DatabaseUnderTest, make_embedding: Callable, sha: Callable
) -> None:
    batch = [NewEncoding(MODEL, make_embedding(i), sha(bytes([i])), bytes([i])) for i in range(3)]
    assert store.add_encodings("Rose", batch) == [True] * 3
    assert store.add_encodings("Rose", batch[:1]) == [False]
    kinds = _kinds(database)
    assert kinds == ["state", "enrol", "enrol", "enrol", "enrol", "state"]


def test_opening_finishes_what_a_stopped_enrolment_left(
    store: Store,
    database: DatabaseUnderTest,
    images_dir: Path,
    make_embedding: Callable,
    sha: Callable,
) -> None:
    committed = _enrol(store, "Rose", 1, make_embedding, sha)
    folder = images_dir / "Rose"
    (folder / f"{committed}.jpg").rename(folder / f".{committed}.jpg.tmp")  # killed: not renamed
    uncommitted = folder / f".{'cd' * 32}.jpg.tmp"
    uncommitted.write_bytes(b"a photo whose rows were never committed")
    others = [images_dir / "tutorial.jpg", folder / "notes.txt", folder / f"{'ef' * 32}.png"]
    for path in others:
        path.write_bytes(b"not the store's to delete")
    with open_store(database.url, images_dir=images_dir, audit_key="test-key") as reopened:
        (kept,) = reopened.list_photos()
        assert kept.path.read_bytes() == b"photo of Rose #1"
    assert sorted(p.name for p in images_dir.rglob("*") if p.is_file()) == sorted(
        [f"{committed}.jpg", *(p.name for p in others)]
    )
