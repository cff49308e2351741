"""The ``etcdplay`` command's entry point (and ``python -m etcdplay``'s).

Importing the CLI takes a moment (seconds on a loaded machine); a Ctrl-C in
that window ends like any interrupted run, with one line and exit status 130,
not a KeyboardInterrupt traceback from deep inside an import.
"""

from __future__ import annotations

import sys

EXIT_INTERRUPTED = 130


def main() -> None:
    try:
        from etcdplay.cli import main as cli_main
    except KeyboardInterrupt:
        sys.stderr.write("interrupted: no output written\n")
        raise SystemExit(EXIT_INTERRUPTED) from None
    cli_main()
