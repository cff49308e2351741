"""Ongaro's leader-failover experiment, one trial at a time, fast.

Ongaro & Ousterhout measured how long a Raft cluster takes to replace a
crashed leader (the Raft paper, section 9.3, and Ongaro's thesis, chapter 9):
the leader is crashed at a uniformly random moment within its heartbeat
interval, right after a heartbeat went out, so every follower's timer starts
from the same heartbeat, which is the worst case for split votes. The time
from the crash until the cluster has a new leader that every surviving
server has heard from is the downtime.

``run_failover_trial`` builds the cluster on a bare ``HeapScheduler`` (no
SimPy, no trace, no KV store, no safety monitor: memory stays flat over
millions of trials) and returns one row of numbers. The sweep command runs it
over many seeds and parameter sets.
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

from etcdplay.distributions import Distribution
from etcdplay.scenario import node_names
from etcdplay.sim.clock import HeapScheduler
from etcdplay.sim.network import Network
from etcdplay.sim.node import SimNode
from etcdplay.sim.raft import AppendRequest, Command, RaftEvent
from etcdplay.sim.timers import TimerModel, timer_model


@dataclass(frozen=True, slots=True)
class FailoverParams:
    """One configuration of the experiment. Times in ms; distributions as
    strings (``fixed(1)``, ``uniform(0.5,1.5)``, ...)."""

    nodes: int = 5
    timer: str = "uniform"  # "uniform" (the paper's) or "etcd" (ticks)
    # uniform: [lo, hi]; etcd: one number, etcd's --election-timeout
    election_timeout_ms: float | tuple[float, float] = (150.0, 300.0)
    # The paper used half the smallest election timeout.
    heartbeat_ms: float = 75.0
    latency_ms: str = "uniform(0.5,1.5)"  # one-way, LAN
    disk_ms: str = "fixed(1)"
    stale_followers: int = 0  # followers that miss the last entry before the crash
    failed: int = 0  # servers crashed together with the leader
    pre_vote: bool = False  # the paper's experiment had neither
    check_quorum: bool = False
    # uniform timer: each election timeout fires late by uniform(0, this) ms
    # (a real timer's wake-up delay; 0: exact timers)
    timer_jitter_ms: float = 0.0
    max_seconds: float = 60.0  # give up (downtime None) after this much virtual time

    def validate(self) -> None:
        quorum = self.nodes // 2 + 1
        if self.nodes < 2:
            raise ValueError("a failover needs at least 2 nodes")
        survivors = self.nodes - 1 - self.failed
        if self.failed < 0 or survivors < quorum:
            raise ValueError(
                f"{self.nodes} nodes with the leader and {self.failed} more crashed leave "
                f"{survivors} servers, fewer than a quorum of {quorum}: no leader can be elected"
            )
        up_to_date = self.nodes - self.stale_followers
        if self.stale_followers < 0 or up_to_date < quorum:
            raise ValueError(
                f"with {self.stale_followers} stale followers the last entry cannot commit "
                f"(needs {quorum} of {self.nodes} servers)"
            )
        timer_model(self.timer, self.heartbeat_ms, self.election_timeout_ms, jitter_ms=self.timer_jitter_ms)

    @property
    def election_lo_ms(self) -> float:
        et = self.election_timeout_ms
        return float(et[0] if isinstance(et, tuple) else et)

    def as_dict(self) -> dict[str, Any]:
        row = asdict(self)
        if isinstance(self.election_timeout_ms, tuple):
            row["election_timeout_ms"] = list(self.election_timeout_ms)
        return row


@lru_cache(maxsize=64)
def _distribution(text: str) -> Distribution:
    return Distribution.parse(text)


@lru_cache(maxsize=64)
def _model(
    timer: str, heartbeat_ms: float, election: float | tuple[float, float], jitter_ms: float
) -> TimerModel:
    return timer_model(timer, heartbeat_ms, election, jitter_ms=jitter_ms)


class _TrialNode(SimNode):
    """A SimNode that lets the trial act just before the leader's heartbeat."""

    trial: _Trial

    def _heartbeat_fired(self) -> None:
        self.trial.before_heartbeat(self)
        super()._heartbeat_fired()


