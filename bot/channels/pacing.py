"""Send pacing shared by the push channels: a strict per-bot rate, a per-chat rate, and
replies before bulk messages."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable

from aiolimiter import AsyncLimiter

BOT_SHARE = 0.97
"""The share of a bot's limit that is used (29.1 of Telegram's 30 a second). A platform counts
a message when it arrives, the pacer when it leaves: on the way, network and CPU hiccups bunch
a few up, and the margin keeps even a bunched-up second within the limit."""


def bot_rate(per_bot: float) -> float:
    """The sends a second paced for a bot whose limit is `per_bot`."""
    return per_bot * BOT_SHARE


class Slots:
    """Hands out a bot's send slots one at a time, replies before bulk messages (broadcasts,
    reminders), in one process.

    Waiters queue here (a heap: replies first, then in order of arrival); while any wait, one
    task takes slot after slot with `take` (a rate limiter's acquire) and wakes the first
    waiter for each. So a reply waits behind at most the one slot being taken, however many
    bulk sends are under way, and only one try at a time reaches the rate limiter: sends that
    waited together do not all go at once when it lets them.
    """

    def __init__(self, take: Callable[[], Awaitable[None]]) -> None:
        self._take = take
        self._waiting: list[tuple[bool, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._handing_out: asyncio.Task[None] | None = None

    async def wait(self, *, bulk: bool = False) -> None:
        """Return when a slot was taken for this send."""
        turn = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (bulk, next(self._order), turn))
        task = self._handing_out
        if task is None or task.done() or task.get_loop() is not turn.get_loop():
            self._handing_out = asyncio.create_task(self._hand_out(), name="send slots")
        await turn

    async def _hand_out(self) -> None:
        while self._next() is not None:
            try:
                await self._take()
            except asyncio.CancelledError:
                self._fail_all(None)
                raise
            except Exception as error:  # say, Redis is down: every waiter hears of it
                self._fail_all(error)
                return
            turn = self._next()
            if turn is not None:  # else everyone waiting gave up meanwhile: the slot is unused
                heapq.heappop(self._waiting)
                turn.set_result(None)

    def _fail_all(self, error: Exception | None) -> None:
        """Every waiter gets `error` (None: is cancelled)."""
        waiting, self._waiting = self._waiting, []
        for _, _, turn in waiting:
            if turn.done():
                continue
            if error is None:
                turn.cancel()
            else:
                turn.set_exception(error)

    def _next(self) -> asyncio.Future[None] | None:
        """The first waiter still waiting (the cancelled are dropped)."""
        while self._waiting and self._waiting[0][2].done():
            heapq.heappop(self._waiting)
        return self._waiting[0][2] if self._waiting else None


class Pacer:
    """At most `per_bot` sends a second in all (a little under: `BOT_SHARE`), and `per_chat`
    a second to one chat after a short burst of `burst` (aiolimiter's leaky buckets); replies
    before bulk messages (`Slots`).

    The bot's bucket holds one send, so sends are spaced evenly and even after a quiet spell no
    second carries more than `per_bot`; a chat's bucket holds `burst`, as Telegram tolerates
    short bursts in one chat.
    """

    def __init__(
        self, per_bot: float = 30, per_chat: float = 1, burst: int = 3, remembered: int = 10_000
    ) -> None:
        self._bot = AsyncLimiter(1, 1 / bot_rate(per_bot))
        self._slots = Slots(self._bot.acquire)
        self._chat_shape = (burst, burst / per_chat)
        self._chats: OrderedDict[Hashable, AsyncLimiter] = OrderedDict()
        self._remembered = remembered

    def _chat(self, chat: Hashable) -> AsyncLimiter:
        # The least recently used chats are forgotten, so memory stays bounded.
        limiter = self._chats.pop(chat, None) or AsyncLimiter(*self._chat_shape)
        self._chats[chat] = limiter
        while len(self._chats) > self._remembered:
            self._chats.popitem(last=False)
        return limiter

    async def wait(self, chat: Hashable, *, bulk: bool = False) -> None:
        """Return when one more message may go to `chat`; a `bulk` one after waiting replies."""
        await self._chat(chat).acquire()
        await self._slots.wait(bulk=bulk)
