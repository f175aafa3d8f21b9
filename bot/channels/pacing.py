"""Send pacing shared by the push channels: a strict per-bot rate and a per-chat rate."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

from aiolimiter import AsyncLimiter


class Pacer:
    """At most `per_bot` sends a second in all, and `per_chat` a second to one chat after a
    short burst of `burst` (aiolimiter's leaky buckets).

    The bot's bucket holds one send, so even after a quiet spell no second carries more than
    `per_bot`; a chat's bucket holds `burst`, as Telegram tolerates short bursts in one chat.
    """

    def __init__(
        self, per_bot: float = 30, per_chat: float = 1, burst: int = 3, remembered: int = 10_000
    ) -> None:
        self._bot = AsyncLimiter(1, 1 / per_bot)
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

    async def wait(self, chat: Hashable) -> None:
        """Return when one more message may go to `chat`."""
        await self._chat(chat).acquire()
        await self._bot.acquire()
