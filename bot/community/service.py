"""What happens between a volunteer and the people they brought in, turn by turn.

The tutor calls `before` with each input (it may answer the input itself: a command, a form,
a volunteer's button) and `after` with the engine's outcome (a stuck learner, a first lesson).
Messages to the other person go into their outbox in the same transaction as the turn.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot import certificates, privacy, provinces, vietnam
from bot.community import phrases as p
from bot.community.invitations import Links, code_of, typed_code
from bot.engine import (
    Catalog,
    Choice,
    ChoicesReply,
    Event,
    FileReply,
    Input,
    Option,
    Outcome,
    PictureReply,
    QRReply,
    Reply,
    Start,
    State,
    TextInput,
    TextReply,
)
from bot.engine.lesson import Locale, ShowStep, Text
from bot.engine.matching import fold, match_option
from bot.engine.phrases import CONSENT_VERSION
from bot.reminders import CHOICES, label
from bot.store.db import UnitOfWork
from bot.store.models import Learner, Referral, Volunteer
from bot.store.repositories import clear_aside

log = logging.getLogger(__name__)

KEY_PREFIX = "c:"
"""Buttons of this package: `c:<verb>[:<argument>]`; the engine's start with a number."""
NAME_LIMIT = 64
RELAY_LIMIT = 300
"""Characters in a tip or an encouragement: a few short sentences someone can read slowly."""
RELAYS_SENT_PER_HOUR = 20
RELAYS_RECEIVED_PER_HOUR = 6
ALERT_WINDOW = timedelta(minutes=10)
ALERTS_PER_WINDOW = 2
"""Stuck alerts one learner can send their volunteer in ALERT_WINDOW; more are answered kindly."""
TOGETHER_EXPIRES = timedelta(hours=3)
""""My helper is with me" ends by itself after this long without learning."""
FAMILY_BUTTONS = 8
CHANNEL_NAMES = {"telegram": "Telegram", "zalo_bot": "Zalo", "zalo_oa": "Zalo", "web": "web"}
FORGET_CONFIRMED = "forget:yes"
KEEPS_DATA = frozenset(
    {
        "volunteer",
        "tinhnguyen",
        "settings",
        "caidat",
        "remind",
        "nhachoc",
        "name",
        "ten",
        "timezone",
        "muigio",
    }
)
"""Commands that keep something about the learner: only after the privacy notice's yes."""
FILE_CHANNELS = frozenset({"telegram", "web", "terminal"})
"""Channels that deliver a FileReply as a file; the Zalo platforms get a link instead."""
FREE_TEXT = {"form", "tip", "cheer", "nickname", "certname"}
FIELD_LIMITS = {"name": 40, "school": 120, "class": 20}
Compose = Callable[[Locale], list[Reply]]
"""Messages for another person, written once their language is known."""
_SPACES = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass
class Context:
    """One turn of one account, as the tutor has it."""

    uow: UnitOfWork
    account: Learner
    person: int
    state: State | None
    now: datetime
    options: list[Option] = field(default_factory=list)
    """Buttons `after` adds to the front of the screen's own."""

    @property
    def locale(self) -> Locale:
        return self.state.locale if self.state is not None else "vi"


@dataclass
class Intercepted:
    """What `before` made of an input: replies of its own, and what the engine still gets."""

    replies: list[Reply] = field(default_factory=list)
    input: Input | None = None
    """None: the input was answered here and the engine is not called."""
    erased: privacy.Erased | None = None
    """The learner erased their data in this turn: nothing more is stored about them."""


def agreed(state: State | None) -> bool:
    return state is not None and state.consent == "given"


def _clean(text: str) -> str:
    return _SPACES.sub(" ", _CONTROL.sub("", text)).strip()


ZONES: tuple[tuple[str, Text], ...] = (
    (vietnam.NAME, Text(vi="🇻🇳 Việt Nam", en="🇻🇳 Vietnam")),
    ("Asia/Tokyo", Text(vi="🇯🇵 Nhật Bản", en="🇯🇵 Japan")),
    ("Asia/Seoul", Text(vi="🇰🇷 Hàn Quốc", en="🇰🇷 South Korea")),
    ("Asia/Taipei", Text(vi="🇹🇼 Đài Loan", en="🇹🇼 Taiwan")),
    ("Australia/Sydney", Text(vi="🇦🇺 Úc (Sydney)", en="🇦🇺 Australia (Sydney)")),
    ("Europe/Berlin", Text(vi="🇪🇺 Đức, Pháp, Séc, Ba Lan", en="🇪🇺 Central Europe")),
    ("Europe/London", Text(vi="🇬🇧 Anh", en="🇬🇧 United Kingdom")),
    ("America/New_York", Text(vi="🇺🇸 Mỹ (bờ Đông)", en="🇺🇸 US (East)")),
    ("America/Los_Angeles", Text(vi="🇺🇸 Mỹ (bờ Tây)", en="🇺🇸 US (West)")),
)
"""Where most Vietnamese abroad live and work; any other IANA zone can be typed."""


def zone_label(zone: str | None, locale: Locale) -> str:
    name = zone or vietnam.NAME
    return next((text(locale) for known, text in ZONES if known == name), name)


def _option(action: str, label: str) -> Option:
    return Option(key=f"{KEY_PREFIX}{action}", label=label)


