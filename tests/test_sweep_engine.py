"""The sweep engine with a stand-in trial: determinism, streaming, JSON, Dask."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sweep_fakes import fake_trial

from etcdplay.sweep.executor import chunks, default_chunk_size
from etcdplay.sweep.failover import FailoverAggregate
from etcdplay.sweep.output import SCHEMA, load
from etcdplay.sweep.run import Sweep, run_sweep
from etcdplay.sweep.seeds import consecutive_seed, trial_seed


def _sweep(trials: int = 300, seed: int = 7) -> Sweep:
    return Sweep(
        experiment="failover",
        backend="sim",
        trial=fake_trial,
        seed_fn=trial_seed,
        payloads=[{"base": 150.0}, {"base": 300.0, "split": 0.5}, {"base": 50.0}],
        labels=["a", "b", "c"],
        params=[{"base": 150.0}, {"base": 300.0}, {"base": 50.0}],
        trials=trials,
        seed=seed,
    )


def test_trial_seeds_depend_only_on_base_config_trial() -> None:
    assert trial_seed(1, 0, 0) == trial_seed(1, 0, 0)
    seeds = {trial_seed(b, c, t) for b in (1, 2) for c in range(3) for t in range(100)}
    assert len(seeds) == 600
    assert all(0 <= s < 2**63 for s in seeds)
    assert consecutive_seed(5, 3, 2) == 7


def test_chunks_cover_every_trial_once() -> None:
    work = chunks(1001, 3, 250)
    assert [(c.config, c.start, c.stop) for c in work[:5]] == [
        (0, 0, 250),
        (0, 250, 500),
        (0, 500, 750),
        (0, 750, 1000),
        (0, 1000, 1001),
    ]
    assert sum(c.size for c in work) == 3003
    assert default_chunk_size(1000, 2) == 125
    assert default_chunk_size(10, 2) == 2


@pytest.mark.slow
def test_same_samples_whatever_jobs_and_chunking(tmp_path: Path) -> None:
    outputs = []
    for jobs, chunk in ((1, None), (2, None), (2, 7)):
        path = tmp_path / f"out-{jobs}-{chunk}.json"
        run_sweep(
            _sweep(), FailoverAggregate, jobs=jobs, chunk_size=chunk, json_path=str(path), progress=False
        )
        outputs.append(path.read_bytes())
    assert outputs[0] == outputs[1] == outputs[2]
    other = tmp_path / "other-seed.json"
    run_sweep(_sweep(seed=8), FailoverAggregate, jobs=1, json_path=str(other), progress=False)
    assert other.read_bytes() != outputs[0]


def test_json_document_schema(tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    outcome = run_sweep(
        _sweep(trials=40), FailoverAggregate, jobs=1, chunk_size=15, json_path=str(path), progress=False
    )
    doc = load(path)
    assert doc["schema"] == SCHEMA
    assert doc["experiment"] == "failover" and doc["backend"] == "sim"
    assert doc["seed"] == 7 and doc["trials"] == 40
    assert [c["index"] for c in doc["configurations"]] == [0, 1, 2]
    for index, config in enumerate(doc["configurations"]):
        assert config["label"] == "abc"[index]
        assert [s["trial"] for s in config["samples"]] == list(range(40))
        assert all(s["seed"] == trial_seed(7, index, s["trial"]) for s in config["samples"])
        assert set(config["samples"][0]) == {
            "trial",
            "seed",
            "downtime_ms",
            "first_candidate_ms",
            "rounds",
            "split_votes",
            "messages",
            "winner",
        }
        assert config["summary"] == json.loads(json.dumps(outcome.aggregates[index].summary()))
        assert config["summary"]["downtime_ms"]["count"] == 40
    assert outcome.trials == 120


def test_interrupted_sweep_leaves_no_half_json(tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    sweep = _sweep(trials=10)
    sweep.payloads[1] = {"nobase": 1}  # KeyError in the trial
    from etcdplay.sweep.executor import TrialError

    with pytest.raises(TrialError, match=r"configuration 1 .*seed"):
        run_sweep(sweep, FailoverAggregate, jobs=1, json_path=str(path), progress=False)
    assert not path.exists()


@pytest.mark.slow
def test_dask_local_cluster_gives_the_same_samples(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    local = tmp_path / "local.json"
    run_sweep(_sweep(trials=60), FailoverAggregate, jobs=1, json_path=str(local), progress=False)
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as cluster:
        remote = tmp_path / "dask.json"
        outcome = run_sweep(
            _sweep(trials=60),
            FailoverAggregate,
            cluster=cluster.scheduler_address,
            chunk_size=8,
            json_path=str(remote),
            progress=False,
        )
    assert outcome.trials == 180
    assert remote.read_bytes() == local.read_bytes()
