"""The agent's HTTP API: request bodies, validated, shared by server and client.

Every field a controller can send is here, with the shape it must have. The
agent builds etcd's command line itself from these values (etcdplay.live.etcd);
nothing a controller sends is ever a command, a flag name or a path: names
and tokens are short words, URLs are ``http://HOST:PORT``, numbers are bounded.
See docs/agent.md.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

API_VERSION = 1
PREFIX = "/v1"

#: Member names, run ids and cluster tokens: they end up in paths and flags.
WORD = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_HOST = r"(?:[A-Za-z0-9][A-Za-z0-9.-]{0,252}|\[[0-9A-Fa-f:.]+\])"
HOST_RE = re.compile(rf"^{_HOST}$")
PEER_URL_RE = re.compile(rf"^http://{_HOST}:(\d{{1,5}})$")

Word = Annotated[str, Field(pattern=WORD)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RunRequest(_Body):
    """``POST /v1/runs``: reserve ports (and fault proxies) for members hosted here."""

    run: Word
    members: list[Word] = Field(min_length=1, max_length=64)
    cluster: list[Word] = Field(min_length=1, max_length=64)  # every member, for isolation rules
    advertise_host: str  # how peers and the controller reach this machine
    use_proxy: bool = True
    keep_data: bool = False
    lease_seconds: float = Field(default=10.0, ge=0.5, le=3600)
    seed: int = 0

    @field_validator("advertise_host")
    @classmethod
    def _host(cls, value: str) -> str:
        if not HOST_RE.match(value):
            raise ValueError(f"not a host name or address: {value!r}")
        return value


class ClusterConfig(_Body):
    """``PUT /v1/runs/{run}/cluster``: the only etcd settings a controller chooses."""

    initial_cluster: dict[Word, str] = Field(min_length=1, max_length=64)
    cluster_token: Word
    heartbeat_ms: int = Field(ge=1, le=60_000)
    election_timeout_ms: int = Field(ge=5, le=600_000)
    pre_vote: bool

    @field_validator("initial_cluster")
    @classmethod
    def _urls(cls, value: dict[str, str]) -> dict[str, str]:
        for name, url in value.items():
            match = PEER_URL_RE.match(url)
            if match is None or not 1 <= int(match.group(1)) <= 65535:
                raise ValueError(f"peer URL of {name} must be http://HOST:PORT, got {url!r}")
        return value


class StopRequest(_Body):
    """``POST /v1/runs/{run}/members/{name}/stop``: SIGTERM, SIGKILL after ``timeout``."""

    timeout: float = Field(default=10.0, ge=0.0, le=120.0)


class FaultRule(_Body):
    src: Word
    dst: Word
    blackhole: bool = False
    delay: str | None = Field(default=None, max_length=64)  # a distribution, e.g. "uniform(5,10)"


class Faults(_Body):
    """``PUT /v1/runs/{run}/faults``: the whole rule table, and who is who."""

    rules: list[FaultRule] = Field(default_factory=list, max_length=64 * 64)
    ids: dict[str, Word] = Field(default_factory=dict)  # member id (hex) -> name
    bootstrapping: bool | None = None

    @field_validator("ids")
    @classmethod
    def _hex(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not re.fullmatch(r"[0-9a-fA-F]{1,16}", key):
                raise ValueError(f"member id must be hex, got {key!r}")
        return value
