"""A tiny etcd v3 client over HTTP, for workloads and checkers: health and the JSON KV API.

etcd 3.4 and 3.5 both serve `GET /health` and `POST /v3/kv/put`,
`/v3/kv/deleterange` and `/v3/kv/range` with base64 keys and values. Every
call has a short socket timeout and fails (`healthy` is False, the KV calls
raise `EtcdKVError`) rather than hang: the caller watches the etcd process
at the same time. No etcdctl (it waits seconds to dial) and no dependency
beyond the standard library.
"""

from __future__ import annotations

import base64
import http.client
import json
from typing import Any

TIMEOUT = 2.0
HEALTH_TIMEOUT = 0.2


class EtcdKVError(Exception):
    """A request etcd did not answer with success."""


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _text(b64: str) -> str:
    return base64.b64decode(b64).decode("utf-8", "replace")


def call(port: int, path: str, body: dict[str, Any], timeout: float = TIMEOUT) -> dict[str, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        resp = conn.getresponse()
        raw = resp.read(1 << 20)
    except (OSError, http.client.HTTPException) as e:
        raise EtcdKVError(f"{path}: {type(e).__name__}: {e}") from None
    finally:
        conn.close()
    try:
        answer = json.loads(raw)
    except ValueError:
        raise EtcdKVError(f"{path}: HTTP {resp.status}, not JSON: {raw[:200]!r}") from None
    if resp.status != 200 or not isinstance(answer, dict) or "error" in answer:
        raise EtcdKVError(f"{path}: HTTP {resp.status}: {str(answer)[:200]}")
    return answer


def put(port: int, key: str, value: str) -> None:
    call(port, "/v3/kv/put", {"key": _b64(key), "value": _b64(value)})


def delete(port: int, key: str) -> None:
    call(port, "/v3/kv/deleterange", {"key": _b64(key)})


def get(port: int, key: str, timeout: float = TIMEOUT) -> str | None:
    """The key's value, or None when etcd has no such key."""
    answer = call(port, "/v3/kv/range", {"key": _b64(key)}, timeout)
    kvs = answer.get("kvs") or []
    return _text(kvs[0].get("value", "")) if kvs else None


def healthy(port: int, timeout: float = HEALTH_TIMEOUT) -> bool:
    """True when the member on `port` answers `GET /health` with health "true".

    etcd 3.4 and 3.5 both send the string "true"; a boolean is accepted too.
    """
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", "/health")
        resp = conn.getresponse()
        body = json.loads(resp.read(4096))
        return resp.status == 200 and isinstance(body, dict) and body.get("health") in (
            "true", True)
    except (OSError, http.client.HTTPException, ValueError):
        return False
    finally:
        conn.close()
