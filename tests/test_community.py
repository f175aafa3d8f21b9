"""Volunteers and family members: invitations, activation, the family view, help, guards."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from PIL import Image
from sqlalchemy import func, select

from bot.community import Community, Links
from bot.community.service import RELAY_LIMIT, RELAYS_RECEIVED_PER_HOUR
from bot.content import load
from bot.engine import (
    Choice,
    ChoicesReply,
    Engine,
    FileReply,
    Option,
    PictureReply,
    QRReply,
    Reply,
    Start,
    Stuck,
    TextInput,
    TextReply,
)
from bot.engine import phrases as engine_phrases
from bot.engine.lesson import Catalog
from bot.engine.types import Input
from bot.locks import MemoryLocks
from bot.service import Collector, Inbound, Tutor
from bot.store import Database
from bot.store.models import EventRecord, HelpRequest, LessonProgress, Referral, Volunteer
from tests.conftest import FIXTURE_LESSONS, Clock

AGREE_LABELS = {engine_phrases.CONSENT_YES("en"), engine_phrases.CONSENT_YES("vi")}


def words(replies: list[Reply]) -> str:
    parts = []
    for reply in replies:
        if isinstance(reply, ChoicesReply):
            parts += [reply.text, *(option.label for option in reply.options)]
        elif isinstance(reply, TextReply):
            parts.append(reply.text)
        elif isinstance(reply, PictureReply):
            parts.append(f"[picture {reply.path}]")
        elif isinstance(reply, FileReply):
            parts.append(f"{reply.caption or ''}\n[file {reply.name}]")
        else:
            parts.append(f"[qr {reply.data}]")
    return "\n".join(parts)


class Person:
    """Someone in a chat: sends inputs, reads what arrives, taps the newest buttons."""

    def __init__(self, tutor: Tutor, channel: str, who: str, *, agree: bool = True) -> None:
        self.tutor = tutor
        self.channel = channel
        self.who = who
        self.agree = agree
        """Answer the privacy notice "I agree" as soon as it is shown (tests of the notice
        itself pass False)."""
        self.buttons: list[Option] = []

    async def send(self, event: Input) -> list[Reply]:
        collector = Collector()
        await self.tutor.handle(Inbound(self.channel, self.who, event), collector)
        replies = self._read(collector)
        agree = next((o for o in self.buttons if o.label in AGREE_LABELS), None)
        if self.agree and agree is not None:
            replies += await self.send(Choice(key=agree.key))
        return replies

    async def inbox(self) -> list[Reply]:
        """What others' turns queued for this person, as the worker would deliver it."""
        async with self.tutor.database.unit_of_work() as uow:
            learner = await uow.learners.get(self.channel, self.who)
        assert learner is not None
        collector = Collector()
        await self.tutor.deliver(learner.id, self.channel, self.who, collector)
        return self._read(collector)

    def _read(self, collector: Collector) -> list[Reply]:
        replies = [message.reply for message in collector.messages]
        for reply in replies:
            if isinstance(reply, ChoicesReply):
                self.buttons = reply.options
        return replies

    async def type(self, text: str) -> list[Reply]:
        return await self.send(TextInput(text=text))

    async def tap(self, label_start: str) -> list[Reply]:
        labels = [option.label for option in self.buttons]
        option = next((o for o in self.buttons if o.label.startswith(label_start)), None)
        assert option is not None, f"no button {label_start!r} in {labels}"
        return await self.send(Choice(key=option.key))


async def volunteer_signs_up(
    person: Person, name: str = "Minh", school: str = "THPT Phan Bội Châu", klass: str = "11A2"
) -> str:
    await person.send(Start(payload="lang_en"))
    assert "What is your name?" in words(await person.type("/volunteer"))
    assert "Which school" in words(await person.type(name))
    assert "Which class" in words(await person.type(school))
    assert "Which province" in words(await person.type(klass))
    done = words(await person.type("Nghệ An"))
    match = re.search(r"Your invitation code: ([a-z0-9]{6})", done)
    assert match is not None, done
    return match.group(1)


