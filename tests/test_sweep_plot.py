"""Plot content: CDF and the reverse-log tail, self-contained HTML."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from etcdplay.sweep.plot import cdf_points, failover_figure, scenario_figure, write_html


def test_cdf_points() -> None:
    x, cdf, tail = cdf_points([3.0, 1.0, 2.0, 4.0])
    assert list(x) == [1.0, 2.0, 3.0, 4.0]
    assert list(cdf) == [0.25, 0.5, 0.75, 1.0]
    assert list(tail) == [1.0, 0.75, 0.5, 0.25]


def test_failover_figure_has_cdf_and_reversed_log_tail(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    fig = failover_figure(
        [("150-151 ms", rng.uniform(150, 400, 1000)), ("150-300 ms", rng.uniform(150, 300, 1000))]
    )
    names = [t.name for t in fig.data]
    assert names == ["150-151 ms", "150-151 ms", "150-300 ms", "150-300 ms"]
    top, bottom = fig.data[0], fig.data[1]
    assert top.yaxis == "y" and bottom.yaxis == "y2"
    assert top.y[-1] == 100.0 and bottom.y[-1] == 0.001
    assert fig.layout.yaxis2.type == "log" and fig.layout.yaxis2.autorange == "reversed"
    assert list(fig.layout.yaxis2.ticktext) == ["0%", "90%", "99%", "99.9%"]
    assert fig.layout.xaxis2.title.text == "downtime (ms)"
    path = tmp_path / "cdf.html"
    write_html(fig, path)
    html = path.read_text()
    assert '<script src="https://' not in html  # plotly.js embedded: works offline
    assert "Plotly.newPlot" in html and "150-300 ms" in html
    assert len(html) > 1_000_000


def test_scenario_figure_boxes_per_point() -> None:
    points = [
        ("election_timeout_ms=500", {"leader_changes": [1.0, 2.0], "unavailable_s": [0.5, 0.7]}),
        ("election_timeout_ms=1000", {"leader_changes": [1.0], "unavailable_s": [1.5]}),
    ]
    fig = scenario_figure(points, title="t", swept="cluster.election_timeout_ms")
    box = fig.data[0]
    assert box.type == "box" and list(box.x) == ["election_timeout_ms=500"] * 2 + ["election_timeout_ms=1000"]
    assert list(box.y) == [1.0, 2.0, 1.0]
    assert fig.data[1].boxmean is True
