"""What every fake platform server shares: an aiohttp app on a free port of 127.0.0.1."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from dataclasses import dataclass
from types import TracebackType
from typing import Generic, Protocol, Self, TypeVar

from aiohttp import web


@dataclass(frozen=True)
class Hang:
    """A scripted slow answer: the next call waits this long before answering."""

    seconds: float


class ApiError(Exception):
    """Raised inside a fake's handler to answer with a platform error."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


class FakeServer(ABC):
    """Start with `async with Fake(...) as fake:`; `fake.base_url` is where it listens."""

    def __init__(self) -> None:
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    @abstractmethod
    def routes(self, app: web.Application) -> None:
        """Add the platform's routes to `app`."""

    def wake(self) -> None:  # noqa: B027 -- optional hook: only long-polling fakes need it
        """Release handlers that wait for something (long polls); called on stop."""

    def application(self) -> web.Application:
        return web.Application()

    async def start(self) -> None:
        """Listen on a free port of 127.0.0.1 and set base_url."""
        self._closing.clear()
        app = self.application()
        self.routes(app)
        # A short shutdown grace: stop() already wakes hung handlers, so nothing should linger.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"

    async def stop(self) -> None:
        """Wake hung and long-polling handlers, then shut the server down."""
        self._closing.set()
        self.wake()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


class RecordedCall(Protocol):
    @property
    def method(self) -> str: ...

    @property
    def ok(self) -> bool: ...


CallT = TypeVar("CallT", bound=RecordedCall)


class RecordingServer(FakeServer, Generic[CallT]):
    """A fake Bot API that records every call, for tests to inspect and wait on."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[CallT] = []
        self._called = asyncio.Event()

    def record(self, call: CallT) -> None:
        self.calls.append(call)
        self._called.set()

    def sent(self, method: str | None = None, *, ok: bool | None = None) -> list[CallT]:
        """Recorded calls, optionally only of method and only (un)successful ones."""
        return [
            call
            for call in self.calls
            if (method is None or call.method.lower() == method.lower())
            and (ok is None or call.ok == ok)
        ]

    def last(self, method: str | None = None) -> CallT:
        """The most recent call (of method); AssertionError when there is none."""
        calls = self.sent(method)
        assert calls, f"no {method or 'API'} calls recorded"
        return calls[-1]

    async def wait_for(
        self,
        method: str,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109 -- a deadline argument reads best in tests
    ) -> list[CallT]:
        """Wait until at least count calls of method were recorded; TimeoutError otherwise."""
        try:
            async with asyncio.timeout(timeout):
                while len(calls := self.sent(method)) < count:
                    self._called.clear()
                    await self._called.wait()
        except TimeoutError:
            have = len(self.sent(method))
            raise TimeoutError(f"{have} of {count} {method} calls after {timeout} s") from None
        return calls
