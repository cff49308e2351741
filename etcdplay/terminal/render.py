"""Pure functions from what the trace says to what the terminal draws.

Nothing here touches Textual or the session: a ``ClusterView`` (the fold of
the trace) and a few facts in, Rich ``Text`` out, so the pictures are tested
and benchmarked without a screen. Meaning never rides on colour alone (role
names are written out, the selected member is marked with ``>``), so the
dashboard reads the same under ``NO_COLOR``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from rich.text import Text

from etcdplay.play.view import ClusterView, MemberView
from etcdplay.trace import Event

ROLE_STYLE = {
    "leader": "bold green",
    "follower": "cyan",
    "candidate": "bold yellow",
    "pre-candidate": "yellow",
    "down": "bold red",
    "unknown": "dim",
}

SELECTED_MARK = ">"


def group_labels(view: ClusterView) -> dict[str, str]:
    """Member -> partition group letter (A, B, ...), empty when connected."""
    if view.groups is None:
        return {}
    return {name: chr(ord("A") + i) for i, group in enumerate(view.groups) for name in group}


def member_title(member: MemberView, selected: bool, group: str | None) -> str:
    mark = f"{SELECTED_MARK} " if selected else ""
    return f"{mark}{member.name}" + (f" ({group})" if group else "")


def _num(value: object) -> str:
    return "-" if value is None else str(value)


def human_bytes(size: int | None) -> str:
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "K", "M", "G"):
        if value < 1024 or unit == "G":
            return f"{value:.0f}{unit}" if unit == "B" else f"{value:.1f}{unit}"
        value /= 1024
    return f"{size}B"  # pragma: no cover - the loop always returns


def member_body(member: MemberView, live: bool, delayed: str | None = None) -> Text:
    """One member's panel: role, term, leader, commit/applied, keys, hash (db size on live)."""
    role = member.shown_role
    # a narrow panel (7 members in 80 columns) crops a line rather than wrap it
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(role.upper() if role == "leader" else role, style=ROLE_STYLE.get(role, ""))
    if delayed:
        text.append(" +lat", style="magenta")
    text.append(f"\nterm {_num(member.term)}")
    text.append(f"\nlead {_num(member.leader) if member.running else '-'}")
    text.append(f"\nc/a {_num(member.commit)}/{_num(member.applied)}")
    text.append(f"\nkeys {_num(member.keys)}")
    # 8 hex digits tell hashes apart at a glance and fit a 16-column panel
    text.append(f"\n#{(member.hash or '-')[:8]}", style="dim" if not member.hash else "")
    if live:
        text.append(f"\ndb {human_bytes(member.db_size)}")
    return text


#: Below this many columns a member's panel is unreadable: members go in rows instead.
MIN_PANEL_WIDTH = 11
#: One member's row in the compact view.
ROW_WIDTH = 38
SHORT_ROLE = {"leader": "LEADER", "follower": "follower", "candidate": "cand", "pre-candidate": "pre-cand"}


def compact(members: int, width: int) -> bool:
    """Whether ``members`` panels side by side would be too narrow in ``width`` columns."""
    return members > 0 and width // members < MIN_PANEL_WIDTH


