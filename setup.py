"""Compiles the simulator's hot modules with mypyc when it can.

Everything else about the package is in pyproject.toml. The compiled core
is an accelerator, not a requirement: with no C compiler (or with
ETCDPLAY_PURE_PYTHON=1 at install time) the install still succeeds and the
Python source runs, about 2x slower (see etcdplay/native.py).
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent


def compiled_modules() -> list[str]:
    """etcdplay.native.COMPILED, read without importing the package (its
    dependencies are not in the build environment)."""
    tree = ast.parse((HERE / "etcdplay" / "native.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "COMPILED" for t in node.targets
        ):
            return list(ast.literal_eval(node.value))
    raise RuntimeError("COMPILED not found in etcdplay/native.py")


#: module -> SHA-256 of the source that mypyc compiled (etcdplay/native.py
#: compares it with the source at import time)
COMPILED_FROM: dict[str, str] = {}


class OptionalBuildExt(build_ext):
    """A failed compile is a warning: the package works without it. After a
    complete build, records what was compiled in etcdplay/native_build.json."""

    def run(self) -> None:
        self._failed = False
        try:
            super().run()
        except Exception as exc:  # compiler or headers missing, ...
            self._skip(exc)
        if COMPILED_FROM and not self._failed:
            package = Path(self.get_ext_fullpath("etcdplay.sim.raft")).parent.parent
            (package / "native_build.json").write_text(json.dumps(COMPILED_FROM, indent=1, sort_keys=True))

    def build_extension(self, ext):  # type: ignore[no-untyped-def]
        try:
            super().build_extension(ext)
        except Exception as exc:
            self._skip(exc)

    def _skip(self, exc: Exception) -> None:
        self._failed = True
        print(
            f"etcdplay: not compiling the simulator core ({exc}); the Python source will run", file=sys.stderr
        )


def ext_modules() -> list[Extension]:
    if os.environ.get("ETCDPLAY_PURE_PYTHON", "") not in ("", "0"):
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        print("etcdplay: mypyc is not available; the Python source will run", file=sys.stderr)
        return []
    modules = compiled_modules()
    paths = [str(Path(*m.split(".")).with_suffix(".py")) for m in modules]
    for module, path in zip(modules, paths, strict=True):
        COMPILED_FROM[module] = hashlib.sha256((HERE / path).read_bytes()).hexdigest()
    # No config file: pyproject's mypy settings load the pydantic plugin,
    # which the build environment does not have. Imports that are not found
    # there (simpy, pydantic, ...) are typed Any, which mypyc handles.
    return mypycify(
        ["--config-file=", "--ignore-missing-imports", "--follow-imports=silent", *paths],
        opt_level="3",
        # a fixed name for the shared library of the compiled modules: an
        # editable install records top-level names once, at install time
        group_name="etcdplay_native",
    )


setup(ext_modules=ext_modules(), cmdclass={"build_ext": OptionalBuildExt})
