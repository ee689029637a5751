"""Camera feeds: injected sources that fail or stall, and real inputs (video, images, devices).

Timing is checked on a :class:`ManualClock` that only the test moves, so a loaded machine
cannot make a frame late or a backoff long.
"""

import logging
import shutil
import threading
import time

import cv2
import numpy as np
import pytest
from helpers import ManualClock, wait_until

from gatekeeper.errors import CameraError, UsageError
from gatekeeper.vision.camera import (
    CameraFeed,
    CameraState,
    CaptureSource,
    ImageFolderSource,
    open_source,
    source_from_spec,
)

CLIP_FRAMES = 275


class FakeReader:
    """Frames ``0, 1, 2...`` (each frame filled with its number), then ``then``:
    ``fail``/``end`` (read returns None) or ``stall`` (read blocks until ``unstall``). With a
    ``period``, each frame comes that many seconds of ``clock`` after the previous one, as from
    a camera, until ``unstall`` is set."""

    def __init__(self, frames, then, fps, unstall, clock=None, period=0.0):
        self.count, self.frames, self.then, self.fps, self.unstall = 0, frames, then, fps, unstall
        self.clock, self.period = clock, period

    def read(self):
        if self.count < self.frames:
            if not self.period:
                time.sleep(0.005)
            elif self.count and self.clock.wait(self.unstall, self.period):
                return None
            self.count += 1
            return np.full((4, 6, 3), self.count % 256, np.uint8)
        if self.then == "stall":
            self.unstall.wait(10)
        return None

    def release(self):
        pass


class ScriptedSource:
    """Each open() follows the next script — ``"refuse"`` or ``(frames, then)`` — repeating the
    last one; records when it was opened (on ``clock``, if given). With ``period``, a live
    source delivers a frame every ``period`` seconds of ``clock``."""

    description = "fake camera"

    def __init__(self, *scripts, live=True, fps=None, clock=None, period=0.0):
        self.scripts, self.live, self.fps = list(scripts), live, fps
        self.clock, self.period = clock, period
        self.opened_at = []
        self.unstall = threading.Event()

    def open(self):
        self.opened_at.append((self.clock or time).monotonic())
        script = self.scripts.pop(0) if len(self.scripts) > 1 else self.scripts[0]
        if script == "refuse":
            raise CameraError("fake camera refused")
        frames, then = script
        return FakeReader(frames, then, self.fps, self.unstall, self.clock, self.period)


def next_backoff(feed, clock):
    """Once ``feed`` is lost and waiting to reconnect: the length of that wait, after moving
    ``clock`` to its end."""

    def waiting() -> bool:
        pending = clock.deadlines()
        lost = feed.status().state is CameraState.LOST
        return lost and len(pending) == 1 and pending[0] > clock.monotonic()

    assert wait_until(waiting, 5, step=0.001), (feed.status(), clock.deadlines())
    (deadline,) = clock.deadlines()
    wait = deadline - clock.monotonic()
    clock.advance_to(deadline)
    return wait


def next_frame_due(feed, clock, frame_id, period):
    """Whether ``feed`` has frame ``frame_id`` as its newest and its reader waits for the next
    one, due ``period`` seconds later."""
    latest = feed.latest()
    if latest is None or latest.frame_id != frame_id:
        return False
    return any(abs(d - (latest.time + period)) < 1e-9 for d in clock.deadlines())


def play(clock, until):
    """Move ``clock`` to each frame's due time in turn (the next frame of a replayed file is
    due) until ``until()`` is true. Between two frames two waits are pending: the reader's, for
    its next frame's due time, and the feed's stall watch; the clock moves only while both
    are, so it never jumps to the watch's deadline while the reader is between its waits."""
    pending: list[float] = []

    def two_waits() -> bool:
        pending[:] = clock.deadlines()  # one look: the list changes as threads wait and wake
        return until() or len(pending) >= 2

    while not until():
        assert wait_until(two_waits, 5, step=0.001), (pending, until())
        if not until():
            clock.advance_to(pending[0])


