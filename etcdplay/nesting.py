"""Bounded nesting for parsed input (scenario files, trace lines).

Python's JSON and TOML parsers, pydantic and ``json.dumps`` all recurse: a
list nested a few thousand deep raises RecursionError somewhere, and one
nested a few hundred deep passes the parser only to fail later. Nothing
etcdplay reads legitimately nests more than a handful of levels, so input
deeper than ``MAX_DEPTH`` is refused as soon as it is parsed.
"""

from __future__ import annotations

from typing import Any

#: Deeper than any scenario or trace event (a partition's groups are 3 levels).
MAX_DEPTH = 32


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether ``value`` (parsed JSON/TOML) nests lists/dicts more than ``limit`` deep.
    Iterative, so it cannot itself run out of stack."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        if depth >= limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def nesting_message(limit: int = MAX_DEPTH) -> str:
    return f"nested more than {limit} levels deep"
