"""Apertium (Debian's rule-based machine translation) as a `Translator`: English text in, Spanish,
Catalan or Galician text out, through one long-lived Apertium pipeline per language pair.

Why one pipeline and not `apertium eng-spa` per text: each run of the `apertium` command starts
its dozen programs and loads their transducers again, about 0.25–0.7 s per text on this project's
2-core machine, while a pipeline kept running in null-flush mode (`-z`: every program flushes
its output when it reads a NUL byte) answers in about 1–5 ms (README, "Translation").
The `apertium` command's own `-z` does not serve here (its text deformatter and a gawk filter
wait for more input), so the pipeline is the language pair's mode as `apertium-wblank-mode -z`
writes it, run by bash exactly as the command runs it, and the deformatter's small job (escape
the stream format's special characters, end the text with a period and a blank) is done here.

Robustness: a pipeline that died is started again (and the text sent once more); a reply that
takes longer than `timeout_s` kills the pipeline (the next text starts a fresh one) and raises
`TranslationError`; one lock makes `translate` safe to call from several threads (the server's
workers), the pipeline being serial anyway."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import weakref
from pathlib import Path
from typing import IO, TypeAlias

from s2t_stream.errors import TranslationError

log = logging.getLogger(__name__)

DATADIR_ENV = "APERTIUM_DATADIR"  # the `apertium` command's own setting
DEFAULT_DATADIR = Path("/usr/share/apertium")
# target language (ISO 639-1) → (Apertium's mode for English into it, its Debian package)
PAIRS: dict[str, tuple[str, str]] = {
    "es": ("eng-spa", "apertium-eng-spa"),
    "ca": ("eng-cat", "apertium-eng-cat"),
    "gl": ("en-gl", "apertium-en-gl"),
}
MAX_TEXT_BYTES = 16_000  # well under a pipe's buffer: writing a text never waits for its reply
WARM_UP = "hello"  # sent at start, so the pipeline has loaded before the first real text
SPECIAL = re.compile(r"([\\\[\]^$@/<>{}])")  # the stream format's reserved characters
ESCAPED = re.compile(r"\\(.)")
PRONOUN_I = re.compile(r"\bi(?=$|[\s'’])")  # ASR's lowercase "i", "i'm": Apertium needs "I"
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
TAIL = ".[]"  # what `apertium-destxt` ends a text with (a sentence end, an empty blank)


Finalizer: TypeAlias = "weakref.finalize[[subprocess.Popen[bytes], IO[bytes]], ApertiumTranslator]"


class Dead(Exception):
    """The pipeline ended (or its stdin broke) before it answered."""


def datadir() -> Path:
    """Where Apertium's language data lives ($APERTIUM_DATADIR, else Debian's place)."""
    return Path(os.environ.get(DATADIR_ENV) or DEFAULT_DATADIR)


def apertium_installed() -> bool:
    """Whether the programs a pipeline needs are on PATH."""
    return shutil.which("apertium-wblank-mode") is not None and shutil.which("lt-proc") is not None


def installed_modes() -> list[str]:
    """The translation directions installed (`apertium -l`'s list), e.g. ['eng-cat', 'eng-spa']."""
    return sorted(path.stem for path in (datadir() / "modes").glob("*.mode"))


def mode_for(tgt_lang: str) -> tuple[str, Path]:
    """Apertium's mode for English into `tgt_lang`, and its file. Raises TranslationError that
    says what to install when Apertium or the pair is missing, or the language is not offered."""
    if tgt_lang not in PAIRS:
        raise TranslationError(
            f"Apertium translates English into {', '.join(PAIRS)}; got target language {tgt_lang!r}"
        )
    mode, package = PAIRS[tgt_lang]
    if not apertium_installed():
        raise TranslationError(
            "Apertium is not installed (expected apertium-wblank-mode and lt-proc on PATH): "
            f"apt-get install apertium {package}"
        )
    path = datadir() / "modes" / f"{mode}.mode"
    if not path.is_file():
        found = ", ".join(installed_modes()) or "none"
        raise TranslationError(
            f"the Apertium pair {mode} is not installed (expected {path}; installed: {found}): "
            f"apt-get install {package}"
        )
    return mode, path


def available_languages() -> list[str]:
    """The target languages whose pair is installed (none when Apertium itself is not)."""
    if not apertium_installed():
        return []
    modes = set(installed_modes())
    return [lang for lang, (mode, _) in PAIRS.items() if mode in modes]


def package_version(package: str) -> str | None:
    """A Debian package's installed version (None where dpkg cannot say)."""
    if shutil.which("dpkg-query") is None:
        return None
    done = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True, check=False
    )
    return done.stdout.strip() or None if done.returncode == 0 else None