@pytest.fixture
def feeds():
    """Feeds to stop at the end of the test, whatever happens."""
    started = []
    yield started
    for feed in started:
        feed.stop()


def state_log(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "gatekeeper.vision.camera"]


def test_failed_read_is_lost_then_reconnects_and_frame_ids_keep_increasing(feeds, caplog):
    caplog.set_level(logging.INFO, logger="gatekeeper.vision.camera")
    source = ScriptedSource((5, "fail"), (10**6, "forever"))
    feed = CameraFeed(source, backoff_initial_s=0.05)
    feeds.append(feed)
    feed.start()

    assert wait_until(lambda: feed.status().frame_id > 20, 5), feed.status()

    assert state_log(caplog) == [
        "fake camera: live",
        "fake camera: lost: fake camera: no frame (read failed)",
        "fake camera: reconnecting",
        "fake camera: live",
    ]
    assert len(source.opened_at) == 2
    assert source.opened_at[1] - source.opened_at[0] >= 0.05
    status = feed.status()
    assert status.state is CameraState.LIVE and status.error is None


def test_stalled_stream_is_lost_after_the_stall_timeout_and_reconnected(feeds):
    clock = ManualClock()
    source = ScriptedSource((3, "stall"), (10**6, "forever"), clock=clock)
    feed = CameraFeed(source, stall_timeout_s=0.3, backoff_initial_s=0.05, clock=clock)
    feeds.append(feed)
    feed.start()

    assert wait_until(lambda: feed.status().frame_id == 3 and clock.deadlines(), 5)
    last_frame = feed.latest().time
    assert clock.deadlines() == [pytest.approx(last_frame + 0.3)]
    clock.advance(0.299)
    assert feed.status().state is CameraState.LIVE
    clock.advance(0.001)
    assert wait_until(lambda: feed.status().state is CameraState.LOST, 5), feed.status()
    lost = feed.status()
    assert lost.frame_id == 3
    assert lost.error == "no frame for 0.3 s"
    assert lost.last_frame_age_s == pytest.approx(0.3)
    assert next_backoff(feed, clock) == pytest.approx(0.05)
    assert wait_until(lambda: feed.status().state is CameraState.LIVE, 5), feed.status()
    assert feed.latest().frame_id > 3
    source.unstall.set()


def test_stall_timeout_counts_from_the_last_frame_not_from_the_connection(feeds, caplog):
    caplog.set_level(logging.INFO, logger="gatekeeper.vision.camera")
    clock = ManualClock()
    source = ScriptedSource((10**6, "forever"), clock=clock, period=0.2)
    feed = CameraFeed(source, stall_timeout_s=0.5, clock=clock)
    feeds.append(feed)
    feed.start()

    # A healthy camera: a frame every 0.2 s for 3 s, ten times the gap a stall needs.
    for frame_id in range(1, 16):
        assert wait_until(lambda i=frame_id: next_frame_due(feed, clock, i, 0.2), 5, step=0.001)
        clock.advance(0.2)
    assert wait_until(lambda: feed.status().frame_id == 16, 5, step=0.001)

    assert state_log(caplog) == ["fake camera: live"]
    assert len(source.opened_at) == 1
    assert feed.status().state is CameraState.LIVE
    source.unstall.set()


def test_reconnection_backoff_doubles_up_to_its_cap(feeds):
    clock = ManualClock()
    source = ScriptedSource("refuse", clock=clock)
    feed = CameraFeed(source, backoff_initial_s=0.05, backoff_max_s=0.2, clock=clock)
    feeds.append(feed)
    feed.start()

    waits = [next_backoff(feed, clock) for _ in range(5)]

    assert waits == pytest.approx([0.05, 0.1, 0.2, 0.2, 0.2])
    assert wait_until(lambda: len(source.opened_at) == 6, 5)
    assert np.diff(source.opened_at) == pytest.approx(waits)
    assert feed.status().error == "fake camera refused"


