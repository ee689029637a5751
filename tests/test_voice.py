"""Greetings: a real WAV rendered with espeak, and a voice surviving a missing or broken engine."""

import threading
import time
import wave

import numpy as np
import pytest
from helpers import fake_program, needs_espeak

from gatekeeper.voice import DEFAULT_GREETING, MAX_PENDING, Voice, render_to_wav


class RecordingEngine:
    """A speech engine that remembers what it said. With ``hold``, speaking blocks until the
    test sets ``release``; ``driver_name`` as pyttsx3's engines have it."""

    def __init__(self, fail=False, hold=False, driver_name="recording"):
        self.said, self.fail, self.hold, self.driver_name = [], fail, hold, driver_name
        self.threads = set()
        self.release = threading.Event()

    def say(self, text):
        self.threads.add(threading.get_ident())
        self.said.append(text)

    def runAndWait(self):
        self.threads.add(threading.get_ident())
        if self.fail:
            raise RuntimeError("driver crashed")
        if self.hold:
            assert self.release.wait(30), "the test never released the engine"


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
    engine = RecordingEngine(hold=True)
    voice = Voice(engine_factory=lambda: engine)

    # The engine is stuck on the first greeting: greet() must still return, 30 times over
    # (were it to wait for the engine, the test would hang here and fail in runAndWait).
    for i in range(30):
        voice.greet(f"person {i}")
    engine.release.set()

    assert voice.close(timeout=10)
    assert voice.warning is None
    assert MAX_PENDING <= len(engine.said) <= MAX_PENDING + 1
    assert engine.said[0] == "Welcome person 0, have a nice day!"


def test_mute_drops_greetings():
    engine = RecordingEngine()
    voice = Voice(mute=True, engine_factory=lambda: engine)
    voice.greet("Ada")
    voice.mute = False
    voice.greet("Grace")

    assert voice.close()
    assert engine.said == ["Welcome Grace, have a nice day!"]


def test_missing_speech_engine_warns_once_and_greet_never_waits_for_it(monkeypatch, caplog):
    import pyttsx3

    looking = threading.Event()
    greeted = threading.Event()
    released = []

    def no_espeak(*args, **kwargs):
        looking.set()
        released.append(greeted.wait(30))
        raise RuntimeError("could not initialize espeak")

    monkeypatch.setattr(pyttsx3, "init", no_espeak)
    warnings = []
    voice = Voice(on_warning=warnings.append)

    assert looking.wait(30)
    for name in ["Ada", "Grace", "Edsger"]:  # while the engine is still being looked for
        voice.greet(name)
    greeted.set()

    assert voice.close()
    assert released == [True], "greet() waited for the speech engine"
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


@pytest.fixture
def espeak_driver(monkeypatch):
    """pyttsx3.init() gives an engine of its espeak driver (which plays through ``aplay``)
    that records what it says, whether or not espeak is installed."""
    import pyttsx3

    engine = RecordingEngine(driver_name="espeak")
    monkeypatch.setattr(pyttsx3, "init", lambda: engine)
    return engine


def test_default_engine_speaks_when_aplay_plays(espeak_driver, monkeypatch, tmp_path):
    fake_program(tmp_path / "bin", "aplay")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    voice = Voice()
    voice.greet("Ada")

    assert voice.close(timeout=30)
    assert voice.warning is None
    assert espeak_driver.said == ["Welcome Ada, have a nice day!"]


@pytest.mark.parametrize(
    ("aplay", "reason"),
    [
        (None, "pyttsx3's espeak driver plays through 'aplay' (not installed)"),
        (
            "aplay: main:850: audio open error: No such file or directory",
            "'aplay' cannot play (aplay: main:850: audio open error: No such file or directory)",
        ),
    ],
    ids=["no aplay", "no sound card"],
)
def test_default_engine_without_sound_output_is_off_and_says_why(
    espeak_driver, monkeypatch, tmp_path, aplay, reason
):
    if aplay is not None:
        fake_program(tmp_path / "bin", "aplay", exit_code=1, stderr=aplay)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    voice = Voice()
    voice.greet("Ada")

    assert voice.close(timeout=30)
    assert voice.warning == f"voice greetings are off: no sound output: {reason}"
    assert espeak_driver.said == []


@pytest.mark.parametrize("template", ["Hi {nom}", "Hi {0}", "Hi {name"])
def test_bad_template_is_refused(template):
    with pytest.raises(ValueError, match="only \\{name\\}"):
        Voice(template, mute=True)


def test_render_failure_is_a_one_line_error(tmp_path):
    with pytest.raises(RuntimeError, match="cannot render speech .*: no folder"):
        render_to_wav("Hello", tmp_path / "missing-folder" / "hello.wav")
