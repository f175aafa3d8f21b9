"""The statements every turn runs, on PostgreSQL's driver (asyncpg) itself.

SQLAlchemy's own work for one execution (session, connection, compiled-cache lookup, execution
context, result) costs about twice what asyncpg's does on this hardware (`bench/README.md`). A
turn runs a handful of the same statements, so on PostgreSQL these few are compiled once, by
SQLAlchemy, and then executed on the asyncpg connection under the session's transaction.
Parameters still go through each column type's bind processing, so values are stored exactly as
the ORM would store them. Elsewhere (SQLite), or before the transaction has begun, the same
statement runs through the session as usual.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement, Executable

if TYPE_CHECKING:
    import asyncpg

_Bind = tuple[str, Callable[[Any], Any] | None, bool, Any]
"""A parameter: its name, bind processor, whether the caller gives it, and its own value."""

DRIVER = "camtay.driver"
"""`Session.info` key: SQLAlchemy's adapter of the asyncpg connection under the session's
transaction, while it lasts (its `driver_connection` is asyncpg's)."""


class DriverSession(Session):
    """A Session that knows, while its transaction lasts, the driver's connection under it."""


@event.listens_for(DriverSession, "after_begin")
def _keep_driver(session: Session, _begun: SessionTransaction, connection: Connection) -> None:
    session.info[DRIVER] = connection.connection.dbapi_connection


@event.listens_for(DriverSession, "after_transaction_end")
def _drop_driver(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the outermost one: its connection goes back to the pool
        session.info.pop(DRIVER, None)


_watchers: list[Callable[[str], None]] = []


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """Every SQL statement run while the block runs, through SQLAlchemy or on the driver (for
    tests and `bench/profile_turn.py --statements`)."""
    seen: list[str] = []

    def through_sqlalchemy(*arguments: object) -> None:
        seen.append(str(arguments[2]))

    event.listen(engine, "before_cursor_execute", through_sqlalchemy)
    _watchers.append(seen.append)
    try:
        yield seen
    finally:
        _watchers.remove(seen.append)
        event.remove(engine, "before_cursor_execute", through_sqlalchemy)


def driver(session: AsyncSession) -> asyncpg.Connection | None:
    """The asyncpg connection of the session's transaction, once BEGIN has gone to the server
    (SQLAlchemy sends it with the transaction's first statement); None otherwise."""
    adapter = session.info.get(DRIVER)
    connection: asyncpg.Connection | None = None if adapter is None else adapter.driver_connection
    return connection if connection is not None and connection.is_in_transaction() else None


async def begin(session: AsyncSession) -> bool:
    """Begin the session's transaction on the server now, so that its first statement can run
    on the driver; False where there is no driver (SQLite).

    SQLAlchemy's asyncpg adapter sends BEGIN only with the transaction's first statement through
    SQLAlchemy, and it has no public call that sends it alone: this uses the adapter's own
    (`_start_transaction`), so that it commits and rolls back this transaction as its own.
    `tests/store/test_store.py` checks that it still does.
    """
    if session.get_bind().dialect.driver != "asyncpg":
        return False
    connection = await session.connection()  # the session's transaction, and a connection
    adapter: Any = session.info.get(DRIVER)  # kept by `_keep_driver` as the transaction began
    if adapter is None:  # not a DriverSession: its statements go through SQLAlchemy
        return False
    if adapter._transaction is None:  # SQLAlchemy's AsyncAdapt_asyncpg_connection: see above
        try:
            await adapter._start_transaction()
        except connection.dialect.loaded_dbapi.Error as error:
            raise await _failed(connection, adapter, error) from error
        except BaseException:  # cancelled on the way: the connection's state is unknown
            await connection.invalidate()  # (as SQLAlchemy does with a statement's)
            raise
    return driver(session) is not None


async def _failed(connection: AsyncConnection, adapter: Any, error: Any) -> StatementError:
    """What SQLAlchemy does when a statement fails, for a BEGIN sent outside it. A dropped
    connection (the server restarted) is discarded, and so is the rest of the pool, which the
    restart dropped too: the unit of work that meets it fails, and the next ones get new
    connections, instead of every pooled connection failing once (or for good: its BEGIN failed,
    so returning it to the pool would not notice)."""
    dialect = connection.dialect
    dropped = bool(dialect.is_disconnect(error, adapter, None))
    if dropped:
        await connection.invalidate(error)
        await connection.engine.dispose()
    wrapped: StatementError = DBAPIError.instance(
        "BEGIN",
        None,
        error,
        dialect.loaded_dbapi.Error,
        connection_invalidated=dropped,
        dialect=dialect,
    )
    return wrapped


class OnDriver:
    """A Core statement compiled once for PostgreSQL and run on the driver.

    The compiled SQL has the statement's parameters as $1, $2, …: those named with `bindparam`
    come from the caller, the others (literal values such as None) are the statement's own; each
    type's bind processor prepares its value (JSON to text, aware datetimes to UTC). `many`:
    run with `executemany` (an INSERT then returns nothing).
    """

    def __init__(self, statement: Executable, *, many: bool = False) -> None:
        self.statement = statement
        self.many = many
        self._compiled: tuple[str, list[_Bind]] | None = None

    def _compile(self, dialect: Dialect) -> tuple[str, list[_Bind]]:
        if self._compiled is not None:
            return self._compiled
        assert isinstance(self.statement, ClauseElement)  # noqa: S101 -- every statement is one
        compiled = self.statement.compile(dialect=dialect, for_executemany=self.many)
        assert isinstance(compiled, SQLCompiler)  # noqa: S101 -- a statement, not DDL
        own = compiled.params
        binds: list[_Bind] = []
        for name in compiled.positiontup or ():
            bind = compiled.binds[name]
            process: Callable[[Any], Any] | None = bind.type.dialect_impl(dialect).bind_processor(
                dialect
            )
            binds.append((name, process, bind.required, own.get(name)))
        self._compiled = (compiled.string, binds)
        return self._compiled

    def _run(self, session: AsyncSession) -> tuple[asyncpg.Connection, str, list[_Bind]] | None:
        connection = driver(session)
        if connection is None:
            return None
        sql, binds = self._compile(session.get_bind().dialect)
        for watch in _watchers:
            watch(sql)
        return connection, sql, binds

    async def fetch(
        self, session: AsyncSession, parameters: Mapping[str, Any]
    ) -> list[asyncpg.Record] | None:
        """The rows, run on the driver; None when there is no driver to run on (use the session)."""
        run = self._run(session)
        if run is None:
            return None
        connection, sql, binds = run
        rows: list[asyncpg.Record] = await connection.fetch(sql, *_arguments(binds, parameters))
        return rows

    async def execute(self, session: AsyncSession, parameters: Mapping[str, Any]) -> str | None:
        """The server's status line (say "INSERT 0 1"); None when there is no driver."""
        run = self._run(session)
        if run is None:
            return None
        connection, sql, binds = run
        status: str = await connection.execute(sql, *_arguments(binds, parameters))
        return status

    async def run(self, session: AsyncSession, parameters: Mapping[str, Any]) -> None:
        """Run it on the driver where there is one, otherwise through the session."""
        if await self.execute(session, parameters) is None:
            await session.execute(self.statement, parameters)

    async def executemany(self, session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> bool:
        """Run once per row (asyncpg sends them together); False when there is no driver."""
        run = self._run(session)
        if run is None:
            return False
        connection, sql, binds = run
        await connection.executemany(sql, [_arguments(binds, row) for row in rows])
        return True


def _arguments(binds: Sequence[_Bind], parameters: Mapping[str, Any]) -> list[Any]:
    arguments = []
    for name, process, required, own in binds:
        value = parameters[name] if required else own
        arguments.append(value if process is None else process(value))
    return arguments
