"""``--set path=v1,v2,...``: a grid of overrides applied to a scenario.

A path names a field of the scenario as written in TOML, with dots
(``cluster.election_timeout_ms``, ``network.latency_ms``, ``chaos.faults``,
``steps.2.at``). Values are split on commas outside brackets and parentheses,
so ``network.latency_ms=uniform(5,10),uniform(50,100)`` is two values and
``cluster.election_timeout_ms=[150,300],[300,600]`` two ranges. Each value is
read as JSON when it can be (numbers, ``true``, ``[150,300]``), else as text.
Every grid point is validated by the scenario model before anything runs.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from typing import Any

from etcdplay.scenario import Scenario, ScenarioError, from_dict
from etcdplay.sweep.errors import SweepError


def split_values(text: str) -> list[str]:
    """Split on commas that are not inside (), [] or quotes."""
    parts: list[str] = []
    depth = 0
    quote: str | None = None
    current: list[str] = []
    for char in text:
        if quote:
            if char == quote:
                quote = None
        elif char in "\"'":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    parts.append("".join(current).strip())
    return parts


def parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
            return text[1:-1]
        return text


def parse_set(option: str) -> tuple[str, list[Any]]:
    """``cluster.size=3,5`` -> ("cluster.size", [3, 5])."""
    path, sep, raw = option.partition("=")
    path = path.strip()
    if not sep or not path:
        raise SweepError(f"--set {option!r}: expected path=value[,value...], e.g. cluster.size=3,5")
    texts = split_values(raw)
    if not raw.strip() or any(not t for t in texts):
        raise SweepError(f"--set {option!r}: empty value (give at least one, separated by commas)")
    return path, [parse_value(t) for t in texts]


def _known_fields(model: Any) -> list[str]:
    return sorted(getattr(type(model), "model_fields", {}))


def check_path(scenario: Scenario, path: str) -> None:
    """Raise SweepError unless ``path`` names a field of the scenario model."""
    node: Any = scenario
    walked: list[str] = []
    for part in path.split("."):
        where = ".".join(walked) or "the scenario"
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise SweepError(f"--set {path}: {where} has {len(node)} entries, {part!r} is not an index")
            node = node[int(part)]
        elif hasattr(type(node), "model_fields"):
            fields = _known_fields(node)
            if part not in fields:
                raise SweepError(f"--set {path}: {where} has no field {part!r} (fields: {', '.join(fields)})")
            value = getattr(node, part)
            if value is None and part == "chaos":
                raise SweepError(f"--set {path}: this scenario has no [chaos] section to change")
            node = value
        else:
            raise SweepError(f"--set {path}: {where} is a value, it has no field {part!r}")
        walked.append(part)
    if hasattr(type(node), "model_fields"):
        raise SweepError(
            f"--set {path}: names a whole section; set one of its fields ({', '.join(_known_fields(node))})"
        )


def _assign(data: Any, path: list[str], value: Any) -> None:
    for part in path[:-1]:
        data = data[int(part)] if isinstance(data, list) else data.setdefault(part, {})
    last = path[-1]
    if isinstance(data, list):
        data[int(last)] = value
    else:
        data[last] = value


def _one_line(message: str) -> str:
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    return lines[0] if len(lines) == 1 else "; ".join(lines[1:])


def expand(scenario: Scenario, sets: Sequence[str]) -> tuple[list[str], list[dict[str, Any]], list[Scenario]]:
    """The grid: swept paths, each point's overrides, each point's scenario.

    The last ``--set`` varies fastest. With no ``--set`` the grid is one point,
    the scenario as it is.
    """
    axes: list[tuple[str, list[Any]]] = []
    for option in sets:
        path, values = parse_set(option)
        check_path(scenario, path)
        if any(path == p for p, _ in axes):
            raise SweepError(f"--set {path}: given twice; list every value in one --set")
        axes.append((path, values))
    base = scenario.to_dict()
    points: list[dict[str, Any]] = []
    scenarios: list[Scenario] = []
    for combo in itertools.product(*[values for _, values in axes]):
        overrides = {path: value for (path, _), value in zip(axes, combo, strict=True)}
        data = json.loads(json.dumps(base))
        for path, value in overrides.items():
            _assign(data, path.split("."), value)
        source = "--set " + " ".join(f"{p}={json.dumps(v)}" for p, v in overrides.items())
        try:
            scenarios.append(from_dict(data, source))
        except ScenarioError as exc:
            raise SweepError(f"{source}: {_one_line(str(exc))}") from None
        points.append(overrides)
    return [p for p, _ in axes], points, scenarios


def point_label(overrides: dict[str, Any]) -> str:
    if not overrides:
        return "as written"
    return ", ".join(
        f"{path.rsplit('.', 1)[-1]}={v if isinstance(v, str) else json.dumps(v)}"
        for path, v in overrides.items()
    )
