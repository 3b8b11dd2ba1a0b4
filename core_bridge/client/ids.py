"""Request ids: how a caller's idempotency key becomes the wire `id` the core applies at most once.

Why derived rather than random when a key is given: a flow re-run for a date must reuse its ids (the core
replays the reply), while a corrected payload under the same key must be a new command. Without a key
every call gets a fresh id.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from typing import Any

import orjson

MAX_ID_LEN = 128  # protocol limit on `id`


def derive_id(idempotency_key: str, cmd: str, args: Mapping[str, Any]) -> str:
    """The wire id for a caller's idempotency key.

    The id is the key plus a digest of the command and its arguments: re-running the same step with the
    same data is applied once (the core replays its reply), while a corrected payload under the same key
    is a different command and is applied. Deterministic, so a flow re-run for a date reuses the ids.
    """
    digest = hashlib.sha256(cmd.encode() + b"\0" + orjson.dumps(args, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]
    head = idempotency_key[: MAX_ID_LEN - len(digest) - 1]
    return f"{head}:{digest}"


def fresh_id(identity: str) -> str:
    # 128 random bits as 32 hex digits (a uuid4's entropy without building the UUID object on the kill path)
    return f"{identity}:{os.urandom(16).hex()}"
