"""One learner across channels: /link gives a one-time code, the other channel joins with it."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from bot.engine import Choice, ChoicesReply, Start, TextInput, TextReply
from bot.engine.types import Input
from bot.service import Collector, Inbound, Tutor
from bot.store import Database
from bot.store.models import EventRecord, Learner
from tests.conftest import Clock, handle_agreeing


async def say(tutor: Tutor, channel: str, who: str, event: Input) -> list[str]:
    collector = Collector()
    await handle_agreeing(tutor, Inbound(channel=channel, external_id=who, input=event), collector)
    texts = []
    for message in collector.messages:
        if isinstance(message.reply, ChoicesReply):
            labels = [option.label for option in message.reply.options]
            texts.append("\n".join([message.reply.text, *labels]))
        elif isinstance(message.reply, TextReply):
            texts.append(message.reply.text)
    return texts


async def press(tutor: Tutor, channel: str, who: str, label: str) -> list[str]:
    """Press the newest button starting with `label` (looked up through a repeat of the screen)."""
    collector = Collector()
    await tutor.handle(
        Inbound(channel=channel, external_id=who, input=TextInput(text="?")), collector
    )
    buttons = [m.reply for m in collector.messages if isinstance(m.reply, ChoicesReply)][-1]
    option = next(o for o in buttons.options if o.label.startswith(label))
    return await say(tutor, channel, who, Choice(key=option.key))


async def code_from(texts: list[str]) -> str:
    match = re.search(r"/link (\d{6})", "\n".join(texts))
    assert match is not None, texts
    return match.group(1)


async def test_a_second_channel_carries_on_with_the_same_progress(
    tutor: Tutor, database: Database
) -> None:
    await say(tutor, "terminal", "grandma", Start(payload="lang_en"))
    for label in ("📘 Demo", "📘 Lesson one", "Next", "Done", "Nobody", "A scam"):
        await press(tutor, "terminal", "grandma", label)
    code = await code_from(await say(tutor, "terminal", "grandma", TextInput(text="/link")))

    joined = await say(tutor, "web", "phone-browser", TextInput(text=f"/link {code}"))
    assert joined[0].startswith("✅ Linked!")
    assert "Which topic would you like?" in joined[-1]  # in the learner's own language
    menu = await say(tutor, "web", "phone-browser", TextInput(text="/menu"))
    assert "▶️ Demo · 1/2" in "\n".join(menu)
    texts = await press(tutor, "web", "phone-browser", "▶️ Demo")
    assert any("📂 Demo" in text for text in texts)
    await press(tutor, "web", "phone-browser", "📘 Lesson two")
    await press(tutor, "web", "phone-browser", "Next")
    finished = await press(tutor, "web", "phone-browser", "Two")
    assert "🎉 You finished «Lesson two»!" in finished
    # Back on the first channel, the lesson done on the second counts.
    await say(tutor, "terminal", "grandma", TextInput(text="/menu"))
    both = await press(tutor, "terminal", "grandma", "✅ Demo · 2/2")
    assert any("📂 Demo" in text for text in both)
    async with database.unit_of_work() as uow:
        people = await uow.session.scalar(select(func.count(func.distinct(EventRecord.learner_id))))
        accounts = await uow.session.scalar(select(func.count()).select_from(Learner))
    assert (people, accounts) == (1, 2)  # reports count people, not accounts


async def test_codes_are_single_use_and_expire(tutor: Tutor, clock: Clock) -> None:
    await say(tutor, "terminal", "a", Start(payload="lang_en"))
    code = await code_from(await say(tutor, "terminal", "a", TextInput(text="/link")))
    assert (await say(tutor, "web", "b", TextInput(text=f"/link {code}")))[0].startswith("✅")
    again = await say(tutor, "web", "c", TextInput(text=f"/link {code}"))
    assert again[0].startswith("Mã này không đúng")  # c has no state yet: Vietnamese
    late = await code_from(await say(tutor, "terminal", "a", TextInput(text="/link")))
    clock.advance(minutes=11)
    assert "hết hạn" in (await say(tutor, "web", "d", TextInput(text=f"/link {late}")))[0]
    unknown = "000000" if late != "000000" else "000001"
    assert "hết hạn" in (await say(tutor, "web", "e", TextInput(text=f"/link {unknown}")))[0]


async def test_a_new_code_replaces_the_old_one(tutor: Tutor) -> None:
    await say(tutor, "terminal", "a", Start(payload="lang_en"))
    first = await code_from(await say(tutor, "terminal", "a", TextInput(text="/link")))
    second = await code_from(await say(tutor, "terminal", "a", TextInput(text="/link")))
    reply = await say(tutor, "web", "b", TextInput(text=f"/link {first}"))
    assert reply[0].startswith("Mã này không đúng") or first == second
    assert (await say(tutor, "web", "b", TextInput(text=f"/link {second}")))[0].startswith("✅")
    same = await say(tutor, "terminal", "a", TextInput(text="/link"))
    code = await code_from(same)
    assert "already share" in (await say(tutor, "web", "b", TextInput(text=f"/link {code}")))[0]


async def test_guessing_codes_is_cut_short(tutor: Tutor) -> None:
    """Six digits can be guessed: after five wrong codes an account must wait."""
    await say(tutor, "terminal", "owner", Start(payload="lang_en"))
    code = await code_from(await say(tutor, "terminal", "owner", TextInput(text="/link")))
    wrong = [f"{(int(code) + n) % 1_000_000:06d}" for n in range(1, 6)]
    for guess in wrong:
        reply = await say(tutor, "web", "guesser", TextInput(text=f"/link {guess}"))
        assert reply[0].startswith("Mã này không đúng")
    blocked = await say(tutor, "web", "guesser", TextInput(text=f"/link {code}"))
    assert blocked[0].startswith("Đã nhập sai mã quá nhiều lần")
    # The right code still works for the learner's own other app.
    assert (await say(tutor, "web", "grandson", TextInput(text=f"/link {code}")))[0].startswith(
        "✅"
    )
