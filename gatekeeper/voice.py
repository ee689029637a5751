"""Spoken greetings through pyttsx3 that never block the caller and never stop the app.

A :class:`Voice` owns one background thread; the pyttsx3 engine is created and used on that
thread only. :meth:`Voice.greet` just queues the text and returns. When there is no speech
engine (pyttsx3 missing, espeak missing: ``pyttsx3.init()`` raises) or it fails while speaking,
the voice turns itself off with one warning — logged once, kept in :attr:`Voice.warning` and
passed to the ``on_warning`` callback for the UI — and greetings are silently dropped from then
on.

Two pyttsx3 pitfalls shape this module:

- With the espeak driver, espeak's synthesis callback is process-wide and belongs to the most
  recently created engine: a second engine in the process (for example one made to render a
  file) silently takes the greeting engine's audio. And an engine that once ran
  ``save_to_file`` writes every later ``say`` into that same file. :func:`render_to_wav`
  therefore renders in a separate Python process, and the greeting engine only ever ``say``\\s.
  Keep one :class:`Voice` per process (``pyttsx3.init`` hands every caller the same engine).
- pyttsx3's espeak driver (2.91+) plays each utterance by running ``aplay`` as a child process
  that writes its errors straight to the terminal — garbage on a terminal UI when ``aplay`` is
  missing or there is no sound card. The default engine is therefore checked first by playing a
  short silence through ``aplay`` with its output captured; without working sound output the
  voice is off with a warning saying why.
"""

from __future__ import annotations

import logging
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)

#: The default greeting; ``{name}`` is replaced by the person's name.
DEFAULT_GREETING = "Welcome {name}, have a nice day!"

#: Greetings waiting to be spoken beyond this many are dropped: a crowd at the door should not
#: leave the voice talking for minutes after they are gone.
MAX_PENDING = 8

#: Renders ``argv[1]`` into the WAV file ``argv[2]`` with a fresh engine in a fresh process.
_RENDER_SCRIPT = """\
import sys
import pyttsx3
engine = pyttsx3.init()
engine.save_to_file(sys.argv[1], sys.argv[2])
engine.runAndWait()
"""

#: Size of a WAV header: a rendered file no larger holds no audio.
_WAV_HEADER_BYTES = 44


class SpeechEngine(Protocol):
    """The part of ``pyttsx3.Engine`` the voice uses."""

    def say(self, text: str) -> None: ...

    def runAndWait(self) -> None: ...