class Community:
    def __init__(
        self, catalog: Catalog, links: Links | None = None, retention_days: int = 365
    ) -> None:
        self.catalog = catalog
        self.links = links or Links()
        self.retention_days = retention_days

    # --- before the engine ------------------------------------------------------------------

    async def before(self, ctx: Context, event: Input) -> Intercepted:
        self._expire_together(ctx)
        if isinstance(event, Start) and event.payload:
            code = code_of(event.payload)
            if code is not None:
                note = await self._join(ctx, code)
                return Intercepted([TextReply(text=note)], Start())
        if isinstance(event, Choice) and event.key == f"{KEY_PREFIX}{FORGET_CONFIRMED}":
            erased = await privacy.erase(ctx.uow, ctx.person, ctx.now, keep=ctx.account)
            return Intercepted([TextReply(text=p.FORGET_DONE(ctx.locale))], erased=erased)
        if isinstance(event, Choice) and event.key.startswith(KEY_PREFIX):
            return Intercepted(await self._act(ctx, event.key.removeprefix(KEY_PREFIX)))
        if isinstance(event, TextInput):
            text = event.text.strip()
            code = typed_code(text)
            if code is not None:
                clear_aside(ctx.account)
                return Intercepted([TextReply(text=await self._join(ctx, code))], Start())
            if text.startswith("/"):
                clear_aside(ctx.account)
                replies = await self._command(ctx, text)
                if replies is not None:
                    return Intercepted(replies)
            elif ctx.account.aside is not None:
                answered = await self._aside_text(ctx, ctx.account.aside, text)
                if answered is not None:
                    return answered
        # Anything else belongs to the engine, whose new screen replaces any list shown here.
        clear_aside(ctx.account)
        return Intercepted([], event)

    def _expire_together(self, ctx: Context) -> None:
        state = ctx.state
        idle = ctx.now - ctx.account.last_active_at
        if state is not None and state.together and idle > TOGETHER_EXPIRES:
            state.together = False

    async def _command(self, ctx: Context, text: str) -> list[Reply] | None:
        name = text[1:].split(maxsplit=1)[0].split("@", 1)[0].casefold() if len(text) > 1 else ""
        if name in KEEPS_DATA and not agreed(ctx.state):
            return [TextReply(text=p.AGREE_FIRST(ctx.locale))]
        if name in ("volunteer", "tinhnguyen"):
            return await self._volunteer(ctx)
        if name in ("family", "nguoithan"):
            return await self._family(ctx)
        if name in ("helper", "nguoigiup"):
            return await self._helper(ctx)
        if name in ("board", "bangtruong"):
            return await self._board(ctx)
        if name in ("cancel", "huy"):
            return [TextReply(text=p.CANCELLED(ctx.locale))]
        if name in ("certificates", "chungnhan"):
            mine = await ctx.uow.certificates.of_person(ctx.person)
            base = self.links.base_url
            return [TextReply(text=certificates.list_text(mine, self.catalog, base, ctx.locale))]
        if name in ("name", "ten"):
            wanted = _clean(text.split(maxsplit=1)[1]) if len(text.split(maxsplit=1)) > 1 else ""
            return await self._set_name(ctx, wanted)
        if name in ("settings", "caidat", "remind", "nhachoc"):
            text, options = await self._reminder_question(ctx)
            return self._ask(ctx, text, options, kind="menu")
        if name in ("privacy", "riengtu"):
            return [TextReply(text=p.PRIVACY(ctx.locale).format(days=self.retention_days))]
        if name in ("mydata", "dulieu"):
            return [self._mydata(ctx)]
        if name in ("forget", "xoadulieu"):
            options = [
                _option(FORGET_CONFIRMED, p.FORGET_YES(ctx.locale)),
                _option("forget:no", p.FORGET_NO(ctx.locale)),
            ]
            return self._ask(ctx, p.FORGET_ASK(ctx.locale), options, kind="menu")
        if name in ("timezone", "muigio"):
            wanted = text.split(maxsplit=1)[1] if len(text.split(maxsplit=1)) > 1 else ""
            if not wanted.strip():
                return self._zone_question(ctx)
            return await self._set_zone(ctx, vietnam.known_zone(wanted[:64]), wanted[:64])
        return None

    def _mydata(self, ctx: Context) -> Reply:
        """A file where the channel can carry one; elsewhere a link that opens it for an hour."""
        loc = ctx.locale
        name = privacy.file_name(ctx.now)
        if ctx.account.channel in FILE_CHANNELS:
            return FileReply(name=name, person=ctx.person, caption=p.MYDATA_FILE(loc))
        if not self.links.secret or not self.links.base_url.startswith("https://"):
            return FileReply(name=name, person=ctx.person, caption=p.MYDATA_ELSEWHERE(loc))
        token = privacy.sign(self.links.secret, ctx.person, ctx.now + privacy.LINK_LIFETIME)
        url = f"{self.links.base_url.rstrip('/')}/mydata/{token}"
        caption = p.MYDATA_LINK(loc).format(url=url)
        return FileReply(name=name, person=ctx.person, url=url, caption=caption)

    def _zone_question(self, ctx: Context) -> list[Reply]:
        options = [
            _option(f"zone:{index}", text(ctx.locale)) for index, (_, text) in enumerate(ZONES)
        ]
        return self._ask(ctx, p.ZONE_ASK(ctx.locale), options, kind="menu")

    async def _set_zone(self, ctx: Context, zone: str | None, typed: str) -> list[Reply]:
        loc = ctx.locale
        if zone is None:
            return [TextReply(text=p.ZONE_UNKNOWN(loc).format(name=_clean(typed)))]
        person = await ctx.uow.session.get(Learner, ctx.person)
        if person is not None:
            person.time_zone = None if zone == vietnam.NAME else zone
        there = vietnam.local(ctx.now, zone)
        text = p.ZONE_SET(loc).format(zone=zone_label(zone, loc), time=f"{there:%H:%M}")
        return [TextReply(text=text)]

    async def _set_name(self, ctx: Context, wanted: str) -> list[Reply]:
        """The name the learner chooses for their certificates (nothing else shows it)."""
        loc = ctx.locale
        if not 2 <= len(wanted) <= NAME_LIMIT:
            return [TextReply(text=p.NAME_HOW(loc))]
        person = await ctx.uow.session.get(Learner, ctx.person)
        if person is not None:
            person.display_name = wanted
        return [TextReply(text=p.NAME_SAVED(loc).format(name=wanted))]

    async def _certificate_name(self, ctx: Context, module_id: str, wanted: str) -> list[Reply]:
        loc = ctx.locale
        if not 2 <= len(wanted) <= NAME_LIMIT:
            question = p.CERTIFICATE_NAME(loc)
            return self._ask(ctx, question, [self._cancel(ctx)], kind="certname", module=module_id)
        person = await ctx.uow.session.get(Learner, ctx.person)
        if person is not None:
            person.display_name = wanted
        return await self._certify(ctx, module_id, wanted)

    async def _certify(self, ctx: Context, module_id: str, name: str) -> list[Reply]:
        made = await certificates.issue(
            ctx.uow, person=ctx.person, module_id=module_id, display_name=name, now=ctx.now
        )
        if made is None:
            return []
        return certificates.chat_replies(made, self.catalog, self.links.base_url, ctx.locale)

    async def _passed(self, ctx: Context, event: Event) -> list[Reply]:
        """A module's final check passed: a certificate, once, in the learner's chosen name."""
        module_id = str(event.data.get("module", ""))
        if event.data.get("phase") != "post" or not certificates.passed(
            int(event.data.get("correct", 0)), int(event.data.get("total", 0))
        ):
            return []
        if await ctx.uow.certificates.find(ctx.person, module_id) is not None:
            return []
        person = await ctx.uow.session.get(Learner, ctx.person)
        if person is None or not person.display_name:
            ctx.account.aside = {"kind": "certname", "module": module_id, "options": []}
            return [TextReply(text=p.CERTIFICATE_NAME(ctx.locale))]
        return await self._certify(ctx, module_id, person.display_name)

    async def _reminder_question(self, ctx: Context) -> tuple[str, list[Option]]:
        loc = ctx.locale
        person = await ctx.uow.session.get(Learner, ctx.person)
        at = person.remind_at if person is not None and not person.reminders_paused else None
        now = p.REMIND_NOW(loc).format(time=label(at)) if at is not None else p.REMIND_NONE(loc)
        zone = p.REMIND_ZONE(loc).format(
            zone=zone_label(person.time_zone if person is not None else None, loc)
        )
        options = [_option(f"remind:{minute}", f"⏰ {label(minute)}") for minute in CHOICES]
        options.append(_option("remind:off", p.REMIND_OFF(loc)))
        options.append(_option("zones", p.ZONE_BUTTON(loc)))
        return f"{p.REMIND_ASK(loc)}\n{now}\n{zone}", options

    async def _set_reminder(self, ctx: Context, argument: str) -> list[Reply]:
        loc = ctx.locale
        person = await ctx.uow.session.get(Learner, ctx.person)
        if person is None:
            return [TextReply(text=p.CANCELLED(loc))]
        minute = int(argument) if argument.isdigit() else None
        if minute is not None and minute not in CHOICES:
            minute = None
        person.remind_at = minute
        person.reminders_paused = False
        person.reminders_ignored = 0
        if minute is None:
            return [TextReply(text=p.REMIND_OFF_DONE(loc))]
        return [TextReply(text=p.REMIND_SET(loc).format(time=label(minute)))]

    async def _aside_text(
        self, ctx: Context, aside: dict[str, Any], text: str
    ) -> Intercepted | None:
        """Typed text while a list or a question of ours is the latest thing on screen; None
        when it is not for us."""
        options = [Option.model_validate(option) for option in aside.get("options", [])]
        chosen = match_option(text, options) if options else None
        if chosen is not None and not chosen.key.startswith(KEY_PREFIX):
            # A list that mixes the screen's buttons with others': the typed number picks
            # from the list as shown.
            clear_aside(ctx.account)
            return Intercepted([], Choice(key=chosen.key))
        if chosen is not None:
            return Intercepted(await self._act(ctx, chosen.key.removeprefix(KEY_PREFIX)))
        kind = aside.get("kind")
        if kind not in FREE_TEXT:
            return None
        clear_aside(ctx.account)
        if kind == "form":
            replies = await self._form_answer(ctx, aside, _clean(text))
        elif kind == "nickname":
            replies = await self._save_nickname(ctx, int(aside["person"]), _clean(text))
        elif kind == "certname":
            module_id = str(aside.get("module", ""))
            replies = await self._certificate_name(ctx, module_id, _clean(text))
        else:
            replies = await self._relay(ctx, aside, text.strip())
        return Intercepted(replies)

    def _ask(self, ctx: Context, text: str, options: list[Option], **aside: Any) -> list[Reply]:
        """A question of ours: its buttons are remembered so a typed number can pick one."""
        ctx.account.aside = {**aside, "options": [option.model_dump() for option in options]}
        if not options:
            return [TextReply(text=text)]
        return [ChoicesReply(text=text, options=options)]

    # --- buttons ----------------------------------------------------------------------------

    async def _act(self, ctx: Context, action: str) -> list[Reply]:
        verb, _, argument = action.partition(":")
        asked = ctx.account.aside or {}
        clear_aside(ctx.account)
        loc = ctx.locale
        number = int(argument) if argument.isdigit() else 0
        if verb == "cancel":
            return [TextReply(text=p.CANCELLED(loc) + " " + p.BACK_TO_LESSONS(loc))]
        if verb in ("call", "tip"):
            return await self._answer_help(ctx, number, verb)
        if verb in ("cheer", "name"):
            return await self._ask_about(ctx, verb, number)
        if verb == "family":
            return await self._family(ctx)
        if verb == "board":
            return await self._board(ctx)
        if verb == "leave":
            return await self._leave(ctx, confirmed=argument == "yes")
        if verb == "remind":
            return await self._set_reminder(ctx, argument)
        if verb == "guardian":
            return await self._confirm_guardian(ctx, number)
        if verb == "forget":  # "No, keep it" (yes is handled before: it ends the turn)
            return [TextReply(text=p.FORGET_KEPT(loc))]
        if verb == "zones":
            return self._zone_question(ctx)
        if verb == "zone" and argument.isdigit() and int(argument) < len(ZONES):
            return await self._set_zone(ctx, ZONES[int(argument)][0], "")
        if verb == "keep":
            helper = await ctx.uow.volunteers.helper(ctx.person)
            name = helper[1].name if helper else ""
            return [TextReply(text=p.KEPT(loc).format(name=name))]
        if verb in ("province", "noclass"):
            # Answers so far travel in the question's aside; a stale button starts afresh.
            values = asked.get("values") if asked.get("kind") == "form" else None
            field_name = "province" if verb == "province" else "class"
            form = {"kind": "form", "field": field_name, "values": values or {}}
            return await self._form_answer(ctx, form, argument)
        log.info("unknown community action %r ignored", action)
        return [TextReply(text=p.REQUEST_ANSWERED(loc))]

    # --- becoming a volunteer ---------------------------------------------------------------

    async def _volunteer(self, ctx: Context) -> list[Reply]:
        volunteer = await ctx.uow.volunteers.of_person(ctx.person)
        if volunteer is not None:
            return self._invitation(ctx, volunteer)
        return self._ask(
            ctx, p.FORM_NAME(ctx.locale), [self._cancel(ctx)], kind="form", field="name", values={}
        )

    def _cancel(self, ctx: Context) -> Option:
        return _option("cancel", p.CANCEL(ctx.locale))

    async def _form_answer(self, ctx: Context, aside: dict[str, Any], answer: str) -> list[Reply]:
        loc = ctx.locale
        field_name = str(aside.get("field"))
        values: dict[str, str] = dict(aside.get("values") or {})
        if field_name not in ("name", "school", "class", "province"):
            return await self._volunteer(ctx)

        def again(problem: str, options: list[Option] | None = None) -> list[Reply]:
            question, buttons = self._question(loc, field_name)
            text = problem if options else f"{problem}\n\n{question}"
            buttons = [*(options or []), *buttons, self._cancel(ctx)]
            return self._ask(ctx, text, buttons, kind="form", field=field_name, values=values)

        if field_name == "province":
            province = provinces.by_code(answer) or provinces.find(answer)
            if province is None:
                close = provinces.suggest(answer)
                if close:
                    buttons = [_option(f"province:{item.code}", item.name(loc)) for item in close]
                    return again(p.PROVINCE_SUGGEST(loc).format(text=answer[:40]), buttons)
                return again(p.PROVINCE_UNKNOWN(loc).format(text=answer[:40]))
            values["province"] = province.code
            return await self._register(ctx, values)
        limit = FIELD_LIMITS.get(field_name, 40)
        if field_name == "class" and answer in ("-", "–"):
            answer = ""
        if field_name != "class" and len(answer) < 2:
            return again(p.FIELD_TOO_SHORT(loc))
        if len(answer) > limit:
            return again(p.FIELD_TOO_LONG(loc).format(limit=limit))
        values[field_name] = answer
        following = {"name": "school", "school": "class", "class": "province"}[field_name]
        question, buttons = self._question(loc, following)
        return self._ask(
            ctx,
            question,
            [*buttons, self._cancel(ctx)],
            kind="form",
            field=following,
            values=values,
        )

    def _question(self, loc: Locale, field_name: str) -> tuple[str, list[Option]]:
        """A form question and its own buttons (Cancel is added by the caller)."""
        if field_name == "name":
            return p.FORM_NAME(loc), []
        if field_name == "school":
            return p.FORM_SCHOOL(loc), []
        if field_name == "class":
            return p.FORM_CLASS(loc), [_option("noclass", p.NO_CLASS(loc))]
        return p.FORM_PROVINCE(loc), []

    async def _register(self, ctx: Context, values: dict[str, str]) -> list[Reply]:
        uow = ctx.uow
        if {"name", "school", "province"} - values.keys():
            return await self._volunteer(ctx)  # a stale button: start the form again
        volunteer = await uow.volunteers.of_person(ctx.person)
        if volunteer is None:
            volunteer = await uow.volunteers.register(
                ctx.person,
                name=values["name"],
                school=values["school"],
                school_key=fold(values["school"]),
                class_name=values.get("class", ""),
                province=values["province"],
                now=ctx.now,
            )
            await uow.events.append(
                ctx.person,
                [Event(type="volunteer.registered", data={"province": volunteer.province})],
                ctx.now,
            )
            await uow.learners.place(ctx.person, volunteer.province, volunteer.school_key)
        clear_aside(ctx.account)
        welcome = p.REGISTERED(ctx.locale).format(name=volunteer.name, school=volunteer.school)
        return [TextReply(text=welcome), *self._invitation(ctx, volunteer)]

    def _invitation(self, ctx: Context, volunteer: Volunteer) -> list[Reply]:
        loc = ctx.locale
        code = volunteer.code
        telegram = self.links.telegram(code)
        text = p.INVITATION(loc).format(
            code=code,
            web=self.links.web(code),
            telegram=p.INVITATION_TELEGRAM(loc).format(link=telegram) if telegram else "",
        )
        caption = p.QR_CAPTION(loc).format(name=volunteer.name)
        return [TextReply(text=text), QRReply(data=self.links.primary(code), caption=caption)]

    # --- joining with an invitation ---------------------------------------------------------

    async def _join(self, ctx: Context, code: str) -> str:
        note = await self._attribute(ctx, code)
        if ctx.state is None or not ctx.state.locale_chosen:
            return f"{note('vi')}\n\n{note('en')}"  # before they choose a language
        return note(ctx.locale)

    async def _attribute(self, ctx: Context, code: str) -> Text:
        """Link a newcomer to the volunteer whose code they came with, once; say how it went."""
        uow = ctx.uow
        volunteer = await uow.volunteers.by_code(code) if code else None
        refused: str | None = None
        if volunteer is None:
            refused, note = "unknown", p.UNKNOWN_CODE
        elif volunteer.learner_id in {a.id for a in await uow.volunteers.accounts(ctx.person)}:
            refused, note = "self", p.OWN_CODE
        elif await uow.volunteers.referral(ctx.person) is not None:
            refused, note = "already", p.ALREADY_REFERRED
        if refused is not None or volunteer is None:
            await uow.events.append(
                ctx.person, [Event(type="referral.refused", data={"reason": refused})], ctx.now
            )
            return note
        await uow.volunteers.join(ctx.person, volunteer, ctx.now)
        await uow.learners.place(ctx.person, volunteer.province, volunteer.school_key)
        await uow.events.append(
            ctx.person,
            [Event(type="referral.joined", data={"volunteer": volunteer.id})],
            ctx.now,
        )
        channel = CHANNEL_NAMES.get(ctx.account.channel, ctx.account.channel)
        await self._tell(
            ctx,
            volunteer.learner_id,
            lambda vloc: [
                ChoicesReply(
                    text=p.VOLUNTEER_JOINED(vloc).format(channel=channel),
                    options=[_option(f"name:{ctx.person}", p.NAME_THEM(vloc))],
                )
            ],
        )
        joined = p.JOINED
        return Text(
            vi=joined("vi").format(name=volunteer.name), en=joined("en").format(name=volunteer.name)
        )

    # --- telling the other person -----------------------------------------------------------

    async def _tell(self, ctx: Context, person: int, make: Compose) -> bool:
        """Queue messages for another person on the account they used last; False if none."""
        target = await ctx.uow.volunteers.reach(person)
        if target is None:
            return False
        replies = make("en" if target.locale == "en" else "vi")
        await ctx.uow.outbox.add(target, replies, ctx.now, unasked=target.id != ctx.account.id)
        return True

    async def _nickname(self, ctx: Context, referral: Referral, volunteer: Volunteer) -> Text:
        if referral.nickname:
            return Text(vi=referral.nickname, en=referral.nickname)
        number = await ctx.uow.volunteers.number(referral)
        return Text(
            vi=p.FAMILY_MEMBER("vi").format(number=number),
            en=p.FAMILY_MEMBER("en").format(number=number),
        )

    # --- the volunteer's answers ------------------------------------------------------------

    async def _my_referral(self, ctx: Context, person: int) -> tuple[Volunteer, Referral] | None:
        """The referral of `person` if this account's person brought them in and still helps."""
        volunteer = await ctx.uow.volunteers.of_person(ctx.person)
        if volunteer is None:
            return None
        referral = await ctx.uow.volunteers.referred(volunteer, person)
        return None if referral is None else (volunteer, referral)

    async def _ask_about(self, ctx: Context, verb: str, person: int) -> list[Reply]:
        loc = ctx.locale
        mine = await self._my_referral(ctx, person)
        if mine is None:
            return [TextReply(text=p.RELAY_GONE(loc))]
        nickname = (await self._nickname(ctx, mine[1], mine[0]))(loc)
        if verb == "name":
            return self._ask(
                ctx, p.ASK_NICKNAME(loc), [self._cancel(ctx)], kind="nickname", person=person
            )
        prompt = p.ASK_CHEER(loc).format(nickname=nickname, limit=RELAY_LIMIT)
        return self._ask(ctx, prompt, [self._cancel(ctx)], kind="cheer", person=person)

    async def _save_nickname(self, ctx: Context, person: int, nickname: str) -> list[Reply]:
        loc = ctx.locale
        mine = await self._my_referral(ctx, person)
        if mine is None:
            return [TextReply(text=p.RELAY_GONE(loc))]
        if len(nickname) > 40:
            return self._ask(
                ctx,
                p.FIELD_TOO_LONG(loc).format(limit=40),
                [self._cancel(ctx)],
                kind="nickname",
                person=person,
            )
        if not nickname:
            return [TextReply(text=p.FIELD_TOO_SHORT(loc))]
        mine[1].nickname = nickname
        return [TextReply(text=p.NICKNAME_SAVED(loc).format(nickname=nickname))]

    async def _answer_help(self, ctx: Context, request_id: int, answer: str) -> list[Reply]:
        loc = ctx.locale
        request = await ctx.uow.volunteers.help_request(request_id)
        mine = None if request is None else await self._my_referral(ctx, request.learner_id)
        if request is None or mine is None or request.volunteer_id != mine[0].id:
            return [TextReply(text=p.REQUEST_ANSWERED(loc))]
        volunteer, referral = mine
        nickname = (await self._nickname(ctx, referral, volunteer))(loc)
        await ctx.uow.events.append(
            request.learner_id,
            [
                Event(
                    type="help.answered",
                    lesson_id=request.lesson_id,
                    step_id=request.step_id,
                    data={"answer": answer, "request": request.id},
                )
            ],
            ctx.now,
        )
        if answer == "call":
            await ctx.uow.volunteers.answer(request, "call", ctx.now)
            await self._tell(
                ctx,
                request.learner_id,
                lambda lloc: [TextReply(text=p.WILL_CALL(lloc).format(name=volunteer.name))],
            )
            return [TextReply(text=p.CALL_NOTED(loc).format(nickname=nickname))]
        prompt = p.ASK_TIP(loc).format(nickname=nickname, limit=RELAY_LIMIT)
        return self._ask(
            ctx,
            prompt,
            [self._cancel(ctx)],
            kind="tip",
            person=request.learner_id,
            request=request.id,
        )

    async def _relay(self, ctx: Context, aside: dict[str, Any], text: str) -> list[Reply]:
        """Pass a volunteer's tip or encouragement on, within the guards."""
        loc = ctx.locale
        uow = ctx.uow
        person = int(aside["person"])
        kind = str(aside["kind"])
        mine = await self._my_referral(ctx, person)
        if mine is None:
            return [TextReply(text=p.RELAY_GONE(loc))]
        volunteer, referral = mine
        text = _CONTROL.sub("", text).strip()
        if len(text) > RELAY_LIMIT:
            problem = p.RELAY_TOO_LONG(loc).format(length=len(text), limit=RELAY_LIMIT)
            question = {key: value for key, value in aside.items() if key != "options"}
            return self._ask(ctx, problem, [self._cancel(ctx)], **question)
        hour = ctx.now - timedelta(hours=1)
        if (
            await uow.events.count_since("relay.sent", hour, ctx.person) >= RELAYS_SENT_PER_HOUR
            or await uow.events.count_since("relay.received", hour, person)
            >= RELAYS_RECEIVED_PER_HOUR
        ):
            return [TextReply(text=p.RELAY_TOO_MANY(loc))]
        template = p.TIP_RELAYED if kind == "tip" else p.CHEER_RELAYED
        delivered = await self._tell(
            ctx,
            person,
            lambda lloc: [TextReply(text=template(lloc).format(name=volunteer.name, text=text))],
        )
        if not delivered:
            return [TextReply(text=p.RELAY_GONE(loc))]
        if kind == "tip" and aside.get("request"):
            request = await uow.volunteers.help_request(int(aside["request"]))
            if request is not None and request.answer is None:
                await uow.volunteers.answer(request, "tip", ctx.now)
        await uow.events.append(
            ctx.person, [Event(type="relay.sent", data={"kind": kind})], ctx.now
        )
        await uow.events.append(
            person, [Event(type="relay.received", data={"kind": kind})], ctx.now
        )
        nickname = (await self._nickname(ctx, referral, volunteer))(loc)
        return [TextReply(text=p.RELAY_SENT(loc).format(nickname=nickname))]

    # --- the family view --------------------------------------------------------------------

    async def _family(self, ctx: Context) -> list[Reply]:
        loc = ctx.locale
        volunteer = await ctx.uow.volunteers.of_person(ctx.person)
        if volunteer is None:
            return [TextReply(text=p.NOT_A_VOLUNTEER(loc))]
        family = await ctx.uow.volunteers.family(volunteer)
        if not family:
            return [TextReply(text=p.FAMILY_EMPTY(loc))]
        blocks = [p.FAMILY_HEADER(loc)]
        buttons: list[Option] = []
        for number, member in enumerate(family, 1):
            nickname = member.referral.nickname or p.FAMILY_MEMBER(loc).format(number=number)
            channels = sorted({CHANNEL_NAMES.get(a.channel, a.channel) for a in member.accounts})
            lines = [f"{number}. {nickname} · {', '.join(channels)}"]
            lines.append(
                p.FAMILY_LESSONS(loc).format(
                    done=member.completed,
                    together=member.assisted,
                    alone=member.completed - member.assisted,
                )
            )
            lines.append(self._where(loc, member.state))
            if member.stuck_now is not None and self._at(member.state, member.stuck_now):
                lines.append(p.FAMILY_STUCK(loc))
            lines.append(
                p.FAMILY_ACTIVE(loc).format(when=self._ago(loc, member.last_active_at, ctx.now))
            )
            lines += self._gains(loc, member.state)
            blocks.append("\n   ".join(lines))
            if len(buttons) < FAMILY_BUTTONS:
                label = p.ENCOURAGE(loc).format(nickname=nickname)
                buttons.append(_option(f"cheer:{member.referral.learner_id}", label))
                if member.referral.nickname is None:
                    buttons.append(
                        _option(
                            f"name:{member.referral.learner_id}", f"{p.NAME_THEM(loc)} · {nickname}"
                        )
                    )
        buttons.append(_option("board", p.SCHOOL_BOARD(loc)))
        question = self._ask(ctx, p.FAMILY_PROMPT(loc), buttons, kind="menu")
        return [TextReply(text="\n\n".join(blocks)), *question]

    def _where(self, loc: Locale, raw: dict[str, object] | None) -> str:
        state = State.model_validate(raw) if raw is not None else None
        position = state.position if state is not None else None
        if position is None or position.check is not None:
            return p.FAMILY_IDLE(loc)
        lesson = self.catalog.lesson(position.lesson_id)
        if lesson is None:
            return p.FAMILY_IDLE(loc)
        return p.FAMILY_NOW(loc).format(
            lesson=lesson.title(loc),
            step=min(position.step + 1, len(lesson.steps)),
            total=len(lesson.steps),
        )

    def _at(self, raw: dict[str, object] | None, request: Any) -> bool:
        """Still at the step they asked about (not gone on, not left the lesson)."""
        state = State.model_validate(raw) if raw is not None else None
        position = state.position if state is not None else None
        return (
            position is not None
            and position.lesson_id == request.lesson_id
            and position.step == request.step
        )

    def _gains(self, loc: Locale, raw: dict[str, object] | None) -> list[str]:
        state = State.model_validate(raw) if raw is not None else None
        if state is None:
            return []
        lines = []
        for module in self.catalog.modules:
            before = state.checks.get(f"{module.id}:pre")
            after = state.checks.get(f"{module.id}:post")
            if before is not None and after is not None:
                lines.append(
                    p.FAMILY_GAIN(loc).format(
                        module=module.title(loc),
                        pre_correct=before.correct,
                        pre_total=before.total,
                        correct=after.correct,
                        total=after.total,
                    )
                )
        return lines

    def _ago(self, loc: Locale, when: datetime, now: datetime) -> str:
        seconds = max(0, int((now - when).total_seconds()))
        if seconds < 120:
            return p.JUST_NOW(loc)
        if seconds < 3600:
            return p.MINUTES_AGO(loc).format(count=seconds // 60)
        days = (vietnam.day(now) - vietnam.day(when)).days
        if days == 0:
            return p.HOURS_AGO(loc).format(count=seconds // 3600)
        if days == 1:
            return p.YESTERDAY(loc)
        return p.DAYS_AGO(loc).format(count=days)

    # --- the learner's helper ---------------------------------------------------------------

    async def _helper(self, ctx: Context) -> list[Reply]:
        loc = ctx.locale
        helper = await ctx.uow.volunteers.helper(ctx.person)
        if helper is None:
            return [TextReply(text=p.NO_HELPER(loc))]
        _, volunteer = helper
        done, together = await ctx.uow.volunteers.lessons_done(ctx.person)
        text = p.HELPER_IS(loc).format(
            name=volunteer.name,
            school=volunteer.school,
            done=done,
            together=together,
            alone=done - together,
        )
        buttons = [
            _option("keep", p.KEEP_SHARING(loc)),
            _option("leave", p.STOP_SHARING(loc).format(name=volunteer.name)),
        ]
        return self._ask(ctx, text, buttons, kind="menu")

    async def _leave(self, ctx: Context, *, confirmed: bool) -> list[Reply]:
        loc = ctx.locale
        helper = await ctx.uow.volunteers.helper(ctx.person)
        if helper is None:
            return [TextReply(text=p.NO_HELPER(loc))]
        referral, volunteer = helper
        if not confirmed:
            buttons = [_option("leave:yes", p.YES_STOP(loc)), _option("keep", p.KEEP_SHARING(loc))]
            return self._ask(
                ctx, p.CONFIRM_STOP(loc).format(name=volunteer.name), buttons, kind="menu"
            )
        referral.ended_at = ctx.now
        await ctx.uow.events.append(
            ctx.person, [Event(type="referral.ended", data={"volunteer": volunteer.id})], ctx.now
        )
        return [TextReply(text=p.STOPPED(loc).format(name=volunteer.name))]

    # --- school boards ----------------------------------------------------------------------

    async def _board(self, ctx: Context) -> list[Reply]:
        loc = ctx.locale
        volunteer = await ctx.uow.volunteers.of_person(ctx.person)
        if volunteer is None:
            return [TextReply(text=p.NOT_A_VOLUNTEER(loc))]
        return [
            TextReply(
                text=await self.board_text(
                    ctx.uow, volunteer.province, volunteer.school_key, volunteer.school, loc
                )
            )
        ]

    async def board_text(
        self, uow: UnitOfWork, province: str, school_key: str, school: str, loc: Locale
    ) -> str:
        rows = await uow.volunteers.board(province, school_key)
        place = provinces.by_code(province)
        lines = [
            p.BOARD_HEADER(loc).format(
                school=school, province=place.name(loc) if place else province
            )
        ]
        total_activated = total_modules = 0
        for row in rows:
            modules = self.completed_modules(row.completed_lessons)
            total_activated += row.activated
            total_modules += modules
            lines.append(
                p.BOARD_ROW(loc).format(
                    class_name=row.class_name or p.NO_CLASS_NAME(loc),
                    volunteers=row.volunteers,
                    referred=row.referred,
                    activated=row.activated,
                    modules=modules,
                )
            )
        lines.append(p.BOARD_TOTAL(loc).format(activated=total_activated, modules=total_modules))
        return "\n".join(lines)

    def completed_modules(self, done: frozenset[tuple[int, str]]) -> int:
        """How many (person, module) pairs have every lesson of the module completed."""
        by_person: dict[int, set[str]] = {}
        for person, lesson in done:
            by_person.setdefault(person, set()).add(lesson)
        return sum(
            1
            for lessons in by_person.values()
            for module in self.catalog.modules
            if set(module.lessons) <= lessons
        )

    # --- after the engine -------------------------------------------------------------------

    async def after(self, ctx: Context, before: State | None, outcome: Outcome) -> list[Reply]:
        """React to what the learner did; returns notes for them, shown before their buttons."""
        notes: list[Reply] = []
        for event in outcome.events:
            if event.type == "step.completed" and event.lesson_id is not None:
                step = int(event.data.get("step", -1))
                await ctx.uow.volunteers.resolve(ctx.person, event.lesson_id, step, ctx.now)
            elif event.type == "learner.stuck" and event.lesson_id and event.step_id:
                notes += await self._stuck(ctx, event)
            elif event.type == "lesson.completed" and event.lesson_id is not None:
                first = before is None or not before.completed
                if first:
                    await self._first_lesson(ctx, event.lesson_id)
            elif event.type == "check.completed":
                notes += await self._passed(ctx, event)
            elif event.type == "consent.guardian_needed":
                await self._ask_guardian(ctx)
            elif event.type == "reminders.requested" and not agreed(ctx.state):
                notes.append(TextReply(text=p.AGREE_FIRST(ctx.locale)))
            elif event.type == "reminders.requested":
                text, options = await self._reminder_question(ctx)
                notes.append(TextReply(text=text))
                ctx.options += options
        return notes

    async def _stuck(self, ctx: Context, event: Event) -> list[Reply]:
        uow = ctx.uow
        loc = ctx.locale
        lesson = self.catalog.lesson(event.lesson_id or "")
        step_index = int(event.data.get("step", 0))
        helper = await uow.volunteers.helper(ctx.person)
        if helper is None or lesson is None:
            await uow.volunteers.ask_for_help(
                ctx.person,
                None,
                lesson_id=event.lesson_id or "",
                step_id=event.step_id or "",
                step=step_index,
                now=ctx.now,
            )
            return [TextReply(text=p.FIND_HELP(loc))]
        referral, volunteer = helper
        if (
            await uow.volunteers.alerts_since(ctx.person, ctx.now - ALERT_WINDOW)
            >= ALERTS_PER_WINDOW
        ):
            await uow.volunteers.ask_for_help(
                ctx.person,
                None,
                lesson_id=lesson.id,
                step_id=event.step_id or "",
                step=step_index,
                now=ctx.now,
            )
            return [TextReply(text=p.HELPER_TOLD_RECENTLY(loc).format(name=volunteer.name))]
        request = await uow.volunteers.ask_for_help(
            ctx.person,
            volunteer,
            lesson_id=lesson.id,
            step_id=event.step_id or "",
            step=step_index,
            now=ctx.now,
        )
        await uow.events.append(
            ctx.person,
            [
                Event(
                    type="help.requested",
                    lesson_id=lesson.id,
                    step_id=event.step_id,
                    data={"request": request.id, "volunteer": volunteer.id},
                )
            ],
            ctx.now,
        )
        step = lesson.steps[min(step_index, len(lesson.steps) - 1)]
        nickname = await self._nickname(ctx, referral, volunteer)

        def alert(vloc: Locale) -> list[Reply]:
            instruction = step.instruction(vloc) if isinstance(step, ShowStep) else ""
            replies: list[Reply] = [
                TextReply(
                    text=p.STUCK_ALERT(vloc).format(
                        nickname=nickname(vloc),
                        lesson=lesson.title(vloc),
                        step=step_index + 1,
                        total=len(lesson.steps),
                        instruction=instruction,
                    )
                )
            ]
            if step.picture is not None:
                replies.append(PictureReply(path=step.picture))
            replies.append(
                ChoicesReply(
                    text=p.STUCK_ACTIONS(vloc),
                    options=[
                        _option(f"call:{request.id}", p.CALL_THEM(vloc)),
                        _option(f"tip:{request.id}", p.SEND_TIP(vloc)),
                    ],
                )
            )
            return replies

        await self._tell(ctx, volunteer.learner_id, alert)
        return [TextReply(text=p.HELPER_TOLD(loc).format(name=volunteer.name))]

    async def _ask_guardian(self, ctx: Context) -> None:
        """A child under 16 asks the volunteer who invited them to agree for them."""
        helper = await ctx.uow.volunteers.helper(ctx.person)
        if helper is None:
            return
        referral, volunteer = helper
        nickname = await self._nickname(ctx, referral, volunteer)

        def ask(vloc: Locale) -> list[Reply]:
            text = p.GUARDIAN_ASK(vloc).format(nickname=nickname(vloc))
            option = _option(f"guardian:{ctx.person}", p.GUARDIAN_CONFIRM(vloc))
            return [ChoicesReply(text=text, options=[option])]

        await self._tell(ctx, volunteer.learner_id, ask)

    async def _confirm_guardian(self, ctx: Context, person: int) -> list[Reply]:
        """The inviting volunteer agrees for a child: recorded on the child's row, which the
        child's next turn follows."""
        loc = ctx.locale
        mine = await self._my_referral(ctx, person)
        child = await ctx.uow.session.get(Learner, person) if mine is not None else None
        if mine is None or child is None:
            return [TextReply(text=p.RELAY_GONE(loc))]
        volunteer, referral = mine
        if child.consent_at is None:
            child.consent_at = ctx.now
            child.consent_version = f"{CONSENT_VERSION}/volunteer"[:20]
            name = volunteer.name

            def told(cloc: Locale) -> list[Reply]:
                return [TextReply(text=p.GUARDIAN_TOLD(cloc).format(name=name))]

            await self._tell(ctx, person, told)
        nickname = (await self._nickname(ctx, referral, volunteer))(loc)
        return [TextReply(text=p.GUARDIAN_DONE(loc).format(nickname=nickname))]

    async def _first_lesson(self, ctx: Context, lesson_id: str) -> None:
        uow = ctx.uow
        helper = await uow.volunteers.helper(ctx.person)
        if helper is None:
            return
        referral, volunteer = helper
        if referral.activated_at is not None:
            return
        await uow.volunteers.activate(referral, ctx.now)
        await uow.events.append(
            ctx.person,
            [
                Event(
                    type="referral.activated", lesson_id=lesson_id, data={"volunteer": volunteer.id}
                )
            ],
            ctx.now,
        )
        lesson = self.catalog.lesson(lesson_id)
        nickname = await self._nickname(ctx, referral, volunteer)
        await self._tell(
            ctx,
            volunteer.learner_id,
            lambda vloc: [
                TextReply(
                    text=p.ACTIVATED(vloc).format(
                        nickname=nickname(vloc),
                        lesson=lesson.title(vloc) if lesson else lesson_id,
                    )
                )
            ],
        )