class _Trial:
    def __init__(self, params: FailoverParams, seed: int) -> None:
        self.p = params
        master = random.Random(seed)
        self.rng = random.Random(master.getrandbits(64))
        self.sched = HeapScheduler()
        names = node_names(params.nodes)
        self.names = names
        self.net = Network(
            self.sched,
            names,
            _distribution(params.latency_ms),
            random.Random(master.getrandbits(64)),
        )
        model = _model(params.timer, params.heartbeat_ms, params.election_timeout_ms, params.timer_jitter_ms)
        disk_rng = random.Random(master.getrandbits(64))
        timer_rng = random.Random(master.getrandbits(64))
        self.nodes: dict[str, _TrialNode] = {}
        for name in names:
            node = _TrialNode(
                name,
                names,
                scheduler=self.sched,
                network=self.net,
                timers=model,
                disk=_distribution(params.disk_ms),
                rng=disk_rng,
                timer_rng=timer_rng,
                pre_vote=params.pre_vote,
                check_quorum=params.check_quorum,
                keep_kv=False,
                on_event=self.on_event,
                on_receive=self.on_receive,
            )
            node.trial = self
            self.nodes[name] = node

        self.leader: str | None = None
        self.leader_term = 0
        self.armed = False
        self.stale: set[str] = set()
        self.stale_index = 0  # the entry the stale followers lack
        self.sending_stale = False
        self.heartbeat_at = math.nan
        self.crash_at = math.inf
        self.crashed = False
        self.crash_time = math.nan
        self.down: list[str] = []
        self.survivors: set[str] = set()
        self.messages_at_crash = 0
        self.first_campaign = math.nan
        self.first_candidate = math.nan
        self.candidate_terms: set[int] = set()
        self.campaigns = 0
        self.leaders: dict[int, str] = {}
        self.heard: dict[int, set[str]] = {}  # term -> survivors that heard its leader
        self.done_at = math.nan
        self.elected_at = math.nan  # the first new leader took the role
        self.winner: str | None = None
        self.winner_term = 0

    # --- before the crash -----------------------------------------------------------

    def before_heartbeat(self, node: SimNode) -> None:
        if self.crashed or node.name != self.leader or node.raft is None:
            return
        if self.stale:
            self._heartbeat_stale(node)
        # By the first heartbeat after the election every follower has the
        # leader's no-op and knows it committed.
        if self.armed:
            return
        if self.p.stale_followers:
            if not self.stale:
                # Make the logs differ first: one more entry, kept from the
                # stale followers; arm on a later heartbeat, once every
                # up-to-date follower knows it committed, so that heartbeat
                # is every follower's last contact with the leader (the
                # paper's synchronized heartbeat before the crash).
                followers = [n for n in self.names if n != node.name]
                self.stale = set(followers[-self.p.stale_followers :])
                self.net.drop = self._keep_stale
                node.propose(Command("put", "failover", "last", 1))
                self.stale_index = node.raft.last_index
                self._heartbeat_stale(node)
                return
            if not self._entry_settled():
                return
        self.armed = True
        now = self.sched.now()
        self.heartbeat_at = now
        self.crash_at = now + self.rng.uniform(0.0, self.p.heartbeat_ms / 1000.0)
        self.sched.call_later(self.crash_at - now, self.crash)

    def _entry_settled(self) -> bool:
        """Does every up-to-date follower know the extra entry committed?"""
        for name in self.names:
            if name == self.leader or name in self.stale:
                continue
            raft = self.nodes[name].raft
            if raft is None or raft.commit_index < self.stale_index:
                return False
        return True

    def _heartbeat_stale(self, leader: SimNode) -> None:
        """The leader's heartbeat to each stale follower, as it would be
        without the entry they lack: an empty append that matches their log,
        sent with the heartbeat to the others. Nothing else from the leader
        reaches them (``_keep_stale``), so their timers reset at the
        heartbeats only, as the up-to-date followers' do."""
        raft = leader.raft
        assert raft is not None
        prev = self.stale_index - 1
        prev_term = raft.term_at(prev) or 0
        commit = min(raft.commit_index, prev)
        self.sending_stale = True
        for name in sorted(self.stale):
            message = AppendRequest(leader.name, name, raft.term, prev, prev_term, (), commit)
            self.net.send(leader.name, name, message)
        self.sending_stale = False

    def _keep_stale(self, src: str, dst: str, message: Any) -> bool:
        # The leader's own appends to the stale followers would carry the
        # entry they lack, or probe and retry: ``_heartbeat_stale`` stands in.
        return dst in self.stale and type(message) is AppendRequest and not self.sending_stale

    def _heartbeat_delivered(self) -> bool:
        """Has every follower received a message of the armed heartbeat?"""
        return all(n == self.leader or n in self.heard.get(-1, ()) for n in self.names)

    def crash(self) -> None:
        if self.crashed:
            return
        if not self._heartbeat_delivered():
            # The heartbeat is still in flight (disk write, latency): the
            # experiment wants it delivered first. on_receive retries.
            self.crash_at = math.nan
            return
        assert self.leader is not None
        self.crashed = True
        self.crash_time = self.sched.now()
        self.net.drop = None  # the new leader's appends reach everyone
        followers = [n for n in self.names if n != self.leader]
        # Crash up-to-date followers first: fewer servers can win, the harder case.
        order = [n for n in followers if n not in self.stale] + [n for n in followers if n in self.stale]
        self.down = [self.leader, *order[: self.p.failed]]
        for name in self.down:
            self.nodes[name].crash()
        self.survivors = set(self.names) - set(self.down)
        self.messages_at_crash = self.net.stats.sent

    # --- observation ------------------------------------------------------------------

    def on_event(self, node: str, event: RaftEvent, now: float) -> None:
        if event.kind != "role":
            return
        role = event.fields["role"]
        term = event.fields["term"]
        if not self.crashed:
            if role == "leader":
                self.leader, self.leader_term = node, term
            return
        if role in ("pre-candidate", "candidate"):
            self.campaigns += 1
            if math.isnan(self.first_campaign):
                self.first_campaign = now - self.crash_time
            if role == "candidate":
                self.candidate_terms.add(term)
                if math.isnan(self.first_candidate):
                    self.first_candidate = now - self.crash_time
        elif role == "leader":
            if math.isnan(self.elected_at):
                self.elected_at = now
            self.leaders[term] = node
            self.heard.setdefault(term, set()).add(node)
            self._maybe_done(term)

    def on_receive(self, node: str, message: Any) -> None:
        if type(message) is not AppendRequest:
            return
        if not self.crashed:
            if self.armed and message.src == self.leader:
                self.heard.setdefault(-1, set()).add(node)
                if math.isnan(self.crash_at) and self._heartbeat_delivered():
                    self.crash()
            return
        if message.term > self.leader_term:
            self.heard.setdefault(message.term, set()).add(node)
            self._maybe_done(message.term)

    def _maybe_done(self, term: int) -> None:
        if term in self.leaders and self.heard[term] >= self.survivors:
            self.done_at = self.sched.now()
            self.sched.halt()
            self.winner = self.leaders[term]
            self.winner_term = term

    def finished(self) -> bool:
        return not math.isnan(self.done_at)

    # --- the run -------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        for node in self.nodes.values():
            node.start()
        # Bootstrap: the first node campaigns at once, so the steady state is
        # reached after one quick election instead of a whole timeout.
        self.nodes[self.names[0]].campaign_now()
        self.sched.run(self.p.max_seconds)
        done = self.finished()
        downtime = self.done_at - self.crash_time if done else None
        rounds = len(self.candidate_terms)
        return {
            "downtime": downtime,
            "election": self.elected_at - self.crash_time if not math.isnan(self.elected_at) else None,
            "first_campaign": _none_if_nan(self.first_campaign),
            "first_candidate": _none_if_nan(self.first_candidate),
            "election_rounds": rounds,
            "split_votes": max(0, rounds - 1) if done else rounds,
            "campaigns": self.campaigns,
            "messages": self.net.stats.sent - self.messages_at_crash if self.crashed else 0,
            "winner": self.winner,
            "winner_term": self.winner_term if done else None,
            "old_leader": self.leader,
            "old_term": self.leader_term,
            "crashed": self.down,
            "stale": sorted(self.stale),
            "crash_offset": (self.crash_time - self.heartbeat_at if self.crashed else None),
            "timed_out": not done,
            "events": self.sched.events,
        }


def _none_if_nan(x: float) -> float | None:
    return None if math.isnan(x) else x


def run_failover_trial(params: FailoverParams, seed: int) -> dict[str, Any]:
    """One trial: the row the sweep records (times in seconds, from the crash).

    Keys: downtime (crash until every survivor heard the new leader; None if
    it did not happen within max_seconds), election (crash until the first
    new leader took the role), first_campaign (first pre-candidate
    or candidate), first_candidate (first real candidate), election_rounds
    (distinct terms in which someone stood as candidate), split_votes (rounds
    that elected nobody), campaigns, messages (sent after the crash), winner,
    winner_term, old_leader, old_term, crashed, stale, crash_offset (crash
    time after the heartbeat), timed_out, events (scheduler events run).
    """
    params.validate()
    row = _Trial(params, seed).run()
    row["seed"] = seed
    return row
