"""Camera feeds: injected sources that fail or stall, and real inputs (video, images, devices)."""

import logging
import shutil
import threading
import time

import cv2
import numpy as np
import pytest
from helpers import wait_until

from gatekeeper.errors import CameraError, UsageError
from gatekeeper.vision.camera import (
    CameraFeed,
    CameraState,
    open_source,
    source_from_spec,
)

CLIP_FRAMES = 275
CLIP_FPS = 29.97


class FakeReader:
    """Frames ``0, 1, 2...`` (each frame filled with its number), then ``then``:
    ``fail``/``end`` (read returns None) or ``stall`` (read blocks)."""

    def __init__(self, frames, then, fps, unstall):
        self.count, self.frames, self.then, self.fps, self.unstall = 0, frames, then, fps, unstall

    def read(self):
        if self.count < self.frames:
            time.sleep(0.005)
            self.count += 1
            return np.full((4, 6, 3), self.count % 256, np.uint8)
        if self.then == "stall":
            self.unstall.wait(10)
        return None

    def release(self):
        pass


class ScriptedSource:
    """Each open() follows the next script — ``"refuse"`` or ``(frames, then)`` — repeating the
    last one; records when it was opened."""

    description = "fake camera"

    def __init__(self, *scripts, live=True, fps=None):
        self.scripts, self.live, self.fps = list(scripts), live, fps
        self.opened_at = []
        self.unstall = threading.Event()

    def open(self):
        self.opened_at.append(time.monotonic())
        script = self.scripts.pop(0) if len(self.scripts) > 1 else self.scripts[0]
        if script == "refuse":
            raise CameraError("fake camera refused")
        frames, then = script
        return FakeReader(frames, then, self.fps, self.unstall)


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
    source = ScriptedSource((3, "stall"), (10**6, "forever"))
    feed = CameraFeed(source, stall_timeout_s=0.3, backoff_initial_s=0.05)
    feeds.append(feed)
    feed.start()

    assert wait_until(lambda: feed.status().state is CameraState.LOST, 2), feed.status()
    lost = feed.status()
    assert lost.frame_id == 3
    assert lost.error == "no frame for 0.3 s"
    assert lost.last_frame_age_s == pytest.approx(0.3, abs=0.1)
    assert wait_until(lambda: feed.status().state is CameraState.LIVE, 2), feed.status()
    assert feed.latest().frame_id > 3
    source.unstall.set()


def test_reconnection_backoff_doubles_up_to_its_cap(feeds):
    source = ScriptedSource("refuse")
    feed = CameraFeed(source, backoff_initial_s=0.05, backoff_max_s=0.2)
    feeds.append(feed)
    feed.start()

    assert wait_until(lambda: len(source.opened_at) >= 6, 3)
    status = feed.status()
    assert status.state in (CameraState.LOST, CameraState.RECONNECTING)
    assert status.error == "fake camera refused"
    gaps = np.diff(source.opened_at[:6])
    # A wait never ends early, so each gap is at least its backoff; a busy machine only adds.
    # Capped at 0.2 s: without the cap the last two gaps would be 0.4 s and 0.8 s.
    assert np.all(gaps >= np.array([0.05, 0.1, 0.2, 0.2, 0.2]) - 0.005)
    assert gaps[4] < 0.6


def test_only_the_newest_frame_is_kept_and_a_slow_reader_skips_frames(feeds):
    feed = CameraFeed(ScriptedSource((10**6, "forever")))
    feeds.append(feed)
    feed.start()

    first = feed.wait_for_new(0, timeout=2)
    time.sleep(0.2)  # a slow consumer: dozens of frames are captured meanwhile
    newest = feed.latest()

    assert first is not None and newest is not None
    assert newest.frame_id > first.frame_id + 5
    assert feed.wait_for_new(newest.frame_id, timeout=2).frame_id > newest.frame_id
    assert newest.image[0, 0, 0] == newest.frame_id % 256  # the frame that id was stamped on
    assert not newest.image.flags.writeable
    assert 20 < feed.status().captured_fps < 250


def test_wait_for_new_times_out_before_start():
    feed = CameraFeed(ScriptedSource((1, "end")))
    start = time.monotonic()
    assert feed.wait_for_new(0, timeout=0.1) is None
    assert 0.095 <= time.monotonic() - start < 1.0
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
    once = open_source(str(clip), fps=5, loop=False)
    looping = open_source(str(clip), fps=5, loop=True)
    feeds += [once, looping]
    assert once.latest() is None  # nothing plays before start()

    once.start()
    looping.start()
    seen = []
    while (frame := once.wait_for_new(seen[-1].frame_id if seen else 0, timeout=3)) is not None:
        seen.append(frame)
    elapsed = seen[-1].time - seen[0].time

    status = once.status()
    assert status.state is CameraState.ENDED
    assert status.frame_id == CLIP_FRAMES
    assert elapsed == pytest.approx((CLIP_FRAMES - 1) / CLIP_FPS, abs=0.4)
    for frame in seen:  # frame i is released at start + i / fps
        expected = seen[0].time + (frame.frame_id - seen[0].frame_id) / CLIP_FPS
        assert frame.time == pytest.approx(expected, abs=0.15)
    assert len(seen) > 0.9 * CLIP_FRAMES
    first = seen[0]
    assert first.image.shape == (360, 640, 3) and first.image.dtype == np.uint8
    np.testing.assert_array_equal(first.image, read_clip_frame(clip, first.frame_id - 1))

    assert wait_until(lambda: looping.status().frame_id > CLIP_FRAMES + 15, 2)
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
    ("spec", "kind"),
    [("0", "device"), ("rtsp://door.local/live", "stream"), ("  ", None), (None, None)],
)
def test_specs_are_recognised_without_touching_devices_or_the_network(spec, kind):
    source = source_from_spec(spec, fps=5)
    if kind is None:
        assert source is None
    else:
        assert source.live


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
