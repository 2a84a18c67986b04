"""Write transactions for webhooks: group-committed on SQLite, a thread pool on PostgreSQL.

Webhooks (inbound messages and delivery statuses) each need one short write transaction. On
SQLite, where writers take turns anyway, one writer thread runs whatever has queued up in one
transaction, each unit of work in its own savepoint, and every caller gets its answer only after
that transaction has committed.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

from stopline.store.db import driver_connection, is_sqlite, write

T = TypeVar("T")


_cache_lock = threading.Lock()


_pool = ThreadPoolExecutor(max_workers=32, thread_name_prefix="stopline-write")


def submit_write(engine: Engine, work: Callable[[Connection], T]) -> Future[T]:
    """Run `work(conn)` in its own write transaction, soon; a Future of its result.

    SQLite: group-committed by one writer thread (see `GroupCommit`). PostgreSQL: a thread of
    a pool, one transaction each; an IntegrityError is retried once, where a duplicate of a
    concurrent message is then seen as a replay.
    """
    if is_sqlite(engine):
        return _batcher(engine).submit(work)
    return _pool.submit(_in_transaction, engine, work)


def _in_transaction(engine: Engine, work: Callable[[Connection], T]) -> T:
    for attempt in (1, 2):
        try:
            with write(engine) as conn:
                return work(conn)
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


class GroupCommit:
    """One writer thread committing many callers' work per SQLite transaction.

    Each unit of work runs in a savepoint, so one that fails (its caller gets the exception)
    leaves the others intact; an IntegrityError is retried once in a fresh savepoint. If the
    commit itself fails, every caller of that batch gets the error and nothing was stored.
    """

    MAX_BATCH = 64

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._queue: queue.SimpleQueue[tuple[Callable[[Connection], Any], Future[Any]]] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._loop, name="stopline-inbound", daemon=True)
        self._thread.start()

    def submit(self, work: Callable[[Connection], T]) -> Future[T]:
        future: Future[T] = Future()
        self._queue.put((work, future))
        return future

    def _loop(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < self.MAX_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._run_batch(batch)

    def _run_batch(self, batch: list[tuple[Callable[[Connection], Any], Future[Any]]]) -> None:
        done: list[tuple[Future[Any], Any, BaseException | None]] = []
        try:
            with write(self.engine) as conn:
                if len(batch) == 1:  # alone in its transaction: no savepoint needed
                    work, future = batch[0]
                    done.append((future, work(conn), None))
                else:
                    for work, future in batch:
                        done.append((future, *self._one(conn, work)))
        except IntegrityError as exc:
            if len(batch) == 1:  # retried in a savepoint-free fresh transaction
                self._retry_alone(batch[0])
                return
            self._fail(batch, exc)
            return
        except BaseException as exc:  # noqa: BLE001 - the commit failed: nothing was stored
            self._fail(batch, exc)
            return
        for future, result, error in done:
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)

    def _retry_alone(self, item: tuple[Callable[[Connection], Any], Future[Any]]) -> None:
        work, future = item
        try:
            with write(self.engine) as conn:
                result = work(conn)
        except BaseException as exc:  # noqa: BLE001 - the caller's error
            future.set_exception(exc)
        else:
            future.set_result(result)

    @staticmethod
    def _fail(
        batch: list[tuple[Callable[[Connection], Any], Future[Any]]], exc: BaseException
    ) -> None:
        for _, future in batch:
            if not future.done():
                future.set_exception(exc)

    @staticmethod
    def _one(
        conn: Connection, work: Callable[[Connection], Any]
    ) -> tuple[Any, BaseException | None]:
        # Driver-level savepoints: cheaper than SQLAlchemy's, and invisible to it.
        driver = driver_connection(conn)
        for attempt in (1, 2):
            driver.execute("SAVEPOINT stopline_inbound")
            try:
                result = work(conn)
            except IntegrityError as exc:
                driver.execute("ROLLBACK TO stopline_inbound")
                driver.execute("RELEASE stopline_inbound")
                if attempt == 2:
                    return None, exc
                continue
            except Exception as exc:  # noqa: BLE001 - this caller's error, not the batch's
                driver.execute("ROLLBACK TO stopline_inbound")
                driver.execute("RELEASE stopline_inbound")
                return None, exc
            driver.execute("RELEASE stopline_inbound")
            return result, None
        return None, None  # pragma: no cover


_batchers: dict[int, GroupCommit] = {}


def _batcher(engine: Engine) -> GroupCommit:
    found = _batchers.get(id(engine))
    if found is None or found.engine is not engine:
        with _cache_lock:
            found = _batchers.get(id(engine))
            if found is None or found.engine is not engine:
                found = _batchers[id(engine)] = GroupCommit(engine)
    return found
