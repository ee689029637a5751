"""Greetings: a real WAV rendered with espeak, and a voice surviving a missing or broken engine."""

import ctypes.util
import logging
import threading
import time
import wave

import numpy as np
import pytest

from gatekeeper.voice import DEFAULT_GREETING, MAX_PENDING, Voice, render_to_wav

ESPEAK = ctypes.util.find_library("espeak-ng") or ctypes.util.find_library("espeak")
needs_espeak = pytest.mark.skipif(
    ESPEAK is None, reason="espeak-ng is not installed (apt-get install espeak-ng)"
)


class RecordingEngine:
    """A speech engine that remembers what it said; ``delay`` seconds per utterance."""

    def __init__(self, delay=0.0, fail=False):
        self.said, self.delay, self.fail = [], delay, fail
        self.threads = set()

    def say(self, text):
        self.threads.add(threading.get_ident())
        self.said.append(text)

    def runAndWait(self):
        self.threads.add(threading.get_ident())
        if self.fail:
            raise RuntimeError("driver crashed")
        time.sleep(self.delay)


def read_wav(path):
    with wave.open(str(path), "rb") as wav:
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)
        return samples, wav.getnframes() / wav.getframerate()


@needs_espeak
def test_greeting_renders_to_an_audible_wav(tmp_path):
    path = render_to_wav(DEFAULT_GREETING.format(name="Alice"), tmp_path / "greeting.wav")

    samples, duration = read_wav(path)
    rms = np.sqrt(np.mean(samples.astype(np.float64) ** 2))
    assert duration > 0.5
    assert rms > 300, f"RMS {rms:.0f} of 32768: the greeting is (nearly) silent"


@needs_espeak
def test_a_later_greeting_does_not_overwrite_a_rendered_wav(tmp_path):
    import pyttsx3

    path = render_to_wav("Hello", tmp_path / "hello.wav")
    before = path.read_bytes()
    # the real pyttsx3 engine, speaking in this process (no sound card needed: it may be silent)
    voice = Voice(engine_factory=pyttsx3.init)
    voice.greet("Bartholomew the Magnificent")

    assert voice.close(timeout=30)
    assert path.read_bytes() == before


def test_greet_formats_the_template_and_speaks_on_the_voice_thread():
    engine = RecordingEngine()
    voice = Voice("Hello {name}!", engine_factory=lambda: engine)

    voice.greet("Ada")
    voice.greet("Grace")

    assert voice.close()
    assert engine.said == ["Hello Ada!", "Hello Grace!"]
    assert engine.threads and threading.get_ident() not in engine.threads
    assert voice.warning is None


def test_greet_never_blocks_and_drops_greetings_beyond_the_queue():
    engine = RecordingEngine(delay=0.5)
    voice = Voice(engine_factory=lambda: engine)

    start = time.monotonic()
    for i in range(30):
        voice.greet(f"person {i}")
    assert time.monotonic() - start < 0.1

    assert voice.close(timeout=10)
    assert MAX_PENDING <= len(engine.said) <= MAX_PENDING + 1


def test_mute_drops_greetings():
    engine = RecordingEngine()
    voice = Voice(mute=True, engine_factory=lambda: engine)
    voice.greet("Ada")
    voice.mute = False
    voice.greet("Grace")

    assert voice.close()
    assert engine.said == ["Welcome Grace, have a nice day!"]


def test_missing_speech_engine_warns_once_and_greet_returns_promptly(monkeypatch, caplog):
    import pyttsx3

    def no_espeak(*args, **kwargs):
        raise RuntimeError("could not initialize espeak")

    monkeypatch.setattr(pyttsx3, "init", no_espeak)
    warnings = []
    voice = Voice(on_warning=warnings.append)

    start = time.monotonic()
    for name in ["Ada", "Grace", "Edsger"]:
        voice.greet(name)
    assert time.monotonic() - start < 0.05

    assert voice.close()
    assert warnings == [voice.warning]
    assert voice.warning.startswith("voice greetings are off: no text-to-speech engine")
    assert "could not initialize espeak" in voice.warning
    logged = [r for r in caplog.records if r.name == "gatekeeper.voice"]
    assert [r.levelname for r in logged] == ["WARNING"]


def test_engine_failing_mid_run_warns_once_and_the_voice_carries_on():
    engine = RecordingEngine(fail=True)
    warnings = []
    voice = Voice(on_warning=warnings.append, engine_factory=lambda: engine)

    voice.greet("Ada")
    deadline = time.monotonic() + 5
    while voice.warning is None and time.monotonic() < deadline:
        time.sleep(0.01)
    voice.greet("Grace")  # dropped at once: the voice is off

    assert voice.close()
    assert warnings == [
        "voice greetings are off: the speech engine failed (RuntimeError: driver crashed)"
    ]
    assert engine.said == ["Welcome Ada, have a nice day!"]


def test_default_engine_either_speaks_or_explains_why_not(caplog):
    caplog.set_level(logging.WARNING, logger="gatekeeper.voice")
    voice = Voice()
    start = time.monotonic()
    voice.greet("Ada")
    assert time.monotonic() - start < 0.05

    assert voice.close(timeout=30)
    assert voice.warning is None or voice.warning.startswith("voice greetings are off: ")


@pytest.mark.parametrize("template", ["Hi {nom}", "Hi {0}", "Hi {name"])
def test_bad_template_is_refused(template):
    with pytest.raises(ValueError, match="only \\{name\\}"):
        Voice(template, mute=True)


def test_render_failure_is_a_one_line_error(tmp_path):
    with pytest.raises(RuntimeError, match="cannot render speech .*: no folder"):
        render_to_wav("Hello", tmp_path / "missing-folder" / "hello.wav")
