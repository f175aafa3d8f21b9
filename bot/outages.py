"""Failures that mean PostgreSQL or Redis is out of reach for a moment, not a fault in camtay.

A request that meets one is answered 503 with Retry-After (webhook.app.Outages) instead of 500:
the unit of work it was in committed nothing, so the platform's redelivery (Telegram repeats an
update until it gets a 2xx; the web chat tries again after a second) applies it exactly once
when the service is back. Such a failure is logged as one warning line now and then, not as a
traceback per request, and counted as `camtay_updates_total{result="unavailable"}`.
"""

from __future__ import annotations

import logging
import sys
import time

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

OUT_OF_REACH: tuple[type[Exception], ...] = (
    ConnectionError,  # the operating system's: refused, reset, aborted (connecting to PostgreSQL)
    RedisConnectionError,  # also Redis loading its data after a restart
    RedisTimeoutError,
    PoolTimeout,  # every pooled connection busy for the pool's whole timeout
)
"""Besides these: SQLAlchemy's errors on a lost connection, and asyncpg's (`_driver_errors`)."""


def _driver_errors() -> tuple[type[Exception], ...]:
    """asyncpg's, from the statements run on the driver (bot/store/driver.py). Only PostgreSQL
    loads asyncpg, and nothing can raise them before it is loaded: not imported here for SQLite."""
    asyncpg = sys.modules.get("asyncpg")
    if asyncpg is None:
        return ()
    return (
        asyncpg.PostgresConnectionError,  # SQLSTATE class 08, and a connection closed mid-query
        asyncpg.CannotConnectNowError,  # the server is starting up or shutting down
        asyncpg.AdminShutdownError,
        asyncpg.CrashShutdownError,
    )


def unreachable(error: BaseException | None) -> bool:
    """Whether `error`, what it wraps, or what it was raised while handling says PostgreSQL or
    Redis could not be reached. The last matters: when the connection dies in a unit of work,
    what reaches the request is the rollback's failure on the dead connection, raised while
    the statement's own failure was being handled."""
    kinds = (*OUT_OF_REACH, *_driver_errors())
    seen: set[int] = set()
    todo = [error]
    while todo and len(seen) < 16:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, kinds):
            return True
        if isinstance(current, DBAPIError):
            if current.connection_invalidated:
                return True
            todo.append(current.orig)  # the driver's error, as SQLAlchemy got it
        todo += [current.__cause__, current.__context__]
    return False


OUTAGE_LOG_SECONDS = 10.0
"""Each logger says a service is out of reach at most once in this many seconds."""
_said: dict[str, float] = {}
"""When each logger last said so (monotonic)."""


def say_out_of_reach(log: logging.Logger, what: str, error: BaseException) -> None:
    """A warning line that PostgreSQL or Redis is out of reach, at most every
    `OUTAGE_LOG_SECONDS` for each logger: an outage fails every request and every cycle of every
    loop, and one line now and then says all there is to say."""
    now = time.monotonic()
    if now - _said.get(log.name, -OUTAGE_LOG_SECONDS) < OUTAGE_LOG_SECONDS:
        return
    _said[log.name] = now
    log.warning(
        "%s: PostgreSQL or Redis out of reach (%s: %s)",
        what,
        type(error).__name__,
        str(error)[:200],
    )


def log_failure(log: logging.Logger, what: str, error: BaseException) -> None:
    """A background loop's failed cycle, tried again at the next: `say_out_of_reach` for an
    outage, the traceback for anything else."""
    if unreachable(error):
        say_out_of_reach(log, what, error)
    else:
        log.error("%s", what, exc_info=error)
