"""The controller's side of the agent API: one ``AgentClient`` per agent
(httpx), errors that name the machine, and the clock-offset estimate.

Clock alignment: every lease renewal (the heartbeat, a few times a second) is
also a clock sample. The controller reads its wall clock before (``t0``) and
after (``t1``) the request; the agent puts its wall clock ``ta`` in the reply.
As in NTP, ``ta - (t0 + t1) / 2`` is the agent's offset, exact to within
half the round trip if the request and the reply took equally long. The
estimate in use is the sample with the shortest round trip among the last
``WINDOW`` (so a slow request never widens it, and drift over a long run is
followed); ``error`` is half that round trip. See docs/agent.md.
"""

from __future__ import annotations

import collections
import ssl
import threading
import time
from typing import Any

import httpx

from etcdplay.agent.options import AgentError, AgentOptions

#: Clock samples the offset estimate chooses from (about 10 s of heartbeats).
WINDOW = 40


def split_address(text: str, tls: bool) -> tuple[str, str, str]:
    """``host:port`` or ``http(s)://host:port`` -> (shown name, host, base URL)."""
    text = text.strip().rstrip("/")
    scheme = "https" if tls else "http"
    for prefix in ("http://", "https://"):
        if text.startswith(prefix):
            scheme, text = prefix[:-3], text[len(prefix) :]
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise AgentError(f"--agents: {text!r} is not HOST:PORT (e.g. 10.0.0.1:9027)")
    return text, host.strip("[]"), f"{scheme}://{text}"


class ClockEstimate:
    """The agent's wall clock minus ours, from request round trips (NTP-style)."""

    def __init__(self) -> None:
        self._samples: collections.deque[tuple[float, float]] = collections.deque(maxlen=WINDOW)
        self._lock = threading.Lock()

    def add(self, t0: float, agent_time: float, t1: float) -> None:
        with self._lock:
            self._samples.append((t1 - t0, agent_time - (t0 + t1) / 2))

    def _best(self) -> tuple[float, float] | None:
        with self._lock:
            return min(self._samples) if self._samples else None

    @property
    def offset(self) -> float:
        """Seconds to subtract from an agent's timestamp to get ours (0 until sampled)."""
        best = self._best()
        return best[1] if best is not None else 0.0

    @property
    def error(self) -> float | None:
        """Half the shortest round trip: the bound on ``offset``'s error (if the
        two directions take equally long; at worst the whole round trip)."""
        best = self._best()
        return best[0] / 2 if best is not None else None

    @property
    def samples(self) -> int:
        return len(self._samples)


def _error_of(response: httpx.Response) -> str | None:
    """The agent's one-line ``{"error": ...}``, or None if the body is not one."""
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return " ".join(error.split()) if isinstance(error, str) and error.strip() else None


class AgentClient:
    """Requests to one agent. Every failure becomes an AgentError naming it."""

    def __init__(self, address: str, options: AgentOptions) -> None:
        self.name, self.host, base = split_address(address, tls=options.ca is not None)
        self.tls = base.startswith("https://")
        verify: ssl.SSLContext | bool = True
        if options.ca is not None:
            try:
                verify = ssl.create_default_context(cafile=str(options.ca))
            except (OSError, ssl.SSLError) as exc:
                raise AgentError(f"--agent-ca {options.ca}: cannot load it ({exc})") from None
        headers = {"Authorization": f"Bearer {options.token}"} if options.token else {}
        self._http = httpx.Client(
            base_url=base, headers=headers, verify=verify, timeout=httpx.Timeout(15.0, connect=5.0)
        )
        self.clock = ClockEstimate()

    def __repr__(self) -> str:
        return f"AgentClient({self.name})"

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        timeout: float | None = None,
        what: str = "",
    ) -> httpx.Response:
        """The answer to one request, or AgentError saying which agent failed and why."""
        doing = f" ({what})" if what else ""
        try:
            response = self._http.request(
                method,
                f"/v1{path}",
                json=json,
                params=params,
                timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
            )
        except httpx.ConnectError as exc:
            reason = str(exc) or "connection failed"
            if "SSL" in reason or "certificate" in reason:
                raise AgentError(f"agent {self.name}{doing}: TLS failed: {reason}") from None
            raise AgentError(
                f"agent {self.name} is unreachable{doing}: {reason} (is `etcdplay agent` running there?)"
            ) from None
        except httpx.TimeoutException:
            raise AgentError(f"agent {self.name} did not answer in time{doing}") from None
        except httpx.RemoteProtocolError:
            # an HTTPS agent closes a plain-HTTP connection without a word
            hint = "it stopped, or it serves HTTPS: give --agent-ca" if not self.tls else "it stopped?"
            raise AgentError(
                f"agent {self.name}{doing}: closed the connection without an answer ({hint})"
            ) from None
        except httpx.HTTPError as exc:
            raise AgentError(f"agent {self.name}{doing}: {type(exc).__name__}: {exc}") from None
        if response.status_code == 401:
            raise AgentError(
                f"agent {self.name} refused our token{doing}: wrong or missing --token-file "
                "(controller and agent need the same token)"
            )
        if response.status_code >= 400:
            message = _error_of(response)
            if message is None:  # an HTML page or nothing: something else listens there
                raise AgentError(
                    f"agent {self.name}{doing}: HTTP {response.status_code} from something that is not "
                    "an etcdplay agent (is the address right?)"
                )
            raise AgentError(f"agent {self.name}{doing}: {message}")
        return response

    def json(self, method: str, path: str, **kw: Any) -> Any:
        """The answer's JSON object; AgentError (naming the agent) if it is not one."""
        response = self.request(method, path, **kw)
        try:
            reply = response.json()
        except ValueError:
            reply = None
        if not isinstance(reply, dict):
            what = kw.get("what")
            raise AgentError(
                f"agent {self.name}{f' ({what})' if what else ''}: the answer is not the agent API's JSON "
                "(is an etcdplay agent listening at that address?)"
            )
        return reply

    def renew(self, run: str, timeout: float) -> dict[str, Any]:
        """Renew ``run``'s lease; the reply is also a clock sample."""
        t0 = time.time()
        reply = self.json("POST", f"/runs/{run}/lease", timeout=timeout, what="lease renewal")
        t1 = time.time()
        if isinstance(reply.get("time"), int | float):
            self.clock.add(t0, float(reply["time"]), t1)
        return dict(reply)

    def close(self) -> None:
        self._http.close()