async def learner_completes_first_lesson(learner: Person) -> list[Reply]:
    await learner.tap("📘 Demo")
    await learner.tap("📘 Lesson one")
    await learner.tap("Next")
    await learner.tap("Done")
    await learner.tap("Nobody")
    return await learner.tap("A scam")


async def test_signing_up_gives_a_code_links_and_a_qr_code(
    database: Database, demo_catalog: Catalog, clock: Clock
) -> None:
    links = Links(base_url="https://camtay.example", telegram_bot="camtay_bot")
    tutor = Tutor(
        engine=Engine(demo_catalog),
        database=database,
        locks=MemoryLocks(),
        clock=clock,
        community=Community(demo_catalog, links),
    )
    minh = Person(tutor, "telegram", "100")
    await minh.send(Start(payload="lang_en"))
    await minh.type("/volunteer")
    await minh.type("Minh")
    await minh.type("THPT Phan Bội Châu")
    assert "No class" in words(await minh.type("x" * 21))  # too long: asked again
    await minh.tap("➖ No class")
    replies = await minh.type("binh duong")  # a former province: now part of Ho Chi Minh City
    text = words(replies)
    code = re.search(r"Your invitation code: ([a-z0-9]{6})", text)
    assert code is not None, text
    telegram = f"https://t.me/camtay_bot?start=ref_{code.group(1)}"
    assert telegram in text
    assert len(f"ref_{code.group(1)}") <= 64
    assert f"https://camtay.example/chat?ref={code.group(1)}" in text
    assert f"«ref {code.group(1)}»" in text  # what to type on Zalo
    qr = [reply for reply in replies if isinstance(reply, QRReply)]
    assert [q.data for q in qr] == [telegram]
    async with database.unit_of_work() as uow:
        volunteer = await uow.session.scalar(select(Volunteer))
    assert volunteer is not None
    assert (volunteer.name, volunteer.class_name, volunteer.province) == ("Minh", "", "ho-chi-minh")
    assert volunteer.school_key == "thpt phan boi chau"
    # Asking again shows the same invitation, never a second code.
    assert code.group(1) in words(await minh.type("/volunteer"))


async def test_a_misspelt_province_offers_close_ones_and_a_number_picks(tutor: Tutor) -> None:
    lan = Person(tutor, "zalo_bot", "z1")
    await lan.send(Start(payload="lang_vi"))
    await lan.type("/volunteer")
    await lan.type("Lan")
    await lan.type("Hội Khuyến học xã")
    await lan.type("-")
    suggested = words(await lan.type("Nge An"))
    assert "Nghệ An" in suggested
    number = 1 + [o.label for o in lan.buttons].index("Nghệ An")
    assert "Mã mời của bạn" in words(await lan.type(str(number)))  # Zalo Bot: a typed number


async def test_the_form_can_be_cancelled_and_lessons_go_on(tutor: Tutor) -> None:
    minh = Person(tutor, "web", "minh")
    await minh.send(Start(payload="lang_en"))
    await minh.type("/volunteer")
    assert "All right" in words(await minh.tap("❌ Never mind"))
    menu = words(await minh.type("/menu"))
    assert "Which topic would you like?" in menu
    async with tutor.database.unit_of_work() as uow:
        assert await uow.session.scalar(select(Volunteer)) is None


