"""Which simulator core runs: the compiled one (mypyc) or the Python source.

``pip install`` compiles the simulator's hot modules (``COMPILED``) with
mypyc into C extensions next to their ``.py`` files; Python then imports the
extension. The source stays the reference: it is what the docs point to and
what a learner edits. Three things make Python load the source instead:

- ``ETCDPLAY_PURE_PYTHON=1`` in the environment (to step through the core
  in a debugger, or to compare the two);
- no extension was built (no C compiler at install time);
- a source differs from what was compiled (``native_build.json`` holds
  their hashes): after an edit or a ``git pull`` in an editable install the
  compiled core would silently run the old code, so we fall back to the
  source and say once how to rebuild.

Both cores give byte-identical traces (``tests/test_native.py``).

This module must be imported before any module it covers; the package's
``__init__`` does so.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

#: The modules mypyc compiles (setup.py reads this list too).
COMPILED = (
    "etcdplay.trace",
    "etcdplay.sim.clock",
    "etcdplay.sim.kv",
    "etcdplay.sim.raft",
    "etcdplay.sim.timers",
    "etcdplay.sim.network",
    "etcdplay.sim.node",
    "etcdplay.sim.safety",
    "etcdplay.sim.client",
    "etcdplay.sim.failover",
    "etcdplay.sim.backend",
    # the checks every run ends with (a tenth of a lean chaos run interpreted)
    "etcdplay.checks",
    "etcdplay.linearizability",
)

PURE_ENV = "ETCDPLAY_PURE_PYTHON"

#: Written by setup.py next to this file after a build: the SHA-256 of each
#: compiled module's source, as it was compiled.
MANIFEST = "etcdplay/native_build.json"

_ROOT = Path(__file__).resolve().parent.parent


def source_path(module: str) -> Path:
    return _ROOT.joinpath(*module.split(".")).with_suffix(".py")


def extension_path(module: str) -> Path | None:
    """The compiled extension of ``module`` next to its source, if built."""
    source = source_path(module)
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        candidate = source.with_suffix(suffix)
        if candidate.exists():
            return candidate
    return None


def source_digest(module: str) -> str:
    return hashlib.sha256(source_path(module).read_bytes()).hexdigest()


def _decide() -> tuple[bool, str]:
    """(compiled?, why) for this process."""
    if os.environ.get(PURE_ENV, "") not in ("", "0"):
        return False, f"{PURE_ENV} is set"
    missing = [m for m in COMPILED if extension_path(m) is None]
    if len(missing) == len(COMPILED):
        return False, "not compiled: no C compiler at install time?"
    try:
        built: dict[str, str] = json.loads((_ROOT / MANIFEST).read_text())
    except (OSError, ValueError):
        built = {}
    if missing or not built:
        return False, "partly compiled: the build did not finish"
    # Content, not modification times: a build that generates the same C
    # for a comment-only edit relinks nothing, and a checkout sets times.
    for module in COMPILED:
        if built.get(module) != source_digest(module):
            return False, f"{source_path(module).relative_to(_ROOT)} changed after the core was compiled"
    return True, "mypyc build matching the source"


class _SourceFinder:
    """Finds the covered modules as ``.py`` source, ahead of the extension
    that Python's own path finder would pick first."""

    def __init__(self, modules: Sequence[str]) -> None:
        self._modules = frozenset(modules)

    def find_spec(
        self, name: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if name not in self._modules:
            return None
        return importlib.util.spec_from_file_location(name, source_path(name))


COMPILED_CORE, REASON = _decide()

if not COMPILED_CORE:
    already = [m for m in COMPILED if m in sys.modules]
    if already:  # cannot happen when the package __init__ imports us first
        raise ImportError(f"etcdplay.native imported after {already}")
    sys.meta_path.insert(0, _SourceFinder(COMPILED))
    if "changed" in REASON or "partly" in REASON:
        print(
            f"etcdplay: {REASON}; running the Python source (slower). Rebuild with: pip install -e .",
            file=sys.stderr,
        )


def describe() -> str:
    """One line for ``etcdplay --version`` and the benchmarks."""
    return f"simulator core: {'compiled' if COMPILED_CORE else 'Python source'} ({REASON})"
