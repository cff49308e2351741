"""Members on `etcdplay agent`s: several real agents on loopback ports, each a
process running real etcd members; the controller is `etcdplay live`/`sweep`
or LiveBackend(agents=...)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from etcdplay.agent.options import AgentOptions
from etcdplay.live.backend import LiveBackend
from etcdplay.runner import make_header, run_scenario
from etcdplay.scenario import Scenario, from_dict, load_builtin
from etcdplay.trace import TraceWriter, read_trace

from .agents import ENV, ROOT, agents, etcd_under, etcdplay, make_token, wait_for
from .conftest import ETCD_34, compress

pytestmark = [pytest.mark.live, pytest.mark.skipif(not Path(ETCD_34).exists(), reason="no /usr/bin/etcd")]

FAST = ["--heartbeat-ms", "20", "--election-timeout-ms", "200"]

LONG = """
name = "long"
status_interval = 0.2
settle = 0.5
[cluster]
size = 3
heartbeat_ms = 20
election_timeout_ms = 200
[[steps]]
at = 0.0
action = "wait-for-leader"
[[steps]]
at = 0.1
action = "load"
rate = 20
duration = 60
"""


def _slower(sc: Scenario) -> Scenario:
    """25/250 ms timers: every peer byte crosses a proxy in another Python process,
    and 10 ms heartbeats on a loaded 2-core machine bring elections of their own."""
    data = sc.to_dict()
    data["cluster"].update(heartbeat_ms=25, election_timeout_ms=250)
    return from_dict(data, "slower")


def _runs_left(root: Path) -> list[Path]:
    return list(root.glob("run-*"))


@pytest.mark.parametrize("name", ["leader-failure", "partition-minority", "partition-leader"])
def test_builtin_scenarios_on_three_agents(tmp_path: Path, name: str) -> None:
    token = make_token(tmp_path / "token")
    with agents(tmp_path, 3, "--token-file", str(token)) as procs:
        options = AgentOptions(tuple(a.address for a in procs), token.read_text().strip())
        sc = _slower(compress(load_builtin(name), 0.5, size=3)).expanded(7)
        backend = LiveBackend(agents=options)
        header = make_header(sc, 7, "live", **backend.header_fields())
        result = run_scenario(sc, backend, 7, TraceWriter(header))
        failed = [f"{c.name}: {c.detail}" for c in result.checks if not c.ok]
        assert not failed, failed
        assert [a["address"] for a in header["agents"]] == [a.address for a in procs]
        assert all(a["etcd_version"] == "3.4.23" for a in header["agents"])
        events = result.trace.events
        assert {"role", "leader", "vote", "status"} <= {e["kind"] for e in events}
        clocks = next(e for e in events if e["kind"] == "note" and "agent clocks" in e["text"])
        # Same machine: the true offset is 0, and the bound must cover it.
        for clock in clocks["agents"]:
            assert abs(clock["clock_offset_ms"]) <= clock["clock_error_ms"] + 1.0
        # Raft events from remote logs land on the controller's timeline.
        roles = [e for e in events if e["kind"] == "role" and "etcd_ts" in e]
        assert roles and all(-1.0 < e["t"] < result.trace.events[-1]["t"] + 1.0 for e in roles)
        for agent in procs:
            assert wait_for(lambda a=agent: not a.etcd_pids() and not _runs_left(a.root), 30)


def test_cli_live_and_sweep_on_agents(tmp_path: Path) -> None:
    token = make_token(tmp_path / "token")
    with agents(tmp_path, 3, "--token-file", str(token)) as procs:
        addresses = ",".join(a.address for a in procs)
        out = tmp_path / "t.jsonl"
        run = etcdplay(
            "live", "leader-failure", "--agents", addresses, "--token-file", str(token),
            *FAST, "--out", str(out), "--quiet",
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        trace = read_trace(out)
        assert len(trace.header["agents"]) == 3 and trace.header["nodes"] == ["n1", "n2", "n3", "n4", "n5"]
        sweep_json = tmp_path / "sweep.json"
        sweep = etcdplay(
            "sweep", "failover", "--backend", "live", "--agents", addresses, "--token-file", str(token),
            "--trials", "2", "--nodes", "3", "--timer", "etcd", "-e", "300", "--heartbeat-ms", "30",
            "--no-progress", "--json", str(sweep_json),
        )  # fmt: skip
        assert sweep.returncode == 0, sweep.stdout + sweep.stderr
        doc = json.loads(sweep_json.read_text())
        samples = doc["configurations"][0]["samples"]
        assert len(samples) == 2 and all(s["downtime_ms"] is not None for s in samples)
        assert doc["options"]["agents"] == [a.address for a in procs]
        for agent in procs:
            assert wait_for(lambda a=agent: not a.etcd_pids() and not _runs_left(a.root), 30)


def test_wrong_or_missing_token_is_refused(tmp_path: Path) -> None:
    token = make_token(tmp_path / "token")
    wrong = make_token(tmp_path / "wrong")
    with agents(tmp_path, 1, "--token-file", str(token)) as procs:
        address = procs[0].address
        for extra in (["--token-file", str(wrong)], []):
            run = etcdplay("live", "leader-failure", "--agents", address, *extra, *FAST)
            assert run.returncode == 2, run.stderr
            assert f"agent {address} refused our token" in run.stderr
            assert "Traceback" not in run.stderr
        assert not procs[0].etcd_pids()


def test_unreachable_agent_names_the_machine(tmp_path: Path) -> None:
    from etcdplay.live.etcd import free_port

    address = f"127.0.0.1:{free_port()}"
    token = make_token(tmp_path / "token")
    run = etcdplay("live", "leader-failure", "--agents", address, "--token-file", str(token))
    assert run.returncode == 2
    assert f"agent {address} is unreachable" in run.stderr and "Traceback" not in run.stderr
    bad = etcdplay("live", "leader-failure", "--agents", "nohost", "--token-file", str(token))
    assert bad.returncode == 2 and "is not HOST:PORT" in bad.stderr
    local = etcdplay("live", "leader-failure", "--agents", address, "--base-port", "30000")
    assert local.returncode == 2 and "not with --agents" in local.stderr


def test_etcd_that_will_not_start_names_the_machine(tmp_path: Path) -> None:
    fake = tmp_path / "etcd"
    fake.write_text('#!/bin/sh\n[ "$1" = --version ] && echo "etcd Version: 3.4.99" && exit 0\nexit 3\n')
    fake.chmod(0o755)
    with agents(tmp_path, 2, etcd_bin=str(fake)) as procs:
        addresses = ",".join(a.address for a in procs)
        run = etcdplay("live", "leader-failure", "--agents", addresses, *FAST)
        assert run.returncode == 2, run.stderr
        assert "did not come up: etcd exited with code 3" in run.stderr
        assert f"on agent {procs[0].address}" in run.stderr or f"on agent {procs[1].address}" in run.stderr
        assert "Traceback" not in run.stderr
        for agent in procs:
            assert wait_for(lambda a=agent: not _runs_left(a.root), 20)


def test_agent_killed_mid_run_is_one_clear_error_and_leaves_no_etcd(tmp_path: Path) -> None:
    scenario = tmp_path / "long.toml"
    scenario.write_text(LONG)
    token = make_token(tmp_path / "token")
    with agents(tmp_path, 3, "--token-file", str(token)) as procs:
        addresses = ",".join(a.address for a in procs)
        run = subprocess.Popen(
            [sys.executable, "-m", "etcdplay", "live", str(scenario), "--agents", addresses,
             "--token-file", str(token), "--quiet"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV, cwd=ROOT,
        )  # fmt: skip
        try:
            assert wait_for(lambda: all(a.etcd_pids() for a in procs), 60), "members did not start"
            time.sleep(1.0)  # the run is under way (load running)
            victim = procs[1]
            victim.proc.send_signal(signal.SIGKILL)
            victim.proc.wait(10)
            _out, err = run.communicate(timeout=90)
        finally:
            if run.poll() is None:
                run.kill()
        assert run.returncode == 2, err
        assert f"lost agent {victim.address}" in err and "Traceback" not in err
        # The killed agent's reaper killed its etcd; the others stopped theirs at the controller's request.
        for agent in procs:
            assert wait_for(lambda a=agent: not a.etcd_pids(), 30), f"etcd left under {agent.root}"
            assert wait_for(lambda a=agent: not _runs_left(a.root), 30)


CONTROLLER = """
import sys, time
from etcdplay.agent.options import AgentOptions
from etcdplay.live.backend import LiveBackend
from etcdplay.scenario import from_dict
from etcdplay.trace import TraceWriter
sc = from_dict({"name": "c", "cluster": {"size": 3, "heartbeat_ms": 20, "election_timeout_ms": 200}})
backend = LiveBackend(agents=AgentOptions(tuple(sys.argv[1].split(",")), lease_seconds=2.0))
backend.start(sc, TraceWriter({"backend": "live"}), 1)
print("ready", flush=True)
time.sleep(600)
"""


def test_agent_stops_members_when_the_controller_vanishes(tmp_path: Path) -> None:
    with agents(tmp_path, 2) as procs:
        controller = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(CONTROLLER), ",".join(a.address for a in procs)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV, cwd=ROOT,
        )  # fmt: skip
        try:
            assert controller.stdout is not None
            line = controller.stdout.readline()
            assert line.strip() == "ready", controller.stderr.read() if controller.stderr else ""
            assert all(a.etcd_pids() for a in procs)
        finally:
            controller.kill()  # SIGKILL: no teardown runs; only the leases can end the run
            controller.wait(10)
        # lease 2 s: the agents stop their members soon after
        for agent in procs:
            assert wait_for(lambda a=agent: not a.etcd_pids() and not _runs_left(a.root), 30)
            assert agent.wait_output("no lease renewal", 10)


def test_tls_agent(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    made = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if made.returncode != 0:
        pytest.skip(f"openssl cannot make a test certificate: {made.stderr.strip()[:200]}")
    token = make_token(tmp_path / "token")
    with agents(tmp_path, 1, "--token-file", str(token), "--cert", str(cert), "--key", str(key)) as procs:
        address = procs[0].address
        sc = tmp_path / "short.toml"
        sc.write_text(LONG.replace("duration = 60", "duration = 1").replace("size = 3", "size = 1"))
        ok = etcdplay(
            "live", str(sc), "--agents", address, "--token-file", str(token), "--agent-ca", str(cert), "-q"
        )
        assert ok.returncode == 0, ok.stderr
        plain = etcdplay("live", str(sc), "--agents", address, "--token-file", str(token), "-q")
        assert plain.returncode == 2 and f"agent {address}" in plain.stderr, plain.stderr
        unverified = etcdplay("live", str(sc), "--agents", f"https://{address}", "--token-file", str(token))
        assert unverified.returncode == 2 and "TLS" in unverified.stderr, unverified.stderr
        assert not etcd_under(procs[0].root)


def test_interrupted_run_stops_every_remote_member(tmp_path: Path) -> None:
    scenario = tmp_path / "long.toml"
    scenario.write_text(LONG)
    token = make_token(tmp_path / "token")
    with agents(tmp_path, 2, "--token-file", str(token)) as procs:
        run = subprocess.Popen(
            [sys.executable, "-m", "etcdplay", "live", str(scenario), "--agents",
             ",".join(a.address for a in procs), "--token-file", str(token), "--quiet"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV, cwd=ROOT,
        )  # fmt: skip
        try:
            assert wait_for(lambda: all(a.etcd_pids() for a in procs), 60), "members did not start"
            run.send_signal(signal.SIGINT)
            _out, err = run.communicate(timeout=60)
        finally:
            if run.poll() is None:
                run.kill()
        assert run.returncode == 130, err
        assert "interrupted: every etcd member stopped" in err
        for agent in procs:  # at once: not after a lease lapses
            assert not agent.etcd_pids() and not _runs_left(agent.root)
            assert "no lease renewal" not in "".join(agent.output)


def test_play_session_on_agents(tmp_path: Path) -> None:
    """What `web --live --agents` and `terminal --live --agents` build on."""
    from etcdplay.agent.options import live_backend_factory
    from etcdplay.play import PlaySession
    from etcdplay.play.session import wait_for as session_wait
    from etcdplay.runner import current_leader

    from .conftest import scenario as small

    with agents(tmp_path, 3) as procs:
        options = AgentOptions(tuple(a.address for a in procs))
        session = PlaySession(
            small(3, heartbeat_ms=25, election_timeout_ms=250),
            live=True,
            seed=1,
            backend_factory=live_backend_factory(options),
        )
        session.start()
        try:
            assert session.header_extra["agents"][0]["address"] == procs[0].address
            assert session_wait(lambda: current_leader(session.status()) is not None, 60)
            old = current_leader(session.status())
            assert session.do({"action": "kill", "node": old}, 60).ok
            assert session_wait(lambda: current_leader(session.status()) not in (None, old), 60)
        finally:
            session.close()
        for agent in procs:
            assert wait_for(lambda a=agent: not a.etcd_pids() and not _runs_left(a.root), 30)
