"""What ``etcdplay web`` shows before and after the first tab opens."""

from __future__ import annotations

from etcdplay.play.session import wait_for
from etcdplay.web.command import build_source

PATIENCE = 60.0


def test_a_lesson_waits_at_its_start_for_the_first_tab() -> None:
    source = build_source("leader-failure", None, 1.0, 3, False, None, None)
    try:
        # nobody watches yet: the lesson has not begun (its first step is at t = 0)
        assert source.paused()
        assert source.now() == 0.0
        assert not any(step["done"] for step in source.lesson())
        source.viewer_joined()
        assert not source.paused()
        assert wait_for(lambda: source.now() > 0.5, PATIENCE)
        assert wait_for(lambda: source.lesson()[0]["done"], PATIENCE)
        # a later tab changes nothing: a pause a person chose stays
        source.submit({"action": "pause"}).result(PATIENCE)
        source.viewer_joined()
        assert source.paused()
    finally:
        source.close()


def test_a_playground_runs_from_the_start() -> None:
    source = build_source(None, 3, 1.0, 3, False, None, None)
    try:
        assert not source.paused()
        assert wait_for(lambda: source.now() > 0.2, PATIENCE)
    finally:
        source.close()
