"""Known etcd bugs that a failed check can be recognised as.

A kill-under-load run on etcd 3.5.0-3.5.2 finds etcd-io/etcd#13766 again and
again: a member SIGKILLed while applying comes back having skipped one entry
(its consistent index was saved before the entry it covers was applied), so
it sits one revision behind the others with a different hash. That is a real
finding, and the run still fails; but a user should be told at once that it
is a known, fixed bug of their etcd version, not a new one. The recogniser
asks for the bug's whole signature, read from the trace alone: the version
range, the failed check, and that the members which disagree with the
majority are exactly members the run had SIGKILLed before the disagreement
was seen. The failed check is ``no-divergence`` (the first revision where
hashes differ), ``convergence`` (the final status), or an ``expect =
"converged"`` step that timed out (the last hashes taken before it gave up).
Anything else is left as an unexplained failure.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from etcdplay.checks import CheckResult
from etcdplay.trace import Event


@dataclass(frozen=True)
class KnownBug:
    ref: str
    first: tuple[int, int, int]  # first affected version
    last: tuple[int, int, int]  # last affected version
    summary: str

    def affects(self, version: str | None) -> bool:
        parsed = parse_version(version)
        return parsed is not None and self.first <= parsed <= self.last


ETCD_13766 = KnownBug(
    "etcd-io/etcd#13766",
    (3, 5, 0),
    (3, 5, 2),
    "etcd 3.5.0-3.5.2, fixed in 3.5.3: a member SIGKILLed under load comes back "
    "having skipped one applied entry",
)

KNOWN_BUGS = (ETCD_13766,)


def parse_version(version: str | None) -> tuple[int, int, int] | None:
    """'3.5.1' -> (3, 5, 1); None for anything else (a git build, no version)."""
    if not version:
        return None
    parts = version.strip().lstrip("v").split(".")
    if len(parts) < 3:
        return None
    try:
        return int(parts[0]), int(parts[1]), int(parts[2].split("-")[0].split("+")[0])
    except ValueError:
        return None


def recognise(result: CheckResult, header: Event, events: Sequence[Event]) -> CheckResult:
    """``result`` with ``known_bug`` set and a pointer added to its detail when
    the failure carries a known bug's signature; otherwise ``result`` as it is."""
    if result.ok or result.skipped or header.get("backend") != "live":
        return result
    version = header.get("etcd_version")
    if not ETCD_13766.affects(None if version is None else str(version)):
        return result
    if result.name == "no-divergence":
        odd, seen_at = _odd_at_divergence(events, result)
    elif result.name == "convergence":
        odd, seen_at = _odd_at_end(events), None
    elif result.name == "expect:converged":
        odd, seen_at = _odd_in_last_round(events, result.at), result.at
    else:
        return result
    killed = _killed_before(events, seen_at)
    if not odd or not odd <= killed:
        return result
    who = ", ".join(sorted(odd))
    return dataclasses.replace(
        result,
        detail=f"{result.detail}. Known bug {ETCD_13766.ref}, {ETCD_13766.summary}; "
        f"{who} had been SIGKILLed before",
        known_bug=ETCD_13766.ref,
    )


def _killed_before(events: Iterable[Event], t: float | None) -> set[str]:
    killed: set[str] = set()
    for e in events:
        crash = e["kind"] == "fault" and e.get("action") == "crash"
        if crash and (t is None or float(e["t"]) <= t):
            killed.update(str(n) for n in e.get("nodes") or ())
    return killed


def _minority(groups: dict[Any, set[str]]) -> set[str]:
    """The members outside the largest group; every member when no group is
    larger than the rest (then nothing says which side is wrong)."""
    if len(groups) < 2:
        return set()
    sizes = sorted((len(g) for g in groups.values()), reverse=True)
    if sizes[0] == sizes[1]:
        return set()
    largest = max(groups.values(), key=len)
    return set().union(*groups.values()) - largest


def _odd_at_divergence(events: Sequence[Event], result: CheckResult) -> tuple[set[str], float | None]:
    """Who disagrees with the majority at the revision where members first
    diverged, from every hash reported at that revision."""
    if result.at is None:
        return set(), None
    at = result.at
    first = next(
        (
            e
            for e in events
            if e["kind"] == "status"
            and e.get("hash") is not None
            and abs(float(e["t"]) - at) < 1e-9
            and str(e.get("node")) in result.nodes
        ),
        None,
    )
    if first is None:
        return set(), at
    rev = first.get("hash_revision", first.get("revision"))
    latest: dict[str, str] = {}
    for e in events:
        same_revision = e.get("hash_revision", e.get("revision")) == rev
        if e["kind"] == "status" and e.get("hash") is not None and same_revision:
            latest[str(e.get("node"))] = str(e["hash"])
    groups: dict[Any, set[str]] = {}
    for node, digest in latest.items():
        groups.setdefault(digest, set()).add(node)
    return _minority(groups), at


def _odd_in_last_round(events: Sequence[Event], at: float | None) -> set[str]:
    """Who disagrees with the majority in the last hashes taken up to ``at``:
    each member's latest hash, compared at the revision most of them were
    hashed at. A member that is only slow to catch up hashes the same as the
    others at a revision they all have; only a diverged one differs."""
    latest: dict[str, tuple[Any, str]] = {}
    for e in events:
        if e["kind"] != "status" or e.get("hash") is None or (at is not None and float(e["t"]) > at):
            continue
        latest[str(e.get("node"))] = (e.get("hash_revision", e.get("revision")), str(e["hash"]))
    if not latest:
        return set()
    revisions = Counter(rev for rev, _ in latest.values())
    common = revisions.most_common(1)[0][0]
    groups: dict[Any, set[str]] = {}
    for node, (rev, digest) in latest.items():
        if rev == common:
            groups.setdefault(digest, set()).add(node)
    return _minority(groups)


def _odd_at_end(events: Sequence[Event]) -> set[str]:
    statuses: list[dict[str, Any]] = []
    for e in events:
        if e["kind"] == "note" and e.get("text") == "final status":
            statuses = list(e.get("statuses") or ())
    running = [s for s in statuses if s.get("running")]
    groups: dict[Any, set[str]] = {}
    for s in running:
        groups.setdefault((s.get("revision"), s.get("hash")), set()).add(str(s["node"]))
    return _minority(groups)
