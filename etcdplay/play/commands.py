"""Commands a person gives a play session, checked before anything happens.

A command is a small JSON-like dict, the same from the web page and the
terminal. Cluster commands become scenario steps (validated by the scenario
model itself, so "n9" in a 5-node cluster is refused with the scenario's own
message); session controls (pause, speed, branch...) act on the session.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError

from etcdplay.scenario import Scenario, ScenarioError, Step, from_dict

#: Commands that become scenario steps (``stress`` becomes a ``load`` step).
STEP_ACTIONS = (
    "crash",
    "kill",  # etcd-play's word for crash
    "stop",
    "restart",
    "isolate",
    "partition",
    "heal",
    "delay",
    "put",
    "get",
    "delete",
    "stress",
)
#: Commands that act on the session (simulator only, but for ``close``).
CONTROL_ACTIONS = ("pause", "resume", "step", "speed", "branch")

#: Limits for hand-typed values: beyond them a command is a typo, not a wish.
MAX_KEY_BYTES = 4096
MAX_VALUE_BYTES = 1 << 20
MAX_STRESS = 100_000
DEFAULT_STRESS_RATE = 100.0

_STEP: TypeAdapter[Any] = TypeAdapter(Step)


class CommandError(ValueError):
    """A command that cannot be carried out; the message says why."""


@dataclass(frozen=True)
class Control:
    """A session control: pause, resume, step, speed (``value``) or branch (``value`` = t)."""

    action: str
    value: float | None = None


def _nodes(command: dict[str, Any]) -> list[str]:
    nodes = command.get("nodes", command.get("node"))
    if isinstance(nodes, str):
        return [nodes]
    if isinstance(nodes, list) and nodes and all(isinstance(n, str) for n in nodes):
        return list(nodes)
    raise CommandError(f"{command.get('action')}: name the member(s) with 'node' or 'nodes' (e.g. \"n1\")")


def _text(command: dict[str, Any], field: str, limit: int, *, required: bool = True) -> str:
    value = command.get(field, None if required else "")
    if not isinstance(value, str) or (required and not value):
        raise CommandError(f"{command.get('action')}: '{field}' must be a non-empty string")
    if "\x00" in value or any(0xD800 <= ord(c) <= 0xDFFF for c in value):
        raise CommandError(f"{command.get('action')}: '{field}' is not valid UTF-8 text")
    if len(value.encode()) > limit:
        raise CommandError(f"{command.get('action')}: '{field}' is longer than {limit} bytes")
    return value


def _number(command: dict[str, Any], field: str, default: float | None = None) -> float:
    value = command.get(field, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise CommandError(f"{command.get('action')}: '{field}' must be a finite number")
    return float(value)


def _member(command: dict[str, Any]) -> str | None:
    node = command.get("node")
    if node is None or node == "":
        return None
    if not isinstance(node, str):
        raise CommandError(f"{command.get('action')}: 'node' must be a member name such as \"n1\"")
    return node


def step_data(command: dict[str, Any], stress_count: int) -> dict[str, Any]:
    """The scenario step (as data, without ``at``) a cluster command stands for."""
    action = command["action"]
    if action == "kill":
        action = "crash"
    if action in ("crash", "stop", "restart", "isolate"):
        return {"action": action, "target": _nodes(command)}
    if action == "partition":
        groups = command.get("groups")
        if not isinstance(groups, list) or not groups or not all(isinstance(g, list) for g in groups):
            raise CommandError('partition: \'groups\' must be a list of groups, e.g. [["n1","n2"],["n3"]]')
        return {"action": "partition", "groups": groups}
    if action == "heal":
        return {"action": "heal"}
    if action == "delay":
        latency = command.get("latency_ms", "fixed(200)")
        if isinstance(latency, int | float) and not isinstance(latency, bool):
            latency = f"fixed({latency:g})"
        return {"action": "delay", "target": _nodes(command), "latency_ms": latency}
    if action == "put":
        return {
            "action": "put",
            "key": _text(command, "key", MAX_KEY_BYTES),
            "value": _text(command, "value", MAX_VALUE_BYTES, required=False),
            "node": _member(command),
        }
    if action in ("get", "delete"):
        return {"action": action, "key": _text(command, "key", MAX_KEY_BYTES), "node": _member(command)}
    # stress: N writes at a chosen member, as etcd-play's stress did
    count = _number(command, "count", 100)
    if count != int(count) or not 1 <= count <= MAX_STRESS:
        raise CommandError(f"stress: 'count' must be a whole number from 1 to {MAX_STRESS}")
    rate = _number(command, "rate", DEFAULT_STRESS_RATE)
    if not 0 < rate <= 10_000:
        raise CommandError("stress: 'rate' must be between 0 and 10000 writes per second")
    return {
        "action": "load",
        "rate": rate,
        "duration": count / rate,
        "prefix": f"stress/{stress_count}/",
        "node": _member(command),
    }


def parse_command(command: Any, scenario: Scenario, stress_count: int = 0) -> Any:
    """A step (without a meaningful ``at``: the session sets it) or a ``Control``.

    Raises ``CommandError`` naming what is wrong.
    """
    if not isinstance(command, dict):
        raise CommandError('a command is an object such as {"action": "crash", "node": "n1"}')
    action = command.get("action")
    if action in CONTROL_ACTIONS:
        if action == "speed":
            speed = _number(command, "speed")
            if not 0.001 <= speed <= 1000:
                raise CommandError("speed: must be from 0.001 to 1000 (1 = real time)")
            return Control("speed", speed)
        if action == "branch":
            t = _number(command, "t")
            if t < 0:
                raise CommandError("branch: 't' must be >= 0")
            return Control("branch", t)
        return Control(str(action))
    if action not in STEP_ACTIONS:
        known = ", ".join((*STEP_ACTIONS, *CONTROL_ACTIONS))
        raise CommandError(f"unknown action {action!r} (known: {known})")
    data = {k: v for k, v in step_data(command, stress_count).items() if v is not None}
    data["at"] = 0.0
    # Validated as part of the session's scenario: node names are checked
    # against the cluster with the scenario's own messages.
    try:
        checked = from_dict(
            {**scenario.model_dump(mode="json", exclude_none=True), "steps": [data], "chaos": None},
            "command",
        )
    except ScenarioError as exc:
        # the scenario's message names the file and step; a command has neither
        detail = str(exc).splitlines()[-1].strip()
        detail = re.sub(
            r"^(scenario: )?(steps\[0\] )?\([a-z-]+(, the 1st \[\[steps\]\])?\)\.?", "", detail
        ).strip()
        raise CommandError(f"{action}: {detail}") from None
    except ValidationError as exc:  # pragma: no cover - from_dict turns these into ScenarioError
        raise CommandError(f"{action}: {exc}") from None
    return checked.steps[0]


def step_with_time(step: Any, at: float) -> Any:
    """The same step at ``at`` (steps are frozen models)."""
    return _STEP.validate_python({**step.model_dump(mode="json", exclude_none=True), "at": at})
