"""What the command line says when etcdplay itself is wrong.

Exit status 1 means a check failed and 2 bad input; a bug in etcdplay must be
neither, so a user (or a script) can tell "the cluster misbehaved" from
"the tool broke". An unexpected exception ends the run with ``EXIT_INTERNAL``
and one line that names the exception and where to report it; the traceback
goes to a file, not the terminal, so it can be attached to the report.
"""

from __future__ import annotations

import os
import tempfile
import traceback
from pathlib import Path

EXIT_INTERNAL = 3

REPORT_TO = "the etcdplay issue tracker (etcdplay issues)"


def _save_traceback(exc: BaseException) -> Path | None:
    text = "".join(traceback.format_exception(exc))
    try:
        fd, name = tempfile.mkstemp(prefix="etcdplay-internal-error-", suffix=".txt")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError:
        return None
    return Path(name)


def describe(exc: BaseException) -> str:
    """The one line for an unexpected exception (its traceback saved to a file)."""
    saved = _save_traceback(exc)
    what = f"{type(exc).__name__}: {exc}".splitlines()[0] if str(exc) else type(exc).__name__
    where = f"; traceback in {saved}" if saved is not None else ""
    return f"internal error in etcdplay ({what}){where}; please report it to {REPORT_TO}"
