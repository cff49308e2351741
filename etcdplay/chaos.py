"""The harsher chaos faults: compound faults aimed at elections.

The plain chaos kinds (crash, stop, isolate, partition, delay) hit one
minority at a time between elections, where a correct Raft and most broken
ones behave the same. Bugs in voting and commitment show only when faults
land *during* an election or take out a majority, and when messages come
twice or out of order. Each kind here expands, like the plain ones, into
ordinary scenario steps inside its slot of the schedule (so a run replays
from its trace header), and ends with everything restarted and healed:

- ``crash-majority``: a majority (the leader among them, or any) crashes
  together and restarts together: the restarted members all campaign at
  once with their initial tick advance, some with stale logs.
- ``crash-election``: the leader crashes; when the followers' election timers
  fire (one to two election timeouts later) more members crash, up to a
  majority down, and all restart a moment later, in the middle of the
  election, having forgotten nothing they persisted (or, if a vote is not
  persisted, having forgotten it). Raft messages are slow (10-60 ms), so
  candidates overlap and votes split, and duplicated and reordered, so late
  vote requests and responses arrive across the restart.
- ``partition-election``: the leader is isolated or crashed; mid-election the
  cluster is split again into random groups (sometimes with no majority
  anywhere); heal and restart at the end. An isolated old leader keeps
  entries it could not commit, which the new leader must overwrite.
- ``stale-election``: a minority of followers is cut off (crashed or
  isolated) while the load commits without them; then they come back at the
  very moment the leader crashes, so members with stale logs stand in the
  election (and must lose it: the election restriction of §5.4.1).
- ``minority-leader``: the leader and one follower are cut off together: the
  old leader goes on appending what reaches it (it cannot commit) until
  CheckQuorum deposes it, while the majority elects and commits other
  entries at the same indexes: divergent logs that must be truncated at the
  heal.
- ``disorder``: Raft messages on every link are slow, duplicated and
  reordered for a while (``DisorderStep``); usually the leader crashes
  within the period, so an election runs under it.
- ``figure-8``: the paper's Figure 8 with a long tail. The leader and a
  minority with it are cut off while no other group holds a majority, and
  a burst of writes sent to the leader (100-200 of them) lands on that
  minority only: a long uncommitted tail. The leader crashes; the survivors
  of its group are joined by just enough members to make a majority that
  only they can lead (the others' logs are behind theirs), so one of them
  wins the next term holding the old term's tail. It must commit that tail
  only through an entry of its own term, though the old entries reach a
  majority (in batches of 64) first; at the heal the rest catch up from
  more than 64 entries behind the leader's commit index.
- ``stale-tail``: the leader and a minority with it are cut off, and a
  burst of writes sent to the leader lands on that minority only (a long
  tail of its term); the majority elects a leader of its own, which then
  stops gracefully and hands leadership over (etcd's transfer on
  shutdown): the next leader's log ends, inside the cut-off members'
  tail, with entries of a newer term, so at the heal its first append
  names a previous entry that they hold with another term, and they must
  refuse it (the §5.3 consistency check) and be walked back.
- ``laggard``: a minority of followers is cut off (crashed or isolated)
  while a burst of 100-200 writes commits without them; they come back more
  than 64 entries (one append batch) behind the leader's commit index, and
  half the time the leader crashes as they do, so the next leader needs
  their votes and must catch them up.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # scenario imports this module
    from etcdplay.scenario import ChaosSpec, ClusterSpec

HARSH_KINDS = frozenset(
    {
        "crash-majority",
        "crash-election",
        "partition-election",
        "stale-election",
        "minority-leader",
        "disorder",
        "figure-8",
        "stale-tail",
        "laggard",
    }
)

#: The burst of writes the ``figure-8`` and ``laggard`` faults send: more
#: than one append batch (64 entries), so followers catch up in batches.
BURST_WRITES = (100, 200)
BURST_SECONDS = 0.25
BURST_PREFIX = "burst/"

NOTE = "chaos"


def harsh_steps(
    kind: str,
    at: float,
    undo_at: float,
    slot: float,
    chaos: ChaosSpec,
    cluster: ClusterSpec,
    rng: random.Random,
) -> list[dict[str, Any]]:
    """The steps of one harsh fault starting at ``at``; everything is undone
    by ``undo_at`` (the schedule keeps faults from overlapping)."""
    size = cluster.size
    majority = size // 2 + 1
    # when followers' election timers fire after the last heartbeat
    lo_s, hi_s = (ms / 1000.0 for ms in cluster.election_range_ms)

    def within(t: float) -> float:
        # strictly inside (at, undo_at], on the millisecond grid of the schedule
        return round(min(max(t, at + 0.001), undo_at), 3)

    if kind == "crash-majority":
        target = rng.choice(["majority", f"random:{majority}"])
        return [
            {"at": at, "action": "crash", "target": target, "note": NOTE},
            {"at": undo_at, "action": "restart", "target": "crashed", "note": NOTE},
        ]
    if kind == "crash-election":
        mid = within(at + rng.uniform(lo_s, hi_s))
        rejoin = within(mid + rng.uniform(0.005, 0.3))
        steps: list[dict[str, Any]] = [
            _disorder(at, chaos, rng),
            _slow_network(at),
            {"at": at, "action": "crash", "target": "leader", "note": NOTE},
        ]
        if majority > 1:
            more = rng.randint(1, majority - 1)
            steps.append({"at": mid, "action": "crash", "target": f"random:{more}", "note": NOTE})
        steps.append({"at": rejoin, "action": "restart", "target": "crashed", "note": NOTE})
        steps.append({"at": undo_at, "action": "heal", "note": NOTE})
        return steps
    if kind == "minority-leader":
        group = ["leader", "followers:1"] if size > 3 else ["leader"]
        return [
            {"at": at, "action": "partition", "groups": [group], "note": NOTE},
            {"at": undo_at, "action": "heal", "note": NOTE},
        ]
    if kind == "partition-election":
        crash = rng.random() < 0.5
        mid = within(at + rng.uniform(lo_s, hi_s))
        first: dict[str, Any] = (
            {"at": at, "action": "crash", "target": "leader", "note": NOTE}
            if crash
            else {"at": at, "action": "isolate", "target": "leader", "note": NOTE}
        )
        a = rng.randint(1, max(1, majority - 1))
        groups = [[f"random:{a}"]]
        if rng.random() < 0.5 and size - a > 2:
            # a three-way split: often no group holds a majority
            groups.append([f"running:{rng.randint(1, max(1, (size - a) // 2))}"])  # not named twice
        steps = [first, {"at": mid, "action": "partition", "groups": groups, "note": NOTE}]
        steps.append({"at": undo_at, "action": "heal", "note": NOTE})
        if crash:
            steps.append({"at": undo_at, "action": "restart", "target": "crashed", "note": NOTE})
        return steps
    if kind == "stale-election":
        count = rng.randint(1, max(1, (size - 1) // 2))
        crash = rng.random() < 0.5
        back = within(at + rng.uniform(0.4, 0.7) * (undo_at - at))
        if crash:
            steps = [
                {"at": at, "action": "crash", "target": f"followers:{count}", "note": NOTE},
                {"at": back, "action": "restart", "target": "crashed", "note": NOTE},
            ]
        else:
            steps = [
                {"at": at, "action": "partition", "groups": [[f"followers:{count}"]], "note": NOTE},
                {"at": back, "action": "heal", "note": NOTE},
            ]
        steps.append({"at": back, "action": "crash", "target": "leader", "note": NOTE})
        steps.append({"at": undo_at, "action": "restart", "target": "crashed", "note": NOTE})
        return steps
    if kind == "disorder":
        steps = [_disorder(at, chaos, rng), _slow_network(at)]
        if rng.random() < 0.7:
            crash_at = within(at + rng.uniform(0.0, 0.3) * (undo_at - at))
            steps.append({"at": crash_at, "action": "crash", "target": "leader", "note": NOTE})
            steps.append({"at": undo_at, "action": "restart", "target": "crashed", "note": NOTE})
        steps.append({"at": undo_at, "action": "heal", "note": NOTE})
        return steps
    if kind == "figure-8":
        return _figure8(at, undo_at, slot, majority, chaos, rng)
    if kind == "stale-tail":
        pair = ["leader"] + ([f"followers:{majority - 2}"] if majority > 2 else [])
        # the majority elects within about one election timeout of the cut
        hand_over = within(at + hi_s + rng.uniform(0.1, 0.3))
        end = _end(at, undo_at, slot)
        return [
            {"at": at, "action": "partition", "groups": [pair], "note": NOTE},
            _burst(at, chaos, rng),
            {"at": hand_over, "action": "stop", "target": "leader", "note": NOTE},
            {"at": end, "action": "heal", "note": NOTE},
            {"at": end, "action": "restart", "target": "crashed", "note": NOTE},
        ]
    if kind == "laggard":
        count = rng.randint(1, max(1, (size - 1) // 2))
        crash = rng.random() < 0.5
        burst = _burst(at, chaos, rng)
        back = within(at + BURST_SECONDS + rng.uniform(0.05, 0.3))
        if crash:
            steps = [
                {"at": at, "action": "crash", "target": f"followers:{count}", "note": NOTE},
                burst,
                {"at": back, "action": "restart", "target": "crashed", "note": NOTE},
            ]
        else:
            steps = [
                {"at": at, "action": "partition", "groups": [[f"followers:{count}"]], "note": NOTE},
                burst,
                {"at": back, "action": "heal", "note": NOTE},
            ]
        if rng.random() < 0.5:
            steps.append({"at": back, "action": "crash", "target": "leader", "note": NOTE})
            steps.append({"at": undo_at, "action": "restart", "target": "crashed", "note": NOTE})
        return steps
    raise ValueError(f"not a harsh chaos kind: {kind!r}")


def _figure8(
    at: float, undo_at: float, slot: float, majority: int, chaos: ChaosSpec, rng: random.Random
) -> list[dict[str, Any]]:
    # The leader's group: a minority (with it, majority - 1 members); the
    # rest split so that no group can elect anyone while the burst lands.
    pair = ["leader"] + ([f"followers:{majority - 2}"] if majority > 2 else [])
    crash_at = round(at + BURST_SECONDS + 0.05, 3)  # CheckQuorum deposes it >= ~0.45 s after the cut
    end = _end(at, undo_at, slot)
    return [
        {"at": at, "action": "partition", "groups": [pair, ["running:1"]], "note": NOTE},
        _burst(at, chaos, rng),
        {"at": crash_at, "action": "crash", "target": "leader", "note": NOTE},
        # "isolated": the first group of the partition in force (the old
        # leader's); with it, members that cannot win without its votes
        {
            "at": crash_at,
            "action": "partition",
            "groups": [["isolated", f"running:{max(1, majority - len(pair) + 1)}"]],
            "note": NOTE,
        },
        {"at": end, "action": "heal", "note": NOTE},
        {"at": end, "action": "restart", "target": "crashed", "note": NOTE},
    ]


def _end(at: float, undo_at: float, slot: float) -> float:
    """The latest end a fault may have: past ``undo_at`` when the slot
    allows. A fault starts at most (slot - hold) / 2 into its slot, so
    ``at + (slot + hold) / 2`` is still inside the slot (less a margin for
    the millisecond rounding of the times)."""
    return max(undo_at, round(at + (slot + (undo_at - at)) / 2 - 0.002, 3))


def _burst(at: float, chaos: ChaosSpec, rng: random.Random) -> dict[str, Any]:
    """Writes sent to the leader itself, fast enough to outrun a catch-up batch."""
    writes = rng.randint(*BURST_WRITES)
    step: dict[str, Any] = {
        "at": at,
        "action": "load",
        "node": "leader",
        "rate": round(writes / BURST_SECONDS, 1),
        "duration": BURST_SECONDS,
        "prefix": BURST_PREFIX,
        "note": NOTE,
    }
    if chaos.load_keys:
        step["keys"] = chaos.load_keys
    return step


def _disorder(at: float, chaos: ChaosSpec, rng: random.Random) -> dict[str, Any]:
    return {
        "at": at,
        "action": "disorder",
        "target": "all",
        "duplicate": chaos.duplicate,
        "reorder": chaos.reorder,
        "spread_ms": round(rng.uniform(10.0, 100.0), 1),
        "note": NOTE,
    }


def _slow_network(at: float) -> dict[str, Any]:
    # A round trip of tens of ms: several members campaign before any wins.
    return {"at": at, "action": "delay", "target": "all", "latency_ms": "uniform(10,60)", "note": NOTE}