def test_reconnection_backoff_starts_again_after_a_connection_delivered_frames(feeds):
    clock = ManualClock()
    source = ScriptedSource("refuse", "refuse", (5, "fail"), "refuse", clock=clock)
    feed = CameraFeed(source, backoff_initial_s=0.05, backoff_max_s=1.0, clock=clock)
    feeds.append(feed)
    feed.start()

    waits = [next_backoff(feed, clock) for _ in range(4)]

    # refused, refused, 5 frames then a failed read (backoff reset), refused
    assert waits == pytest.approx([0.05, 0.1, 0.05, 0.1])
    assert feed.status().frame_id == 5


def test_a_lost_feed_says_when_it_reconnects_and_retry_makes_it_now(feeds):
    clock = ManualClock()
    source = ScriptedSource("refuse", clock=clock)
    feed = CameraFeed(source, backoff_initial_s=4.0, backoff_max_s=16.0, clock=clock)
    feeds.append(feed)
    feed.start()
    assert wait_until(lambda: clock.deadlines(), 5)
    assert feed.status().retry_in_s == pytest.approx(4.0)
    clock.advance(1.5)
    assert feed.status().retry_in_s == pytest.approx(2.5)

    assert feed.retry()
    assert wait_until(lambda: len(source.opened_at) == 2, 5), "retry did not reconnect now"
    assert source.opened_at[1] - source.opened_at[0] == pytest.approx(1.5)
    assert wait_until(lambda: feed.status().retry_in_s == pytest.approx(8.0), 5)
    clock.advance(8.0)
    assert wait_until(lambda: len(source.opened_at) == 3, 5), "the backoff goes on after it"
    feed.stop()
    assert feed.status().retry_in_s is None and not feed.retry()


def test_retry_replays_an_ended_file_from_the_start(feeds):
    source = ScriptedSource((3, "end"), live=False, fps=None)
    feed = CameraFeed(source)
    feeds.append(feed)
    assert not feed.retry(), "not started yet"
    feed.start()
    assert wait_until(lambda: feed.status().state is CameraState.ENDED, 5)
    assert wait_until(feed.retry, 5)
    assert wait_until(lambda: feed.status().frame_id == 6, 5), feed.status()
    assert wait_until(lambda: feed.status().state is CameraState.ENDED, 5)
    assert len(source.opened_at) == 2


def test_only_the_newest_frame_is_kept_and_a_slow_reader_skips_frames(feeds):
    clock = ManualClock()
    source = ScriptedSource((10**6, "forever"), clock=clock, period=0.04)
    feed = CameraFeed(source, clock=clock)
    feeds.append(feed)
    feed.start()

    first = feed.wait_for_new(0, timeout=5)
    for frame_id in range(1, 61):  # a 25 frames/s camera for 2.4 s, while the consumer is busy
        assert wait_until(lambda i=frame_id: next_frame_due(feed, clock, i, 0.04), 5, step=0.001)
        clock.advance(0.04)
    assert wait_until(lambda: feed.status().frame_id == 61, 5, step=0.001)

    newest = feed.wait_for_new(first.frame_id, timeout=5)
    assert (first.frame_id, newest.frame_id) == (1, 61)  # frames 2-60 were never queued
    assert newest.time == pytest.approx(first.time + 2.4)
    assert newest.image[0, 0, 0] == newest.frame_id % 256  # the frame that id was stamped on
    assert not newest.image.flags.writeable
    assert feed.status().captured_fps == pytest.approx(25)
    source.unstall.set()


def test_wait_for_new_times_out_on_the_feeds_clock_before_start():
    clock = ManualClock()
    feed = CameraFeed(ScriptedSource((1, "end")), clock=clock)
    result = []
    waiter = threading.Thread(target=lambda: result.append(feed.wait_for_new(0, timeout=0.1)))
    waiter.start()

    assert wait_until(lambda: clock.deadlines() == [pytest.approx(clock.monotonic() + 0.1)], 5)
    assert waiter.is_alive() and result == []
    clock.advance(0.1)
    waiter.join(5)
    assert result == [None]
    assert feed.status().state is CameraState.CONNECTING


