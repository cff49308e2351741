"""Writing output files so that nothing is lost.

Every output (trace, report, sweep JSON, plot) is written to a hidden temporary
file beside the requested name and renamed over it only when complete. A
symlink is written through (its target replaced), and a target that is not a
regular file (/dev/null, a FIFO) is written directly, never renamed over. An
interrupted or failed run therefore never leaves a truncated file under the
requested name, and never removes a file that was there before.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
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
    target = _target(path)
    if _is_special(target):
        if not os.access(target, os.W_OK):
            raise OutputError(f"{_where(option, path)}: cannot write")
        return
    parent = target.parent if str(target.parent) else Path(".")
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


def _target(path: Path) -> Path:
    """The file a write to ``path`` must change: a symlink is written through
    (its target is replaced, the link stays), as ``>`` in a shell would."""
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def _is_special(path: Path) -> bool:
    """An existing target that is not a regular file (a device such as
    /dev/null or /dev/full, a FIFO): renaming over it would replace it."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


#: OSErrors that mean the output itself could not take the data.
_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EPIPE, errno.EROFS})


class AtomicFile:
    """A text file for ``path`` that appears under that name only on ``commit()``;
    ``discard()`` (or any failure) removes it. Raises OutputError.

    Only a regular file (or a new name) is replaced by renaming; a symlink is
    written through to its target, and a device or FIFO (``--out /dev/null``)
    is written to directly, since a rename would replace the device itself."""

    def __init__(self, path: Path, option: str, suffix: str = "") -> None:
        self.path, self.option = path, option
        if path.is_dir():
            raise OutputError(f"{_where(option, path)}: is a directory")
        self.target = _target(path)
        self.direct = _is_special(self.target)
        self.tmp: Path | None = None
        try:
            if self.direct:
                self.handle: IO[str] = open(self.target, "w", encoding="utf-8")  # noqa: SIM115
                return
            fd, name = tempfile.mkstemp(
                dir=self.target.parent, prefix=f".{self.target.name}.", suffix=f".partial{suffix}"
            )
        except OSError as exc:
            raise OutputError(f"{_where(option, path)}: cannot write ({_reason(exc)})") from None
        self.tmp = Path(name)
        self.handle = os.fdopen(fd, "w", encoding="utf-8")

    def commit(self) -> None:
        try:
            try:
                self.handle.close()
            except OSError as exc:
                where = _where(self.option, self.path)
                raise OutputError(f"{where}: cannot write ({_reason(exc)})") from None
            if self.tmp is not None:
                _publish(self.tmp, self.target, self.option, self.path)
        except BaseException:
            self.discard()
            raise

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self.handle.close()
        if self.tmp is not None:
            self.tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_output(path: Path, option: str) -> Iterator[IO[str]]:
    """A text file for ``path``, visible under that name only once the block
    finishes without an exception; otherwise removed. Raises OutputError,
    also for a write that fails inside the block (a full disk, /dev/full)."""
    file = AtomicFile(path, option)
    try:
        yield file.handle
    except OSError as exc:
        file.discard()
        if exc.errno in _WRITE_ERRNOS:
            raise OutputError(f"{_where(option, path)}: cannot write ({_reason(exc)})") from None
        raise
    except BaseException:
        file.discard()
        raise
    file.commit()


def write_text_atomic(path: Path, text: str, option: str) -> None:
    with atomic_output(path, option) as handle:
        handle.write(text)


@contextlib.contextmanager
def atomic_path(path: Path, option: str) -> Iterator[Path]:
    """A temporary path (same suffix) for a tool that writes the file itself;
    renamed to ``path`` when the block finishes, removed otherwise. For a
    device or FIFO target the finished file's bytes are copied into it."""
    if _is_special(_target(path)):
        with tempfile.TemporaryDirectory(prefix="etcdplay-out-") as folder:
            tmp = Path(folder) / f"out{path.suffix}"
            yield tmp
            try:
                with open(_target(path), "wb") as out:
                    out.write(tmp.read_bytes())
            except OSError as exc:
                raise OutputError(f"{_where(option, path)}: cannot write ({_reason(exc)})") from None
        return
    file = AtomicFile(path, option, suffix=path.suffix)
    file.handle.close()
    assert file.tmp is not None
    try:
        yield file.tmp
    except BaseException:
        file.discard()
        raise
    file.commit()


def _publish(tmp: Path, path: Path, option: str, named: Path | None = None) -> None:
    """Give the finished file the usual permissions (mkstemp makes it 0600) and its name."""
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except OSError as exc:
        raise OutputError(f"{_where(option, named or path)}: cannot write ({_reason(exc)})") from None


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# Read once, at import (before any thread starts): os.umask can only be read by setting it.
_UMASK = _read_umask()