def member_rows(
    members: Sequence[MemberView], selected: int, groups: dict[str, str], delayed: set[str], width: int
) -> Text:
    """Many members (9 or more in 80 columns): one row each, in as many columns
    as fit: name, group, role, term, applied index, hash (no colour needed)."""
    per_line = max(1, (width + 1) // (ROW_WIDTH + 1))
    text = Text(no_wrap=True, overflow="ellipsis")
    for i, member in enumerate(members):
        if i:
            text.append("\n" if i % per_line == 0 else " ")
        role = member.shown_role
        name = member.name + (f"({groups[member.name]})" if member.name in groups else "")
        text.append(
            f"{SELECTED_MARK if i == selected else ' '}{name:<7} ", style="bold" if i == selected else ""
        )
        text.append(f"{SHORT_ROLE.get(role, role):<8}", style=ROLE_STYLE.get(role, ""))
        cell = f" t{_num(member.term):<3} {_num(member.applied):>6} #{(member.hash or '-')[:6]:<6}"
        cell += "+" if member.name in delayed else " "
        text.append(cell)
    return text


def cluster_line(view: ClusterView, starting: bool = False) -> Text:
    """Leader, term, quorum, hashes, and the partition in force."""
    text = Text()
    if starting:
        return Text("starting the cluster...", style="bold")
    lead = view.leader()
    text.append("leader ")
    text.append(lead.name if lead else "none", style="bold green" if lead else "bold red")
    text.append(f"  term {view.term()}  quorum ")
    ok = view.quorum_ok()
    text.append("ok" if ok else "LOST", style="bold green" if ok else "bold red")
    agree = view.hashes_agree()
    text.append("  hashes ")
    if agree is None:
        text.append("pending", style="yellow")
    else:
        text.append("agree" if agree else "DIFFER", style="green" if agree else "bold red")
    if view.groups is not None:
        split = " | ".join(" ".join(g) for g in view.groups)
        text.append("  split ", style="bold magenta")
        text.append(split)
    if view.delayed:
        text.append("  slow " + " ".join(sorted(view.delayed)), style="magenta")
    return text


def status_line(
    backend: str, seed: int, t: float, speed: float | None, paused: bool, writes_ok: int, writes_failed: int
) -> Text:
    """The top line: backend, seed, clock, speed, run state, client totals."""
    text = Text()
    text.append("etcdplay ", style="bold")
    text.append(f"{backend} seed {seed}  t={t:7.2f}s")
    if speed is not None:
        text.append(f"  {speed:g}x")
        text.append("  PAUSED" if paused else "  running", style="bold yellow" if paused else "")
    text.append(f"  writes {writes_ok} ok")
    if writes_failed:
        text.append(f" {writes_failed} failed", style="red")
    text.append("  ? help")
    return text


def spark_label(name: str, value: float, unit: str) -> Text:
    return Text(f"{name} {value:6.1f}{unit}")


def _nodes(event: Event) -> str:
    nodes = event.get("nodes")
    return " ".join(nodes) if isinstance(nodes, list) else ""


def event_line(event: Event) -> Text | None:
    """A line of the event log, or None for an event not worth one (status,
    messages, timers, load writes, refused votes)."""
    kind = event.get("kind")
    node = event.get("node")
    t = float(event.get("t", 0.0))
    body: str | None = None
    style = ""
    if kind == "role":
        role = event.get("role")
        body = f"{node} -> {role} (term {event.get('term')})"
        style = ROLE_STYLE.get(str(role), "")
    elif kind == "vote":
        if not event.get("granted"):
            return None
        pre = "pre-vote" if event.get("pre_vote") else "vote"
        body = f"{node} grants {pre} to {event.get('candidate')} (term {event.get('term')})"
        style = "dim"
    elif kind == "leader":
        leader = event.get("leader")
        body = f"{node} follows {leader}" if leader else f"{node} lost its leader"
        style = "dim"
    elif kind == "fault":
        action = event.get("action")
        groups = event.get("groups")
        if action in ("partition", "isolate") and isinstance(groups, list):
            detail = " | ".join(" ".join(g) for g in groups)
        elif action == "delay":
            detail = f"{_nodes(event)} +{event.get('latency_ms')} ms"
        else:
            detail = _nodes(event)
        body = f"fault {action} {detail}".rstrip()
        style = "bold magenta"
    elif kind == "client":
        if event.get("source") == "load":
            return None
        body = client_text(event)
        style = "" if event.get("ok") else "red"
    elif kind == "load":
        if event.get("phase") == "start":
            body = (
                f"stress {event.get('prefix')}: {event.get('rate'):g} writes/s for {event.get('duration'):g}s"
            )
        else:
            body = (
                f"stress {event.get('prefix')} done: {event.get('acked')} acked, "
                f"{event.get('failed')} failed of {event.get('sent')}"
            )
    elif kind == "check":
        ok = bool(event.get("ok"))
        body = f"check {event.get('name')}: {'ok' if ok else 'FAILED'} {event.get('detail') or ''}".rstrip()
        style = "green" if ok else "bold red"
    elif kind == "note":
        body = f"{node + ': ' if node else ''}{event.get('text')}"
        style = "italic"
    elif kind == "step" and event.get("note"):
        body = f"lesson: {event.get('note')}"
        style = "bold"
    if body is None:
        return None
    line = Text(f"{t:8.3f} ", style="dim")
    line.append(body, style=style)
    return line


def client_text(event: Event) -> str:
    op, key = event.get("op"), event.get("key")
    via = f" via {event['node']}" if event.get("node") else ""
    latency = event.get("latency")
    ms = f" {float(latency) * 1000:.1f} ms" if isinstance(latency, int | float) else ""
    if not event.get("ok"):
        return f"{op} {key} failed: {event.get('error')}{ms}{via}"
    if op == "get":
        value = event.get("value")
        return f"get {key} = {value!r}{ms}{via}" if value is not None else f"get {key}: no such key{ms}{via}"
    if op == "put":
        return f"put {key} = {event.get('value')!r}{ms}{via}"
    return f"{op} {key}{ms}{via}"


def lesson_line(steps: Sequence[dict[str, Any]]) -> Text:
    """Where the lesson is: the prose of the latest step that ran, or of the next."""
    done = [s for s in steps if s.get("done")]
    text = Text(f"lesson {len(done)}/{len(steps)} ", style="bold")
    if done:
        text.append(str(done[-1].get("note") or done[-1].get("action")))
    else:
        first = steps[0]
        text.append(
            f"next at {first.get('at', 0):g}s: {first.get('note') or first.get('action')}", style="dim"
        )
    if len(done) == len(steps):
        text.append("  (done)", style="dim")
    return text


def reflow(prose: str) -> str:
    """Paragraphs as single lines, for the screen to wrap at its own width (the
    scenario files wrap them at 80 columns, which a narrower page wrapped again
    into ragged half-lines)."""
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", prose.strip())]
    return "\n\n".join(p for p in paragraphs if p)


def lesson_text(name: str, explain: str, steps: Sequence[dict[str, Any]]) -> Text:
    """The whole lesson: its prose and every step, those that ran ticked."""
    text = Text()
    text.append(f"{name}\n\n", style="bold")
    text.append(reflow(explain) + "\n\n" if explain.strip() else "")
    for s in steps:
        mark = "[x]" if s.get("done") else "[ ]"
        fields = {k: v for k, v in s.items() if k not in ("at", "action", "note", "done")}
        args = " ".join(f"{k}={v}" for k, v in fields.items())
        text.append(f"{mark} {float(s.get('at', 0)):6.2f}s {s.get('action')} {args}\n", style="bold")
        if s.get("note"):
            text.append(f"      {s['note']}\n")
    return text


def help_text(keys: Sequence[tuple[str, str]]) -> Text:
    """The ``?`` screen: every key and what it does."""
    text = Text()
    text.append("Keys\n\n", style="bold")
    width = max((len(k) for k, _ in keys), default=4)
    for key, what in keys:
        text.append(f"  {key:<{width}}  ", style="bold")
        text.append(f"{what}\n")
    text.append("\nThe selected member is marked '>'. Esc or ? closes this screen.")
    return text


def keys_line(keys: Sequence[tuple[str, str]], width: int) -> Text:
    """The footer: every key and a word for it, in lines of ``width``, broken
    between pairs, never inside one (Textual's footer cut its one row at the
    edge, mid-word, and hid quit at 80 columns)."""
    text = Text(no_wrap=True, overflow="ellipsis")
    column = 0
    for key, word in keys:
        size = len(key) + 1 + len(word)
        if column and column + 1 + size > width:
            text.append("\n")
            column = 0
        elif column:
            text.append(" ")
            column += 1
        text.append(key, style="bold")
        text.append(f" {word}")
        column += size
    return text