def test_no_camera_is_a_normal_state():
    feed = open_source(None, fps=5, loop=False)
    feed.start()

    status = feed.status()
    assert (status.source, status.state, status.frame_id) == ("none", CameraState.NONE, 0)
    assert feed.latest() is None
    assert feed.wait_for_new(0, timeout=5) is None  # at once: nothing will ever come
    feed.stop()
    assert feed.status().state is CameraState.NONE


def read_clip_frame(path, index):
    """Frame ``index`` (0-based) of a video, decoded by OpenCV directly, as RGB."""
    capture = cv2.VideoCapture(str(path))
    for _ in range(index + 1):
        ok, frame = capture.read()
    capture.release()
    assert ok
    return frame[:, :, ::-1]


def test_video_file_plays_once_in_real_time_then_ends_and_loops_when_asked(shared_data, feeds):
    clip = shared_data / "video" / "short_hamilton_clip.mp4"
    capture = cv2.VideoCapture(str(clip))
    fps = capture.get(cv2.CAP_PROP_FPS)
    capture.release()
    clock, loop_clock = ManualClock(), ManualClock()
    once = open_source(str(clip), fps=5, loop=False, clock=clock)
    looping = open_source(str(clip), fps=5, loop=True, clock=loop_clock)
    feeds += [once, looping]
    assert once.latest() is None  # nothing plays before start()
    start = clock.monotonic()
    once.start()

    for frame_id in range(1, CLIP_FRAMES + 1):
        # frame i is released at start + (i - 1) / fps, and not before
        assert wait_until(lambda i=frame_id: once.status().frame_id == i, 5, step=0.001)
        assert once.latest().time == pytest.approx(start + (frame_id - 1) / fps, abs=1e-9)
        if frame_id == 1:
            first = once.latest()
        if frame_id < CLIP_FRAMES:
            # the next frame's due time, and the stall watch's deadline 10 s after it
            due = start + frame_id / fps
            waits = [pytest.approx(due, abs=1e-9), pytest.approx(due + 10, abs=1e-9)]
            assert wait_until(lambda w=waits: clock.deadlines() == w, 5, step=0.001), (
                clock.deadlines()
            )
            assert once.status().frame_id == frame_id
            clock.advance_to(clock.deadlines()[0])

    assert wait_until(lambda: once.status().state is CameraState.ENDED, 5)
    assert once.status().frame_id == CLIP_FRAMES
    assert first.image.shape == (360, 640, 3) and first.image.dtype == np.uint8
    np.testing.assert_array_equal(first.image, read_clip_frame(clip, 0))

    loop_start = loop_clock.monotonic()
    looping.start()
    play(loop_clock, lambda: looping.status().frame_id > CLIP_FRAMES)
    again = looping.latest()
    assert again.frame_id == CLIP_FRAMES + 1  # the first frame again, on the same schedule
    assert again.time == pytest.approx(loop_start + CLIP_FRAMES / fps, abs=1e-9)
    np.testing.assert_array_equal(again.image, first.image)
    play(loop_clock, lambda: looping.status().frame_id > CLIP_FRAMES + 15)
    assert looping.status().state is CameraState.LIVE
    looping.stop()
    assert looping.status().state is CameraState.ENDED


def test_image_folder_replays_in_natural_name_order_then_ends(shared_data, tmp_path, feeds):
    seeds = shared_data / "seed-images"
    names = {"frame10.jpg": "andrew.jpg", "frame2.jpg": "dan.jpg", "frame1.jpg": "kian.jpg"}
    for target, seed in names.items():
        shutil.copy(seeds / seed, tmp_path / target)
    (tmp_path / "notes.txt").write_text("not an image")
    feed = open_source(str(tmp_path), fps=20, loop=False)
    feeds.append(feed)
    feed.start()

    images = []
    while (frame := feed.wait_for_new(len(images), timeout=2)) is not None:
        images.append(frame.image)

    assert feed.status().state is CameraState.ENDED
    assert len(images) == 3
    for image, name in zip(images, ["frame1.jpg", "frame2.jpg", "frame10.jpg"], strict=True):
        np.testing.assert_array_equal(image, cv2.imread(str(tmp_path / name))[:, :, ::-1])