def _playback_problem(engine: object) -> str | None:
    """Why ``engine`` cannot make a sound, if that can be told: pyttsx3's espeak driver plays
    through ``aplay``, so check that ``aplay`` exists and can play a short silence."""
    if getattr(engine, "driver_name", None) != "espeak":
        return None
    player = shutil.which("aplay")
    if player is None:
        return "no sound output: pyttsx3's espeak driver plays through 'aplay' (not installed)"
    with tempfile.TemporaryDirectory() as folder:
        silence = Path(folder) / "silence.wav"
        with wave.open(str(silence), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(22050)
            out.writeframes(b"\0\0" * 220)
        try:
            result = subprocess.run(
                [player, "-q", str(silence)], capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"no sound output: 'aplay' failed ({exc})"
    if result.returncode != 0:
        reason = result.stderr.strip().splitlines()[-1:] or [f"exit status {result.returncode}"]
        return f"no sound output: 'aplay' cannot play ({reason[0]})"
    return None


def pyttsx3_engine() -> SpeechEngine:
    """The default engine: ``pyttsx3.init()``, checked for working sound output.

    Raises ``RuntimeError`` with a one-line reason when there is no engine or no sound output.
    """
    try:
        import pyttsx3

        engine = pyttsx3.init()
    except Exception as exc:  # ImportError, RuntimeError or OSError (no espeak), driver errors
        raise RuntimeError(f"no text-to-speech engine ({type(exc).__name__}: {exc})") from exc
    problem = _playback_problem(engine)
    if problem is not None:
        raise RuntimeError(problem)
    return engine


class Voice:
    """Greets people aloud on a background thread; every method returns at once.

    ``template`` is the greeting, ``{name}`` replaced by the person's name (``ValueError`` when
    it uses any other field). ``mute`` (also a plain attribute, changeable at any time) drops
    greetings without speaking them. ``on_warning`` is called once, on the voice's thread, with
    the reason when the voice turns itself off. ``engine_factory`` makes the speech engine on the
    voice's thread (default :func:`pyttsx3_engine`).
    """

    def __init__(
        self,
        template: str = DEFAULT_GREETING,
        *,
        mute: bool = False,
        on_warning: Callable[[str], None] | None = None,
        engine_factory: Callable[[], SpeechEngine] = pyttsx3_engine,
    ) -> None:
        try:
            template.format(name="Ada")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(
                f"bad greeting template {template!r}: only {{name}} may be used ({exc!r})"
            ) from None
        self._template = template
        self.mute = mute
        self._on_warning = on_warning
        self._engine_factory = engine_factory
        self._warning: str | None = None
        self._off_reason: str | None = None
        self._queue: queue.Queue[str | None] = queue.Queue(maxsize=MAX_PENDING)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        if not mute:
            self._ensure_thread()

    @property
    def warning(self) -> str | None:
        """Why the voice is off (no engine, no sound output, engine failure), else ``None``."""
        return self._warning

    @property
    def off_reason(self) -> str | None:
        """The reason alone (``warning`` without "voice greetings are off: "), else ``None``."""
        return self._off_reason

    def greet(self, name: str) -> None:
        """Say the greeting for ``name`` (unless muted)."""
        self.say(self._template.format(name=name))

    def say(self, text: str) -> None:
        """Queue ``text`` to be spoken; dropped when muted, off, closed or too many are waiting."""
        if self.mute or self._warning is not None or self._closed:
            return
        self._ensure_thread()
        try:
            self._queue.put_nowait(text)
        except queue.Full:
            log.info("voice busy: dropping a greeting")

    def close(self, timeout: float = 5.0) -> bool:
        """Finish what is queued, then stop the thread. True when it stopped within ``timeout``
        seconds; a voice stuck in its engine is left behind on its daemon thread."""
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is None:
            return True
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            return False
        thread.join(timeout)
        return not thread.is_alive()

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._run, name="voice", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        """The voice thread: make the engine, then speak queued texts until ``None``."""
        engine: SpeechEngine | None = None
        try:
            engine = self._engine_factory()
        except Exception as exc:
            self._turn_off(str(exc))
        while (text := self._queue.get()) is not None:
            if engine is None:
                continue
            try:
                engine.say(text)
                engine.runAndWait()
            except Exception as exc:
                self._turn_off(f"the speech engine failed ({type(exc).__name__}: {exc})")
                engine = None

    def _turn_off(self, reason: str) -> None:
        message = f"voice greetings are off: {reason}"
        self._warning, self._off_reason = message, reason
        log.warning("%s", message)
        if self._on_warning is not None:
            try:
                self._on_warning(message)
            except Exception:
                log.exception("voice warning callback failed")


def render_to_wav(text: str, path: str | Path, *, timeout: float = 60.0) -> Path:
    """Speak ``text`` into the WAV file ``path`` (16-bit mono; 22 050 Hz with espeak).

    Runs a fresh pyttsx3 engine in a separate Python process (see the module docstring), so it
    neither disturbs nor is disturbed by a :class:`Voice` in this process. Replaces ``path``.
    Raises ``RuntimeError`` with a one-line reason when nothing could be rendered.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise RuntimeError(f"cannot render speech to {path}: no folder {path.parent}")
    path.unlink(missing_ok=True)
    try:
        result = subprocess.run(
            [sys.executable, "-c", _RENDER_SCRIPT, text, str(path)],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"rendering speech took longer than {timeout:g} s") from None
    if result.returncode != 0 or not path.is_file() or path.stat().st_size <= _WAV_HEADER_BYTES:
        lines = result.stderr.strip().splitlines()
        reason = lines[-1] if lines else "no audio was written"
        raise RuntimeError(f"cannot render speech to {path}: {reason}")
    return path
