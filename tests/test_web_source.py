"""What ``etcdplay web`` shows before and after the first tab opens."""

from __future__ import annotations

from etcdplay.play.session import wait_for
from etcdplay.web.command import build_source
from etcdplay.web.source import SessionSource

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


def test_a_session_nobody_watches_pauses_and_the_next_tab_resumes_it() -> None:
    """The history a session keeps grows with simulated time: with no tab
    open for a while the clock stops, and the next tab starts it again."""
    import asyncio

    from etcdplay.web.hub import Hub

    async def sent(_text: str) -> None:
        return None

    async def play(source: SessionSource) -> None:
        hub = Hub(source)
        hub.unwatched_seconds = 0.2
        await hub.start()
        try:
            tab = await hub.join(sent)
            await hub.leave(tab)
            assert await asyncio.to_thread(wait_for, source.paused, PATIENCE)
            stopped = source.now()
            await asyncio.sleep(0.3)
            assert source.now() == stopped  # paused: no time passes, no history grows
            tab = await hub.join(sent)
            assert not source.paused()
            # a pause the person chose is not undone by a tab joining
            await asyncio.wrap_future(source.submit({"action": "pause"}))
            await hub.leave(tab)
            await asyncio.sleep(0.4)  # past unwatched_seconds: viewers_gone leaves it as it is
            await hub.join(sent)
            assert source.paused()
            # a tab that comes back before the delay keeps the session running
            await asyncio.wrap_future(source.submit({"action": "resume"}))
            for tab in list(hub.clients):
                await hub.leave(tab)
            await hub.join(sent)
            await asyncio.sleep(0.4)
            assert not source.paused()
        finally:
            await hub.stop()

    source = build_source(None, 3, 1.0, 3, False, None, None)
    try:
        assert isinstance(source, SessionSource)
        asyncio.run(play(source))
    finally:
        source.close()