def test_unreadable_image_in_a_folder_is_skipped(shared_data, tmp_path, feeds, caplog):
    shutil.copy(shared_data / "seed-images" / "kian.jpg", tmp_path / "a.jpg")
    (tmp_path / "b.jpg").write_bytes(b"\xff\xd8 truncated")
    shutil.copy(shared_data / "seed-images" / "dan.jpg", tmp_path / "c.jpg")
    feed = open_source(str(tmp_path), fps=50, loop=False)
    feeds.append(feed)
    feed.start()

    assert wait_until(lambda: feed.status().state is CameraState.ENDED, 3)
    assert feed.status().frame_id == 2
    assert "skipping unreadable image" in caplog.text


def test_missing_device_is_lost_and_retried_not_a_crash(feeds):
    feed = open_source("7", fps=5, loop=False, backoff_initial_s=0.05, backoff_max_s=0.1)
    feeds.append(feed)
    feed.start()

    assert wait_until(
        lambda: feed.status().state in (CameraState.LOST, CameraState.RECONNECTING), 3
    )
    status = feed.status()
    assert status.source == "camera 7"
    assert status.error == "cannot open camera 7"
    assert feed.latest() is None
    feed.stop()
    assert feed.status().state is CameraState.ENDED


def test_video_file_that_vanishes_is_lost_until_it_comes_back(shared_data, tmp_path, feeds):
    clip = tmp_path / "door.mp4"
    shutil.copy(shared_data / "video" / "short_hamilton_clip.mp4", clip)
    feed = open_source(str(clip), fps=5, loop=False, backoff_initial_s=0.05, backoff_max_s=0.1)
    feeds.append(feed)
    clip.unlink()
    feed.start()

    assert wait_until(lambda: feed.status().error is not None, 2)
    assert feed.status().state in (CameraState.LOST, CameraState.RECONNECTING)
    assert feed.status().error == f"video file not found: {clip}"

    shutil.copy(shared_data / "video" / "short_hamilton_clip.mp4", clip)
    assert wait_until(lambda: feed.status().state is CameraState.LIVE, 2), feed.status()
    assert feed.status().error is None


def test_unreachable_stream_is_lost_and_its_password_never_shown(feeds):
    url = "http://viewer:s3cret@127.0.0.1:9/stream"
    feed = open_source(url, fps=5, loop=False, stall_timeout_s=2, backoff_initial_s=0.05)
    feeds.append(feed)
    feed.start()

    assert wait_until(lambda: feed.status().error is not None, 5)
    status = feed.status()
    assert status.source == "http://viewer:***@127.0.0.1:9/stream"
    assert "s3cret" not in status.error and "s3cret" not in repr(status)


@pytest.mark.parametrize(
    ("spec", "target", "description"),
    [
        ("0", 0, "camera 0"),
        (" 12 ", 12, "camera 12"),
        ("rtsp://door.local/live", "rtsp://door.local/live", "rtsp://door.local/live"),
        ("http://u:pw@cam:8080/v", "http://u:pw@cam:8080/v", "http://u:***@cam:8080/v"),
    ],
)
def test_devices_and_streams_are_recognised_without_touching_them(spec, target, description):
    source = source_from_spec(spec, fps=5)
    assert isinstance(source, CaptureSource)
    assert (source.target, source.description, source.live) == (target, description, True)


@pytest.mark.parametrize("spec", ["", "  ", None])
def test_no_spec_is_no_camera(spec):
    assert source_from_spec(spec, fps=5) is None


def test_bad_specs_fail_at_once(tmp_path):
    with pytest.raises(CameraError, match="camera source not found"):
        open_source(str(tmp_path / "nope.mp4"), fps=5, loop=False)
    with pytest.raises(CameraError, match="no images in"):
        open_source(str(tmp_path), fps=5, loop=False)
    text = tmp_path / "clip.mp4"
    text.write_text("not a video")
    with pytest.raises(CameraError, match="not a readable video file"):
        open_source(str(text), fps=5, loop=False)
    with pytest.raises(UsageError, match="fps"):
        open_source("0", fps=0, loop=False)