async def test_referral_activates_on_the_first_lesson_and_the_volunteer_is_told(
    tutor: Tutor, database: Database
) -> None:
    minh = Person(tutor, "telegram", "1")
    code = await volunteer_signs_up(minh)
    grandma = Person(tutor, "zalo_bot", "g")
    joined = words(await grandma.type(f"ref {code.upper()}"))  # Zalo has no deep links
    assert "Bạn học cùng Minh" in joined
    assert "You are learning with Minh's help" in joined
    assert "Tiếng Việt" in joined  # then the usual welcome
    told = words(await minh.inbox())
    assert "A family member just started learning with your invitation (on Zalo)" in told
    await minh.tap("✏️ Name them")
    assert "Saved: Grandma" in words(await minh.type("Grandma"))

    await grandma.tap("English")
    await learner_completes_first_lesson(grandma)
    assert "Grandma just finished their first lesson: «Lesson one»" in words(await minh.inbox())
    # Only the first lesson activates; the second tells nobody.
    await grandma.tap("▶️ Next: Lesson two")
    await grandma.tap("Next")
    await grandma.tap("Two")
    assert await minh.inbox() == []
    async with database.unit_of_work() as uow:
        referral = await uow.session.scalar(select(Referral))
        types = (await uow.session.scalars(select(EventRecord.type))).all()
    assert referral is not None
    assert referral.activated_at is not None
    assert types.count("referral.activated") == 1


async def test_stuck_tells_the_volunteer_who_sends_a_tip_or_calls(
    tutor: Tutor, database: Database
) -> None:
    minh = Person(tutor, "telegram", "1")
    code = await volunteer_signs_up(minh)
    grandma = Person(tutor, "web", "g")
    await grandma.send(Start(payload=f"ref_{code}"))
    await grandma.tap("English")
    await minh.inbox()
    await grandma.tap("📘 Demo")
    await grandma.tap("📘 Lesson one")
    await grandma.tap("Next")
    stuck = words(await grandma.send(Stuck()))
    assert "Look for the gear ⚙️." in stuck  # the step again, in simpler words
    assert "I've let Minh know" in stuck

    alert = await minh.inbox()
    text = words(alert)
    assert "Family member 1 is stuck in «Lesson one», step 2/4" in text
    assert "«Open Settings.»" in text  # the step's instruction
    assert [o.label for o in minh.buttons] == ["📞 I'll call them", "💬 Send a tip"]
    assert "Type your tip for Family member 1" in words(await minh.tap("💬 Send a tip"))
    assert "Sent to Family member 1" in words(await minh.type("Tap the grey gear icon"))
    tip = words(await grandma.inbox())
    assert "💡 Minh's tip: «Tap the grey gear icon»" in tip
    # Asking again reaches the volunteer again, who chooses to call this time.
    await grandma.send(Stuck())
    await minh.inbox()
    assert "I've told Family member 1 you will call" in words(await minh.tap("📞 I'll call"))
    assert "Minh will call you soon" in words(await grandma.inbox())
    # The family view shows the learner stuck at that step until they get past it.
    assert "🆘 Stuck at this step now" in words(await minh.type("/family"))
    await grandma.tap("Done")
    assert "🆘" not in words(await minh.type("/family"))
    async with database.unit_of_work() as uow:
        requests = (await uow.session.scalars(select(HelpRequest).order_by(HelpRequest.id))).all()
    assert [(r.answer, r.resolved_at is not None) for r in requests] == [
        ("tip", True),
        ("call", True),
    ]


async def test_stuck_alerts_are_limited_and_a_learner_alone_is_told_where_to_find_help(
    tutor: Tutor, database: Database, clock: Clock
) -> None:
    alone = Person(tutor, "web", "alone")
    await alone.send(Start(payload="lang_en"))
    await alone.tap("📘 Demo")
    await alone.tap("📘 Lesson one")
    await alone.tap("Next")
    assert "ask a family member or someone you trust" in words(await alone.send(Stuck()))

    minh = Person(tutor, "telegram", "1")
    code = await volunteer_signs_up(minh)
    grandma = Person(tutor, "web", "g")
    await grandma.send(Start(payload=f"ref_{code}"))
    await grandma.tap("English")
    await grandma.tap("📘 Demo")
    await grandma.tap("📘 Lesson one")
    await grandma.tap("Next")
    await minh.inbox()
    for _ in range(2):
        await grandma.send(Stuck())
    third = words(await grandma.send(Stuck()))
    assert "Minh has already been told" in third
    alerts = words(await minh.inbox())
    assert alerts.count("is stuck in") == 2
    clock.advance(minutes=11)
    assert "I've let Minh know" in words(await grandma.send(Stuck()))
    async with database.unit_of_work() as uow:
        stuck = (await uow.session.scalars(select(HelpRequest))).all()
        progress = await uow.session.scalar(select(func.sum(LessonProgress.stuck_count)))
    assert len(stuck) == 5  # every stuck event is kept for admins, told or not
    assert progress == 5


