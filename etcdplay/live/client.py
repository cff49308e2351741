"""Every etcd v3 client call etcdplay makes, in one module.

Built on the ``etcd3`` package (the cslab-etcd3 fork, same API as etcd3 0.12).
Two things are adjusted for a cluster whose members die and come back
every few seconds:

* gRPC reconnect back-off is cut from gRPC's default (1 s, growing to 120 s)
  to tens of milliseconds through channel options, so a restarted member is
  talked to again at once;
* etcd3 marks an endpoint "failed" for 300 s after one UNAVAILABLE error and
  then refuses to use it; with one endpoint per client that would blind us to
  a restarted member, so the retry window is set to zero.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import etcd3
import etcd3.etcdrpc as rpc
import grpc

#: gRPC channel options: fast reconnects to members that come back.
GRPC_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.initial_reconnect_backoff_ms", 50),
    ("grpc.min_reconnect_backoff_ms", 50),
    ("grpc.max_reconnect_backoff_ms", 250),
    ("grpc.enable_retries", 0),
    ("grpc.keepalive_time_ms", 10_000),
]

#: StatusResponse.raftAppliedIndex (etcd >= 3.4) is field 7; the protobuf stubs
#: shipped with the client predate it, so it is read from the unknown fields.
_APPLIED_INDEX_FIELD = 7


class ClientError(RuntimeError):
    """A client call failed; ``str()`` is a short reason (``unavailable``, ...)."""


@dataclass(frozen=True, slots=True)
class MemberStatus:
    member_id: int
    leader_id: int  # 0 when the member knows no leader
    term: int
    commit: int  # etcd's raftIndex
    applied: int | None
    revision: int
    db_size: int | None = None  # bytes of the backend database file


def _reason(exc: BaseException) -> str:
    if isinstance(exc, grpc.RpcError):
        code = exc.code()
        details = exc.details() or ""
        name = code.name.lower() if code is not None else "error"
        return f"{name}: {details}" if details else name
    name = type(exc).__name__
    if name == "ConnectionFailedError":
        return "unavailable"
    if name == "ConnectionTimeoutError":
        return "deadline_exceeded"
    text = str(exc)
    return f"{name}: {text}" if text else name


def _applied_index(response: Any) -> int | None:
    try:
        from google.protobuf.unknown_fields import UnknownFieldSet
    except ImportError:  # pragma: no cover - very old protobuf
        return None
    with contextlib.suppress(Exception):
        for field in UnknownFieldSet(response):
            if field.field_number == _APPLIED_INDEX_FIELD:
                return int(field.data)
    return None


class MemberClient:
    """A client bound to one member's client URL."""

    def __init__(self, host: str, port: int, timeout: float = 2.0) -> None:
        self.timeout = timeout
        self._client = etcd3.client(host=host, port=port, timeout=timeout, grpc_options=GRPC_OPTIONS)
        for endpoint in self._client.endpoints.values():
            endpoint.time_retry = 0.0

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._client.close()

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # every failure becomes a short reason
            raise ClientError(_reason(exc)) from None

    # cluster state -------------------------------------------------------------

    def status(self, timeout: float | None = None) -> MemberStatus:
        def call() -> MemberStatus:
            stub = self._client.maintenancestub
            resp = stub.Status(rpc.StatusRequest(), timeout or self.timeout)
            return MemberStatus(
                member_id=int(resp.header.member_id),
                leader_id=int(resp.leader),
                term=int(resp.raftTerm),
                commit=int(resp.raftIndex),
                applied=_applied_index(resp),
                revision=int(resp.header.revision),
                db_size=int(resp.dbSize),
            )

        return self._call(call)

    def key_count(self, timeout: float | None = None) -> tuple[int, int]:
        """(number of keys, revision) as this member sees them, served locally
        (serializable, count only: no value is transferred)."""

        def call() -> tuple[int, int]:
            request = rpc.RangeRequest(key=b"\0", range_end=b"\0", serializable=True, count_only=True)
            resp = self._client.kvstub.Range(request, timeout or self.timeout)
            return int(resp.count), int(resp.header.revision)

        return self._call(call)

    def hash_kv(self, revision: int, timeout: float | None = None) -> tuple[int, int]:
        """(HashKV of the MVCC store up to ``revision``, compact revision)."""

        def call() -> tuple[int, int]:
            resp = self._client.maintenancestub.HashKV(
                rpc.HashKVRequest(revision=revision), timeout or self.timeout
            )
            return int(resp.hash), int(resp.compact_revision)

        return self._call(call)

    # key-value -----------------------------------------------------------------

    def put(self, key: str, value: str) -> int:
        """Put; returns the revision it created."""
        resp = self._call(self._client.put, key, value)
        return int(resp.header.revision)

    def put_async(self, key: str, value: str, done: Callable[[str | None], None]) -> None:
        """Start a put and return at once; ``done(error or None)`` runs on a gRPC
        thread when it finishes. The load generator uses it so that a write
        stuck behind a lost proposal never delays the writes after it."""
        client = self._client
        request = rpc.PutRequest(key=key.encode("utf-8"), value=value.encode("utf-8"))
        try:
            stub = client.kvstub
            future = stub.Put.future(
                request, self.timeout, credentials=client.call_credentials, metadata=client.metadata
            )
        except Exception as exc:  # the channel could not even start the call
            done(_reason(exc))
            return

        def finished(call: Any) -> None:
            error = call.exception()
            done(None if error is None else _reason(error))

        future.add_done_callback(finished)

    def get(self, key: str) -> str | None:
        value, _meta = self._call(self._client.get, key)
        return None if value is None else value.decode("utf-8", "replace")

    def delete(self, key: str) -> bool:
        return bool(self._call(self._client.delete, key))

    def get_prefix(self, prefix: str) -> dict[str, str]:
        """Every key under ``prefix``: a linearizable read (goes through raft)."""

        def call() -> dict[str, str]:
            if prefix:
                start = prefix.encode("utf-8")
                end = _prefix_end(start)
            else:  # every key: etcd's "from \0 to \0"
                start, end = b"\0", b"\0"
            request = rpc.RangeRequest(key=start, range_end=end)
            resp = self._client.kvstub.Range(request, self.timeout)
            return {kv.key.decode("utf-8", "replace"): kv.value.decode("utf-8", "replace") for kv in resp.kvs}

        return self._call(call)


def _prefix_end(prefix: bytes) -> bytes:
    """The range end covering every key that starts with ``prefix``."""
    trimmed = prefix.rstrip(b"\xff")
    if not trimmed:
        return b"\0"
    return trimmed[:-1] + bytes([trimmed[-1] + 1])


def timed(fn: Any, *args: Any) -> tuple[Any, float, str | None]:
    """(result or None, seconds, error reason or None)."""
    began = time.perf_counter()
    try:
        result = fn(*args)
    except ClientError as exc:
        return None, time.perf_counter() - began, str(exc)
    return result, time.perf_counter() - began, None