def test_a_replayed_source_whose_read_blocks_is_lost_after_the_stall_timeout(feeds):
    """A folder or file whose read blocks (a FIFO, a hung network share) froze the feed at
    ``live, 0.0 fps`` for ever: the stall rule watched devices and streams only. A replayed
    source's next frame is due at a known time, and it stalls once it is that late."""
    clock = ManualClock()
    source = ScriptedSource((3, "stall"), (10**6, "forever"), live=False, fps=5.0, clock=clock)
    feed = CameraFeed(source, stall_timeout_s=10, backoff_initial_s=0.05, clock=clock)
    feeds.append(feed)
    feed.start()

    play(clock, until=lambda: feed.status().frame_id == 3)
    due = feed.latest().time + 0.2
    assert wait_until(lambda: clock.deadlines() == [pytest.approx(due + 10)], 5), clock.deadlines()
    clock.advance_to(due + 9.999)
    assert feed.status().state is CameraState.LIVE
    clock.advance_to(due + 10)
    assert wait_until(lambda: feed.status().state is CameraState.LOST, 5), feed.status()
    assert feed.status().error == "no frame for 10 s"
    assert next_backoff(feed, clock) == pytest.approx(0.05)
    play(clock, until=lambda: feed.status().frame_id > 3)
    assert feed.status().state is CameraState.LIVE
    source.unstall.set()


def test_a_slow_replay_is_not_a_stall(feeds):
    """At 0.05 frames/s the next frame is due 20 s after the last, twice the stall timeout:
    waiting for it is pacing, not a stall."""
    clock = ManualClock()
    source = ScriptedSource((4, "end"), live=False, fps=0.05, clock=clock)
    feed = CameraFeed(source, stall_timeout_s=10, clock=clock)
    feeds.append(feed)
    feed.start()
    play(clock, until=lambda: feed.status().state is CameraState.ENDED)
    assert feed.status().frame_id == 4
    assert len(source.opened_at) == 1, "never lost, never reopened"


def test_a_fifo_in_a_camera_folder_is_skipped_without_being_opened(
    shared_data, tmp_path, feeds, caplog
):
    import os

    shutil.copy(shared_data / "seed-images" / "kian.jpg", tmp_path / "a.jpg")
    os.mkfifo(tmp_path / "b.jpg")
    shutil.copy(shared_data / "seed-images" / "dan.jpg", tmp_path / "c.jpg")
    feed = open_source(str(tmp_path), fps=50, loop=False)
    feeds.append(feed)
    feed.start()
    try:
        assert wait_until(lambda: feed.status().state is CameraState.ENDED, 5), feed.status()
    finally:
        with open(os.open(tmp_path / "b.jpg", os.O_RDWR | os.O_NONBLOCK), "wb"):
            pass  # a reader stuck in the FIFO's open (the bug) is let go
    assert feed.status().frame_id == 2

    # A file replaced by a FIFO after the folder was listed is skipped when its turn comes.
    reader = ImageFolderSource(tmp_path, fps=50).open()
    (tmp_path / "a.jpg").unlink()
    os.mkfifo(tmp_path / "a.jpg")
    read = threading.Thread(target=lambda: frames.append(reader.read()), daemon=True)
    frames: list = []
    read.start()
    read.join(5)
    if read.is_alive():
        with open(os.open(tmp_path / "a.jpg", os.O_RDWR | os.O_NONBLOCK), "wb"):
            pass
        pytest.fail("the folder reader opened a FIFO and waited for a writer")
    expected = cv2.imread(str(tmp_path / "c.jpg"))[:, :, ::-1]
    np.testing.assert_array_equal(frames[0], expected)
    assert f"skipping {tmp_path / 'a.jpg'}: not a regular file" in caplog.text