async def test_self_referral_reattribution_and_unknown_codes_are_refused_kindly(
    tutor: Tutor, database: Database
) -> None:
    minh = Person(tutor, "telegram", "1")
    code_minh = await volunteer_signs_up(minh)
    lan = Person(tutor, "telegram", "2")
    code_lan = await volunteer_signs_up(lan, name="Lan")

    assert "your own invitation code" in words(await minh.send(Start(payload=f"ref_{code_minh}")))
    grandma = Person(tutor, "web", "g")
    await grandma.send(Start(payload=f"ref_{code_minh}"))
    again = words(await grandma.send(Start(payload=f"ref_{code_lan}")))
    assert "You already joined with someone's invitation" in again or "Bạn đã có" in again
    unknown = Person(tutor, "web", "u")
    first = words(await unknown.send(Start(payload="ref_zzzzzz")))
    assert "Mình không tìm thấy mã mời này" in first
    assert "Tiếng Việt" in first
    broken = words(await unknown.type("/start ref_<script>"))
    assert "couldn't find that invitation code" in broken or "không tìm thấy" in broken
    async with database.unit_of_work() as uow:
        referrals = (await uow.session.scalars(select(Referral))).all()
        minh_volunteer = await uow.volunteers.by_code(code_minh)
    assert minh_volunteer is not None
    assert [(r.volunteer_id) for r in referrals] == [minh_volunteer.id]  # grandma's, with Minh


async def test_a_volunteer_sees_only_their_own_family_and_nothing_after_they_leave(
    tutor: Tutor, database: Database
) -> None:
    minh = Person(tutor, "telegram", "1")
    code = await volunteer_signs_up(minh)
    lan = Person(tutor, "telegram", "2")
    await volunteer_signs_up(lan, name="Lan", school="THCS Kim Liên", klass="9A")
    grandma = Person(tutor, "web", "g")
    await grandma.send(Start(payload=f"ref_{code}"))
    await grandma.tap("English")
    assert "Family member 1" in words(await minh.type("/family"))
    assert "No one has joined" in words(await lan.type("/family"))

    # Lan forges Minh's buttons (a Telegram client can send any callback data).
    async with database.unit_of_work() as uow:
        person = (await uow.learners.get("web", "g")).id  # type: ignore[union-attr]
    assert "no longer shares" in words(await lan.send(Choice(key=f"c:cheer:{person}")))
    assert "no longer shares" in words(await lan.send(Choice(key=f"c:name:{person}")))
    await grandma.tap("📘 Demo")
    await grandma.tap("📘 Lesson one")
    await grandma.tap("Next")
    await grandma.send(Stuck())
    async with database.unit_of_work() as uow:
        request = await uow.session.scalar(select(HelpRequest))
    assert request is not None
    for verb in ("call", "tip"):
        refused = words(await lan.send(Choice(key=f"c:{verb}:{request.id}")))
        assert "already dealt with, or no longer yours" in refused
    assert words(await grandma.inbox()) == ""

    # Grandma stops sharing: Minh sees nothing more, and her stuck steps reach no one.
    await grandma.type("/helper")
    confirm = words(await grandma.tap("🚫 Stop sharing with Minh"))
    assert "can't be undone" in confirm
    assert "Minh can no longer see your learning" in words(await grandma.tap("🚫 Yes, stop"))
    await minh.inbox()
    assert "No one has joined" in words(await minh.type("/family"))
    assert "no longer shares" in words(await minh.send(Choice(key=f"c:cheer:{person}")))
    await grandma.type("/menu")
    await grandma.tap("▶️ Demo")
    await grandma.tap("▶️ Lesson one")
    assert "ask a family member" in words(await grandma.send(Stuck()))
    assert await minh.inbox() == []
    assert "You don't have a helper" in words(await grandma.type("/helper"))


