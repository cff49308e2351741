"""Writing output files so that nothing is lost.

Every output (trace, report, sweep JSON, plot) is written to a hidden temporary
file beside the requested name and renamed over it only when complete. An
interrupted or failed run therefore never leaves a truncated file under the
requested name, and never removes a file that was there before.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO


class OutputError(ValueError):
    """An output file that cannot be written (bad input: exit status 2); ``str()`` is one line."""


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _where(option: str, path: Path) -> str:
    return f"{option} {path}" if option else str(path)


def check_writable(path: Path, option: str) -> None:
    """Fail early (before any work) for an output that cannot be written:
    a directory, or a folder that does not exist or does not take files."""
    if path.is_dir():
        raise OutputError(f"{_where(option, path)}: is a directory")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"{_where(option, path)}: no such directory {parent}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{_where(option, path)}: cannot write in {parent}")


def check_distinct(outputs: Iterable[tuple[str, Path | None]], inputs: Iterable[Path] = ()) -> None:
    """Two outputs with one name would overwrite each other, and an output named
    like an input would destroy it: both are refused before any work is done."""
    seen: dict[Path, str] = {}
    sources = {Path(p).resolve(): str(p) for p in inputs}
    for option, path in outputs:
        if path is None:
            continue
        key = path.resolve()
        if key in seen:
            raise OutputError(f"{_where(option, path)}: the same file as {seen[key]}; choose another name")
        if key in sources:
            raise OutputError(
                f"{_where(option, path)}: would overwrite the input {sources[key]}; choose another name"
            )
        seen[key] = f"{option} {path}"


class AtomicFile:
    """A text file for ``path`` that appears under that name only on ``commit()``;
    ``discard()`` (or any failure) removes it. Raises OutputError."""

    def __init__(self, path: Path, option: str, suffix: str = "") -> None:
        self.path, self.option = path, option
        if path.is_dir():
            raise OutputError(f"{_where(option, path)}: is a directory")
        try:
            fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".partial{suffix}")
        except OSError as exc:
            raise OutputError(f"{_where(option, path)}: cannot write ({_reason(exc)})") from None
        self.tmp = Path(name)
        self.handle: IO[str] = os.fdopen(fd, "w", encoding="utf-8")

    def commit(self) -> None:
        try:
            self.handle.close()
            _publish(self.tmp, self.path, self.option)
        except BaseException:
            self.discard()
            raise

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self.handle.close()
        self.tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_output(path: Path, option: str) -> Iterator[IO[str]]:
    """A text file for ``path``, visible under that name only once the block
    finishes without an exception; otherwise removed. Raises OutputError."""
    file = AtomicFile(path, option)
    try:
        yield file.handle
    except BaseException:
        file.discard()
        raise
    file.commit()


def write_text_atomic(path: Path, text: str, option: str) -> None:
    with atomic_output(path, option) as handle:
        handle.write(text)


@contextlib.contextmanager
def atomic_path(path: Path, option: str) -> Iterator[Path]:
    """A temporary path (same folder, same suffix) for a tool that writes the file
    itself; renamed to ``path`` when the block finishes, removed otherwise."""
    file = AtomicFile(path, option, suffix=path.suffix)
    file.handle.close()
    try:
        yield file.tmp
    except BaseException:
        file.discard()
        raise
    file.commit()


def _publish(tmp: Path, path: Path, option: str) -> None:
    """Give the finished file the usual permissions (mkstemp makes it 0600) and its name."""
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except OSError as exc:
        raise OutputError(f"{_where(option, path)}: cannot write ({_reason(exc)})") from None


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# Read once, at import (before any thread starts): os.umask can only be read by setting it.
_UMASK = _read_umask()
