"""A per-process cache of the JSON API's answers, emptied by every commit to the database.

The dashboard only reads what the monitor, scanner and executor write (every few seconds), so between two
commits every reader of ``/api/v1/account`` gets the same bytes. :class:`BodyCache` keeps the body of each
successful answer keyed by the endpoint, the raw query string and the logged-in user, stamped with the
database's *data version*: SQLite's ``PRAGMA data_version``, read on one connection the cache keeps for
itself, changes whenever any other connection (another process, or the dashboard's own writes through its
pool) commits. A request whose stamp still matches gets the stored bytes; any commit makes the next request
compute afresh. A short TTL (:data:`TTL_SECONDS`) is the backstop for what moves without a commit (the
date behind DTE and "hidden until expiry", a database file replaced under the process).

The cache is per process and per app, thread-safe (one lock around the table and the version connection;
misses on the same key are computed once, by striped locks), bounded (:data:`MAX_ENTRIES`, least recently
used first out) and caches only 200 answers of ``GET`` requests. On a database other than a SQLite file
there is no data version, and nothing is cached.

Measured with ``bench/dashboard_load.py`` (figures in :mod:`dashboard.__main__`): the dashboard's CPU per
request fell from 3.2 to 1.2 ms for ``/api/v1/positions`` and from 7.4 to 1.7 ms for
``/api/v1/opportunities``, with the demo's monitor emptying the cache about once a second.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, ParamSpec, get_type_hints

from flask import Response, current_app, request, session
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

#: Seconds a stored answer lives at most, even when nothing was committed.
TTL_SECONDS = 2.0
#: Answers kept per app (endpoint × query string × user).
MAX_ENTRIES = 256
#: Longest query string whose answer is cached (longer ones are computed every time).
MAX_QUERY_BYTES = 512
#: Where :func:`install` keeps the cache in ``app.extensions``.
EXTENSION_KEY = "thetawheel.bodycache"
_STRIPES = 16

Key = tuple[str, bytes, str | None]
P = ParamSpec("P")


@dataclass(frozen=True)
class _Entry:
    version: int
    stored_at: float
    body: bytes
    mimetype: str | None
    headers: tuple[tuple[str, str], ...]


class DataVersion:
    """``PRAGMA data_version`` of a SQLite file, on a connection of its own (opened on first use)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None

    @classmethod
    def of(cls, engine: Engine) -> DataVersion | None:
        """The version source of ``engine``'s database; ``None`` unless it is a SQLite file."""
        url = make_url(str(engine.url))
        if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
            return None
        return cls(url.database)

    def read(self) -> int | None:
        """The current data version, or ``None`` when the file cannot be read (then nothing is cached).
        Call it with the cache's lock held: the connection is shared."""
        try:
            if self._conn is None:
                self._conn = sqlite3.connect(
                    f"file:{self.path}?mode=rw", uri=True, check_same_thread=False, isolation_level=None
                )
            row = self._conn.execute("PRAGMA data_version").fetchone()
        except sqlite3.Error:
            self.close()
            return None
        return int(row[0])

    def close(self) -> None:
        """Close the connection (the next :meth:`read` opens a new one)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class BodyCache:
    """Stored 200 answers keyed by :data:`Key`, valid while the data version is unchanged and for at most
    ``ttl`` seconds (``clock`` is :func:`time.monotonic`)."""

    def __init__(
        self,
        version: DataVersion | None,
        *,
        ttl: float = TTL_SECONDS,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.version = version
        self.ttl = ttl
        self.max_entries = max_entries
        self.clock = clock
        self._lock = threading.Lock()
        self._stripes = [threading.Lock() for _ in range(_STRIPES)]
        self._entries: OrderedDict[Key, _Entry] = OrderedDict()

    def _current(self) -> int | None:
        if self.version is None:
            return None
        with self._lock:
            return self.version.read()

    def _lookup(self, key: Key, version: int) -> _Entry | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry.version != version or self.clock() - entry.stored_at >= self.ttl:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry

    def _store(self, key: Key, version: int, stored_at: float, response: Response) -> None:
        headers = tuple(
            (name, value)
            for name, value in response.headers.items()
            if name.lower() not in ("content-length", "content-type", "set-cookie")
        )
        entry = _Entry(version, stored_at, response.get_data(), response.mimetype, headers)
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def serve(self, key: Key, compute: Callable[[], Any]) -> Any:
        """The stored answer of ``key`` when still valid, else ``compute()`` (stored when it is a plain 200
        :class:`flask.Response`). The version is read *before* computing, so a commit during the
        computation makes the stored answer stale at once rather than hiding the commit."""
        version = self._current()
        if version is None:
            return compute()
        entry = self._lookup(key, version)
        if entry is None:
            with self._stripes[hash(key) % _STRIPES]:  # one computation per key; the others wait for it
                version = self._current()
                if version is None:
                    return compute()
                entry = self._lookup(key, version)
                if entry is None:
                    started = self.clock()
                    result = compute()
                    if _cacheable(result):
                        self._store(key, version, started, result)
                    return result
        return current_app.response_class(
            entry.body, status=200, headers=list(entry.headers), mimetype=entry.mimetype
        )

    def clear(self) -> None:
        """Forget every stored answer."""
        with self._lock:
            self._entries.clear()


def _cacheable(result: Any) -> bool:
    return (
        isinstance(result, Response)
        and result.status_code == 200
        and not result.direct_passthrough
        and not result.is_streamed
    )


def install(app: Any, engine: Engine) -> BodyCache:
    """Give ``app`` its cache over ``engine``'s database (``app.config["BODY_CACHE"] = False`` turns it
    off)."""
    cache = BodyCache(DataVersion.of(engine))
    app.extensions[EXTENSION_KEY] = cache
    return cache


def cached(view: Callable[P, Any]) -> Callable[P, Any]:
    """Serve a ``GET`` view's 200 answers from the app's :class:`BodyCache` (key: endpoint, raw query
    string, session user). Put it *below* ``@SPEC.validate`` so the request is validated every time."""

    @wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
        cache: BodyCache | None = current_app.extensions.get(EXTENSION_KEY)
        query = request.query_string
        if (
            cache is None
            or request.method != "GET"
            or len(query) > MAX_QUERY_BYTES
            or not current_app.config.get("BODY_CACHE", True)
        ):
            return view(*args, **kwargs)
        user = session.get("user")
        key: Key = (request.endpoint or "", query, user if isinstance(user, str) else None)
        return cache.serve(key, lambda: view(*args, **kwargs))

    # resolved here: spectree evaluates string annotations in the wrapper's module, not the view's
    wrapper.__annotations__ = get_type_hints(view)
    return wrapper