async def test_relayed_messages_are_limited_in_length_and_rate(tutor: Tutor, clock: Clock) -> None:
    minh = Person(tutor, "telegram", "1")
    code = await volunteer_signs_up(minh)
    grandma = Person(tutor, "web", "g")
    await grandma.send(Start(payload=f"ref_{code}"))
    await grandma.tap("English")
    await minh.inbox()
    await minh.type("/family")
    await minh.tap("💬 Encourage")
    long = words(await minh.type("a" * (RELAY_LIMIT + 1)))
    assert f"That message is {RELAY_LIMIT + 1} characters" in long
    assert words(await grandma.inbox()) == ""
    assert "Sent to" in words(await minh.type("a" * RELAY_LIMIT))  # the same question goes on
    for number in range(RELAYS_RECEIVED_PER_HOUR - 1):
        await minh.type("/family")
        await minh.tap("💬 Encourage")
        assert "Sent to" in words(await minh.type(f"Well done {number}!"))
    await minh.type("/family")
    await minh.tap("💬 Encourage")
    assert "many messages this hour" in words(await minh.type("One more!"))
    received = words(await grandma.inbox())
    assert received.count("💌 Minh says:") == RELAYS_RECEIVED_PER_HOUR
    clock.advance(hours=1, seconds=1)
    await minh.type("/family")
    await minh.tap("💬 Encourage")
    assert "Sent to" in words(await minh.type("Next hour!"))


async def test_learning_together_is_recorded_and_shown(
    tutor: Tutor, database: Database, clock: Clock
) -> None:
    minh = Person(tutor, "telegram", "1")
    code = await volunteer_signs_up(minh)
    grandma = Person(tutor, "web", "g")
    await grandma.send(Start(payload=f"ref_{code}"))
    await grandma.tap("English")
    assert "learn together" in words(await grandma.tap("👥 My helper is with me"))
    finished = words(await learner_completes_first_lesson(grandma))
    assert "You did this lesson together with your helper" in finished
    await grandma.type("/menu")
    await grandma.tap("🙋 I'll go on by myself")
    await grandma.tap("▶️ Demo")
    await grandma.tap("📘 Lesson two")
    await grandma.tap("Next")
    alone = words(await grandma.tap("Two"))
    assert "together" not in alone
    family = words(await minh.type("/family"))
    assert "Lessons done: 2 (1 with a helper 👥, 1 on their own 🙋)" in family
    assert "Lessons done: 2 (1 with a helper, 1 on your own)" in words(
        await grandma.type("/helper")
    )
    async with database.unit_of_work() as uow:
        rows = (await uow.session.scalars(select(LessonProgress).order_by("lesson_id"))).all()
    assert [(row.lesson_id, row.assisted) for row in rows] == [("first", True), ("second", False)]
    # "Together" ends by itself after hours without learning.
    await grandma.type("/together")
    clock.advance(hours=4)
    menu = words(await grandma.type("/menu"))
    assert "👥 My helper is with me" in menu


