"""A persistent verdict cache shared by training, evaluation and the score command, and the
wrapper that puts any judge behind it (:class:`CachedJudge`, :func:`judge_through_cache`).

Entries map a key built from (judge name, judge model, rubric version, prompt version, prompt,
response, tier, scope) to the verdict's JSON. Only verdicts are stored: a failed judge call is
never cached, so a later run asks again.

Storage is one SQLite file in WAL mode. WAL lets any number of readers proceed while one writer
commits, the busy timeout makes concurrent writers from several processes (``torchrun`` ranks,
an evaluation running beside training) queue instead of failing, and every write is a single
transaction, so a process killed mid-write leaves the file readable with the last committed
entries. An in-process dict sits in front of SQLite: a repeated lookup costs a dict access, and a
batch of misses costs one ``SELECT ... IN (...)`` query.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from argen.errors import JudgeError
from argen.judges.base import Judge
from argen.types import JudgeFailure, JudgeRequest, Verdict

log = logging.getLogger(__name__)

#: Bump when the table layout or the key derivation changes; older files are then ignored.
CACHE_SCHEMA_VERSION = "1"
CACHE_FILENAME = "verdicts.sqlite"

# SQLite's default limit on bound parameters is 32766 in current builds, 999 in old ones.
_MAX_PARAMS = 900
_NONE_MARK = b"\xff" * 8


def cache_key(
    *,
    judge: str,
    model: str,
    rubric_version: str,
    prompt_version: str,
    request: JudgeRequest,
) -> str:
    """The cache key of one request: a SHA-256 over every field that can change the verdict.

    Each part is hashed with its length in front (``None`` gets a length no text can have), so
    fields stay apart: ``("ab", "c")`` and ``("a", "bc")`` give different keys.
    """
    digest = hashlib.sha256()
    for part in (
        CACHE_SCHEMA_VERSION,
        judge,
        model,
        rubric_version,
        prompt_version,
        request.prompt,
        request.response,
        request.tier,
        request.scope,
    ):
        if part is None:
            digest.update(_NONE_MARK)
        else:
            data = part.encode("utf-8", "surrogatepass")
            digest.update(len(data).to_bytes(8, "little"))
            digest.update(data)
    return digest.hexdigest()


def default_cache_path() -> Path:
    """``<argen cache dir>/judge-cache/verdicts.sqlite`` (``$ARGEN_CACHE_DIR`` moves the root)."""
    from argen.models import cache_dir  # late import: keeps this module light for worker processes

    return cache_dir() / "judge-cache" / CACHE_FILENAME


class VerdictCache:
    """Verdicts by key, persisted in SQLite, with a bounded in-process front.

    Safe to use from several threads of one process (a lock guards the connection) and from
    several processes at once (SQLite's own locking). ``memory_entries`` bounds the front dict.
    """

    def __init__(self, path: str | Path, *, memory_entries: int = 200_000, busy_timeout_s: float = 30.0):
        self.path = Path(path).expanduser()
        self._memory: OrderedDict[str, Verdict] = OrderedDict()
        self._memory_entries = max(0, int(memory_entries))
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.writes = 0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: we issue BEGIN/COMMIT ourselves, one transaction per write call.
            self._conn = sqlite3.connect(
                str(self.path),
                timeout=busy_timeout_s,
                isolation_level=None,
                check_same_thread=False,
            )
            self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
            mode = self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                log.warning("judge cache %s: journal mode is %s, not WAL (network filesystem?)", self.path, mode)
            # NORMAL in WAL mode survives a killed process; only a power loss can drop the last commits.
            self._conn.execute("PRAGMA synchronous = NORMAL")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS verdicts ("
                " key TEXT PRIMARY KEY,"
                " verdict TEXT NOT NULL,"
                " judge TEXT NOT NULL,"
                " created REAL NOT NULL)"
            )
        except sqlite3.DatabaseError as exc:
            raise JudgeError(
                f"judge cache {self.path} cannot be opened ({exc}); move it away or set judge.cache.path elsewhere"
            ) from exc
        except OSError as exc:  # its folder cannot be made: a file in the way, a read-only HOME
            raise JudgeError(f"judge cache {self.path} cannot be created ({exc.strerror or exc}: {exc.filename}); "
                             "set judge.cache.path (or ARGEN_CACHE_DIR) to a writable place") from exc

    # ------------------------------------------------------------------ reading
    def get_many(self, keys: Sequence[str]) -> dict[str, Verdict]:
        """The cached verdicts among ``keys`` (absent keys are simply missing from the result)."""
        found: dict[str, Verdict] = {}
        missing: list[str] = []
        memory = self._memory
        for key in keys:
            verdict = memory.get(key)
            if verdict is not None:
                found[key] = verdict
            else:
                missing.append(key)
        if missing:
            rows: list[tuple[str, str]] = []
            with self._lock:
                for start in range(0, len(missing), _MAX_PARAMS):
                    chunk = missing[start : start + _MAX_PARAMS]
                    marks = ",".join("?" * len(chunk))
                    try:
                        rows.extend(
                            self._conn.execute(f"SELECT key, verdict FROM verdicts WHERE key IN ({marks})", chunk)
                        )
                    except sqlite3.DatabaseError as exc:
                        raise JudgeError(f"judge cache {self.path} cannot be read ({exc})") from exc
            loaded: list[tuple[str, Verdict]] = []
            for key, text in rows:
                try:
                    # Rows were validated when written; the constructor checks them once more.
                    verdict = Verdict(**json.loads(text))
                except (TypeError, ValueError):  # VerdictValidationError is a ValueError
                    # Written by an older verdict schema: treat as a miss, the judge re-asks.
                    continue
                found[key] = verdict
                loaded.append((key, verdict))
            with self._lock:
                for key, verdict in loaded:
                    self._remember(key, verdict)
        self.hits += len(found)
        self.misses += len(keys) - len(found)
        return found

    def get(self, key: str) -> Verdict | None:
        """One cached verdict, or None."""
        return self.get_many([key]).get(key)

    # ------------------------------------------------------------------ writing
    def put_many(self, items: Mapping[str, Verdict] | Iterable[tuple[str, Verdict]], judge: str = "") -> None:
        """Store verdicts (one transaction). Only :class:`Verdict` objects are accepted: failures never enter."""
        pairs = list(items.items() if isinstance(items, Mapping) else items)
        if not pairs:
            return
        now = time.time()
        rows = []
        for key, verdict in pairs:
            if not isinstance(verdict, Verdict):
                raise TypeError(f"only verdicts are cached, got {type(verdict).__name__}")
            rows.append((key, json.dumps(verdict.to_dict(), separators=(",", ":")), judge, now))
        with self._lock:
            try:
                # BEGIN IMMEDIATE takes the write lock up front, so the busy timeout (not a
                # deadlock-prone lock upgrade) decides how long a writer waits for another process.
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    self._conn.executemany(
                        "INSERT OR REPLACE INTO verdicts (key, verdict, judge, created) VALUES (?, ?, ?, ?)", rows
                    )
                    self._conn.execute("COMMIT")
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
            except sqlite3.DatabaseError as exc:
                raise JudgeError(f"judge cache {self.path} cannot be written ({exc})") from exc
            for key, verdict in pairs:
                self._remember(key, verdict)
        self.writes += len(rows)

    def put(self, key: str, verdict: Verdict, judge: str = "") -> None:
        """Store one verdict."""
        self.put_many([(key, verdict)], judge)

    # ------------------------------------------------------------------ housekeeping
    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM verdicts").fetchone()[0])

    def close(self) -> None:
        """Close the connection; the file stays for the next run."""
        with self._lock:
            try:
                self._conn.close()
            except sqlite3.Error:  # already closed
                pass

    def _remember(self, key: str, verdict: Verdict) -> None:
        if self._memory_entries == 0:
            return
        self._memory[key] = verdict
        if len(self._memory) > self._memory_entries:
            self._memory.popitem(last=False)

    def __repr__(self) -> str:
        return f"VerdictCache(path={str(self.path)!r})"


Outcome = Verdict | JudgeFailure
#: Distinct uncached keys, each with its request and the batch positions that asked for it.
Todo = dict[str, tuple[JudgeRequest, list[int]]]


def split_cached(
    cache: VerdictCache | None, requests: Sequence[JudgeRequest], keys: Sequence[str]
) -> tuple[list[Outcome | None], Todo]:
    """Answer what the cache holds; list each distinct key still to judge once, with its positions.

    One lookup for the whole batch; duplicates within the batch cost one judgement.
    """
    cached = cache.get_many(list(dict.fromkeys(keys))) if cache is not None else {}
    results: list[Outcome | None] = [None] * len(requests)
    todo: Todo = {}
    for i, (key, req) in enumerate(zip(keys, requests)):
        hit = cached.get(key)
        if hit is not None:
            results[i] = hit
        else:
            todo.setdefault(key, (req, []))[1].append(i)
    return results, todo


def fill_judged(results: list[Outcome | None], todo: Todo, outcomes: Sequence[Outcome]) -> list[Outcome]:
    """Put each judged outcome (in ``todo``'s order) at every position that asked for it."""
    for (_, indices), outcome in zip(todo.values(), outcomes):
        for i in indices:
            results[i] = outcome
    return results  # type: ignore[return-value]


class CachedJudge(Judge):
    """Any judge behind a :class:`VerdictCache`: cached requests are answered without asking it,
    each distinct miss is asked once (in one ``judge_batch`` call), and its verdicts are stored.

    ``key_for`` must cover everything that can change the inner judge's verdict (see
    :func:`cache_key`); failures are never stored, so a later run asks again.
    """

    def __init__(self, inner: Judge, cache: VerdictCache, key_for: Callable[[JudgeRequest], str]):
        self.inner = inner
        self.cache = cache
        self.key_for = key_for
        self.name = inner.name
        self.cache_hits = 0

    async def judge_batch(self, requests: Sequence[JudgeRequest]) -> list[Outcome]:
        """One verdict (or failure) per request, in order; only misses reach the inner judge."""
        return await judge_through_cache(
            requests, [self.key_for(r) for r in requests], self.cache, self._ask, judge=self.name, on_hits=self._count
        )

    async def _ask(self, todo: Todo) -> list[Outcome]:
        return list(await self.inner.judge_batch([req for req, _ in todo.values()]))

    def _count(self, hits: int) -> None:
        self.cache_hits += hits

    def preflight(self) -> None:
        self.inner.preflight()

    def preflight_lazy(self) -> None:
        self.inner.preflight_lazy()

    def info(self) -> dict[str, Any]:
        return self.inner.info()

    def stats(self) -> dict[str, Any]:
        return {**self.inner.stats(), "cache_hits": self.cache_hits}

    async def aclose(self) -> None:
        await self.inner.aclose()
        self.cache.close()


async def judge_through_cache(
    requests: Sequence[JudgeRequest],
    keys: Sequence[str],
    cache: VerdictCache | None,
    ask: Callable[[Todo], Awaitable[Sequence[Outcome]]],
    *,
    judge: str,
    on_hits: Callable[[int], None] | None = None,
    store: bool = True,
) -> list[Outcome]:
    """The cache around one batch, for any judge: look up, ``ask`` for the distinct misses, store.

    ``ask`` gets the misses and returns one outcome each, in order. ``store=False`` leaves storing
    to ``ask`` (a judge that stores each verdict as it arrives, so a run killed mid-batch keeps them).
    """
    results, todo = split_cached(cache, requests, keys)
    if on_hits is not None:
        on_hits(len(requests) - sum(len(indices) for _, indices in todo.values()))
    if not todo:
        return results  # type: ignore[return-value]
    outcomes = await ask(todo)
    if store and cache is not None:
        cache.put_many([(k, o) for k, o in zip(todo, outcomes) if isinstance(o, Verdict)], judge=judge)
    return fill_judged(results, todo, outcomes)


__all__ = [
    "CACHE_FILENAME", "CACHE_SCHEMA_VERSION", "CachedJudge", "VerdictCache", "cache_key", "default_cache_path",
    "fill_judged", "judge_through_cache", "split_cached",
]