def to_stream(text: str) -> bytes:
    """Plain text → one null-flushed message in Apertium's stream format: control characters
    and runs of blanks become one space, reserved characters are escaped, the pronoun "i" is
    capitalised (lowercase ASR text has it so; Apertium reads it as an unknown word), and the
    deformatter's sentence end and blank close it (without a closing blank lt-proc's bilingual
    step waits for more input)."""
    text = " ".join(CONTROL.sub(" ", text).split())
    text = PRONOUN_I.sub("I", text)
    return (SPECIAL.sub(r"\\\1", text) + TAIL).encode() + b"\0"


def from_stream(reply: bytes) -> str:
    """One reply (without its NUL) → plain text: the closing sentence end and blank taken off
    (as `apertium-retxt` does), escapes undone, blanks tidied."""
    text = reply.decode(errors="replace")
    text = text.removesuffix(TAIL) if text.endswith(TAIL) else text.removesuffix("[]")
    return " ".join(ESCAPED.sub(r"\1", text).split())


def _kill(process: subprocess.Popen[bytes]) -> None:
    """End a pipeline and every program in it (its own process group); close our ends of its
    pipes."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
            os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    for pipe in (process.stdin, process.stdout):
        if pipe is not None:
            with contextlib.suppress(OSError):  # a broken pipe's unflushed bytes
                pipe.close()


def _end(process: subprocess.Popen[bytes], errors: IO[bytes]) -> None:
    """Kill a pipeline and close the file of its stderr (also when a translator is never
    closed: at garbage collection or exit)."""
    _kill(process)
    errors.close()


class ApertiumTranslator:
    """English → `tgt_lang` with Apertium, one persistent pipeline (see the module). Use it as
    a context manager, or `close()` it; the pipeline is killed at exit in any case.

    `translate(text)` takes one final's text (at most MAX_TEXT_BYTES of UTF-8) and returns its
    translation, usually in 1–5 ms; raises TranslationError when Apertium fails or takes more
    than `timeout_s`. Construction raises TranslationError when Apertium or the pair is not
    installed (the message says what to install)."""

    def __init__(self, tgt_lang: str, timeout_s: float = 5.0) -> None:
        self.tgt_lang = tgt_lang
        self.mode, self.mode_file = mode_for(tgt_lang)
        self.timeout_s = timeout_s
        packages = ("apertium", PAIRS[tgt_lang][1])
        # e.g. "apertium 3.8.3-1+b2, apertium-eng-spa 0.8.1-2"
        self.version = ", ".join(f"{p} {package_version(p) or '(unknown)'}" for p in packages)
        self.command = self._pipeline()
        self.lock = threading.Lock()
        self.process: subprocess.Popen[bytes] | None = None
        self.errors: IO[bytes] | None = None  # the pipeline's stderr, for error messages
        self.pending = 0  # replies still owed for texts nobody waits for (the warm-up)
        self.buffer = b""
        self.closed = False
        self.finalizer: Finalizer | None = None  # kills the pipeline if this is never closed
        self._start()
        log.info("translating with Apertium %s (%s)", self.mode, self.version)

    @property
    def name(self) -> str:
        return f"apertium {self.mode}"

    def _pipeline(self) -> str:
        """The pair's programs, each in null-flush mode, as one shell pipeline."""
        done = subprocess.run(
            ["apertium-wblank-mode", "-z", str(self.mode_file)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0 or not done.stdout.strip():
            raise TranslationError(
                f"apertium-wblank-mode could not read {self.mode_file}: "
                f"{done.stderr.strip() or 'no pipeline'}"
            )
        return done.stdout.strip()

    def _start(self) -> None:
        """A fresh pipeline, sent the warm-up text (its programs load their data meanwhile)."""
        self.errors = tempfile.TemporaryFile()  # noqa: SIM115  (closed by `_end`)
        # $1 and $2 of a mode are the generator's and the tagger's options, as `apertium -u`
        # passes them: no marks on unknown words, no tagger option.
        self.process = subprocess.Popen(
            ["bash", "-c", self.command, "apertium", "-n", ""],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.errors,
            start_new_session=True,  # its own process group: killed as one
        )
        self.finalizer = weakref.finalize(self, _end, self.process, self.errors)
        self.buffer, self.pending = b"", 0
        try:
            self._send(to_stream(WARM_UP))
            self.pending = 1
        except Dead:  # it ended at once: the first text finds it dead, and says why
            pass

    def translate(self, text: str) -> str:
        """`text` (English) in the target language; "" for blank text."""
        if not text.strip():
            return ""
        message = to_stream(text)
        if len(message) > MAX_TEXT_BYTES:
            raise ValueError(f"translate takes at most {MAX_TEXT_BYTES} bytes, got {len(message)}")
        with self.lock:
            if self.closed:
                raise TranslationError(f"{self.name}: the translator is closed")
            try:
                return self._exchange(message)
            except Dead:
                why = self._why()
                log.warning("%s: the pipeline ended (%s); starting it again", self.name, why)
                self._restart()
                try:
                    return self._exchange(message)
                except Dead:
                    raise TranslationError(f"{self.name} failed: {self._why()}") from None

    def _exchange(self, message: bytes) -> str:
        """Send one message, return its reply (after any still owed). Raises Dead, or
        TranslationError on a timeout (the pipeline is then killed)."""
        if self.process is None or self.process.poll() is not None:
            raise Dead()
        self._send(message)
        deadline = time.monotonic() + self.timeout_s
        while self.pending:
            self._reply(deadline)
            self.pending -= 1
        return from_stream(self._reply(deadline))

    def _send(self, message: bytes) -> None:
        assert self.process is not None and self.process.stdin is not None
        try:
            self.process.stdin.write(message)
            self.process.stdin.flush()
        except OSError:  # a broken pipe: it ended
            raise Dead() from None

    def _reply(self, deadline: float) -> bytes:
        """The next NUL-ended reply (without its NUL)."""
        assert self.process is not None and self.process.stdout is not None
        out = self.process.stdout.fileno()
        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            readable, _, _ = select.select([out], [], [], max(0.0, left))
            if not readable:
                _kill(self.process)
                raise TranslationError(
                    f"{self.name} gave no answer within {self.timeout_s:g} s (stopped; the "
                    "next text starts it again)"
                )
            chunk = os.read(out, 65536)
            if not chunk:
                raise Dead()
            self.buffer += chunk
        reply, _, self.buffer = self.buffer.partition(b"\0")
        return reply

    def _why(self) -> str:
        """What the pipeline said last on stderr, else its exit status."""
        lines: list[str] = []
        if self.errors is not None:
            self.errors.seek(0)
            lines = self.errors.read().decode(errors="replace").strip().splitlines()
        status = None if self.process is None else self.process.poll()
        return lines[-1] if lines else f"exit status {status}"

    def _restart(self) -> None:
        self._stop()
        self._start()

    def _stop(self) -> None:
        """Kill the pipeline (if any) and drop its stderr."""
        if self.finalizer is not None:
            self.finalizer()  # once: it is dead afterwards

    def close(self) -> None:
        """End the pipeline: its input closed, then killed if it has not ended within 1 s.
        Idempotent; `translate` raises TranslationError afterwards."""
        with self.lock:
            if self.closed:
                return
            self.closed = True
            if self.process is not None and self.process.stdin is not None:
                try:
                    self.process.stdin.close()
                    self.process.wait(timeout=1.0)
                except (OSError, subprocess.TimeoutExpired):
                    pass
            self._stop()

    def __enter__(self) -> ApertiumTranslator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