async def test_the_family_view_shows_progress_and_learning_gain(tutor: Tutor) -> None:
    minh = Person(tutor, "telegram", "1")
    code = await volunteer_signs_up(minh)
    grandma = Person(tutor, "web", "g")
    await grandma.send(Start(payload=f"ref_{code}"))
    await grandma.tap("English")
    await grandma.tap("📘 Demo")
    await grandma.tap("📝 Quick check")
    for answer in ("A caller", "Make the text bigger", "Tap to see"):
        await grandma.tap(answer)
    await grandma.tap("▶️ Learn")
    await grandma.tap("Next")
    family = words(await minh.type("/family"))
    assert "📖 Now: «Lesson one», step 2/4" in family
    assert "🕐 Last active: just now" in family
    assert "Lessons done: 0" in family
    await grandma.tap("Done")
    await grandma.tap("Nobody")
    await grandma.tap("A scam")
    await grandma.tap("▶️ Next: Lesson two")
    await grandma.tap("Next")
    await grandma.tap("Two")
    await grandma.tap("🏁 Take the final check")
    for _ in range(3):
        await grandma.tap(grandma.buttons[0].label)
    family = words(await minh.type("/family"))
    assert re.search(r"📈 Demo: 1/3 → \d/3", family), family


async def test_school_boards_count_activations_and_completed_topics(tutor: Tutor) -> None:
    minh = Person(tutor, "telegram", "1")
    code_minh = await volunteer_signs_up(minh, school="THPT Phan Bội Châu", klass="11A2")
    lan = Person(tutor, "telegram", "2")
    await volunteer_signs_up(lan, name="Lan", school="thpt phan boi chau", klass="12A1")
    other = Person(tutor, "telegram", "3")
    await volunteer_signs_up(other, name="Hà", school="THPT Huỳnh Thúc Kháng", klass="11A2")
    grandma = Person(tutor, "web", "g")
    await grandma.send(Start(payload=f"ref_{code_minh}"))
    await grandma.tap("English")
    await learner_completes_first_lesson(grandma)
    await grandma.tap("▶️ Next: Lesson two")
    await grandma.tap("Next")
    await grandma.tap("Two")
    grandpa = Person(tutor, "web", "gp")
    await grandpa.send(Start(payload=f"ref_{code_minh}"))
    board = words(await lan.type("/board"))
    assert "🏫 thpt phan boi chau (Nghe An)" in board
    assert "• 11A2: 1 · 2 · 1 · 1" in board  # 1 volunteer, 2 invited, 1 started, 1 topic done
    assert "• 12A1: 1 · 0 · 0 · 0" in board
    assert "past their first lesson: 1; topics completed: 1" in board
    assert "0 · 0 · 0" in words(await other.type("/board"))


async def test_the_stuck_alert_carries_the_steps_picture(
    database: Database, clock: Clock, tmp_path: Path
) -> None:
    lessons = tmp_path / "lessons"
    shutil.copytree(FIXTURE_LESSONS, lessons)
    first = lessons / "demo" / "first.yaml"
    first.write_text(
        first.read_text(encoding="utf-8").replace(
            "    instruction: {vi: Mở Cài đặt., en: Open Settings.}\n",
            "    instruction: {vi: Mở Cài đặt., en: Open Settings.}\n"
            "    picture: demo/settings.png\n",
        ),
        encoding="utf-8",
    )
    (lessons / "assets" / "demo").mkdir()
    Image.new("RGB", (64, 64), "white").save(lessons / "assets" / "demo" / "settings.png")
    catalog, problems = load(lessons)
    assert problems == []
    assert catalog is not None
    tutor = Tutor(engine=Engine(catalog), database=database, locks=MemoryLocks(), clock=clock)
    minh = Person(tutor, "telegram", "1")
    code = await volunteer_signs_up(minh)
    grandma = Person(tutor, "zalo_bot", "g")
    await grandma.send(Start(payload=f"ref_{code}"))
    await grandma.tap("English")
    await grandma.tap("📘 Demo")
    await grandma.tap("📘 Lesson one")
    await grandma.tap("Next")
    await grandma.send(Stuck())
    alert = await minh.inbox()
    assert [type(reply).__name__ for reply in alert[-3:]] == [
        "TextReply",
        "PictureReply",
        "ChoicesReply",
    ]
    assert "[picture demo/settings.png]" in words(alert)
