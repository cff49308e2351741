"""The controller's agent flags, shared by every command that starts a live
cluster: ``--agents HOST:PORT,... --token-file F [--agent-ca CA]``.

``live`` and ``sweep failover --backend live`` use these; ``web --live`` and
``terminal --live`` can too: declare the three parameters with the
``*Option`` types below, call ``agent_options(agents, token_file, agent_ca)``
(AgentError, a BackendError, on bad input: print it, exit 2) and pass the
result as ``LiveBackend(agents=...)``, or to a play session as
``backend_factory=live_backend_factory(options, etcd_bin)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from etcdplay.backend import BackendError

if TYPE_CHECKING:
    from etcdplay.backend import Backend


class AgentError(BackendError):
    """An agent refused, failed or could not be reached; the message names it."""


@dataclass(frozen=True, slots=True)
class AgentOptions:
    """What a controller needs to use agents (``--agents``, ``--token-file``, ``--agent-ca``)."""

    addresses: tuple[str, ...]
    token: str | None = None
    ca: Path | None = None
    #: The agent stops a run's members when no lease renewal came for this long.
    lease_seconds: float = 10.0
    #: How often the controller renews each lease (and samples the clock).
    heartbeat: float = 0.25


AgentsOption = Annotated[
    str | None,
    typer.Option(
        "--agents",
        help="run the members on these `etcdplay agent`s (HOST:PORT,...; member i on agent i mod N)",
    ),
]
TokenFileOption = Annotated[
    Path | None, typer.Option("--token-file", help="the agents' shared token (a file holding it)")
]
AgentCaOption = Annotated[
    Path | None, typer.Option("--agent-ca", help="CA certificate to verify agents' TLS (implies https)")
]


def agent_options(
    agents: str | None,
    token_file: Path | None,
    agent_ca: Path | None,
    *,
    lease_seconds: float = 10.0,
) -> AgentOptions | None:
    """The parsed flags, or None without ``--agents``. Raises AgentError with one line."""
    from etcdplay.agent.command import read_token

    if agents is None:
        for flag, value in (("--token-file", token_file), ("--agent-ca", agent_ca)):
            if value is not None:
                raise AgentError(f"{flag} is for agents: give --agents HOST:PORT,... too")
        return None
    addresses = tuple(a.strip() for a in agents.split(",") if a.strip())
    if not addresses:
        raise AgentError("--agents: name at least one agent as HOST:PORT")
    token = None
    if token_file is not None:
        try:
            token = read_token(token_file)
        except ValueError as exc:
            raise AgentError(str(exc)) from None
    if agent_ca is not None and not agent_ca.is_file():
        raise AgentError(f"--agent-ca {agent_ca}: no such file")
    return AgentOptions(addresses, token, agent_ca, lease_seconds=lease_seconds)


def refuse_local_flags(options: AgentOptions | None, **flags: object) -> None:
    """Flags that choose this machine's etcd, ports or directories mean nothing with agents."""
    if options is None:
        return
    given = [name for name, value in flags.items() if value not in (None, False)]
    if given:
        raise AgentError(
            f"{', '.join(given)}: not with --agents (each agent has its own etcd binary, ports and --root)"
        )


def live_backend_factory(agents: AgentOptions | None, etcd_bin: str | None = None) -> Callable[[], Backend]:
    """A ``LiveBackend`` maker for ``PlaySession(live=True, backend_factory=...)``
    (``web --live --agents``, ``terminal --live --agents``): each call is a new
    cluster, on the agents when ``agents`` is given, else on this machine."""

    def make() -> Backend:
        from etcdplay.live.backend import LiveBackend

        return LiveBackend(etcd_bin, agents=agents)

    return make
