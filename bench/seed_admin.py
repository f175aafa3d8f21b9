"""Seed a PostgreSQL database for the admin reports: learners, volunteers, events, with COPY.

    .venv/bin/python -m bench.seed_admin                        # quick: 50k learners, 1M events
    .venv/bin/python -m bench.seed_admin --learners 1000000 --volunteers 100000 --events 20000000

The database (`camtay_bench_admin` unless `--name`) is dropped if it exists, created, migrated
with `bot.store.migrate.upgrade`, and filled in one pass: a generator simulates each person's
journey through the real lesson library (in a thread), and six COPY streams, one connection
per table, load what it produces while it produces the next chunk. Foreign-key triggers are off
during the load (`session_replication_role = replica`; the generator keeps every reference
valid) and the secondary indexes and unique constraints are dropped first and built again
afterwards, which is several times faster than maintaining them row by row. Then sequences
are moved past the ids used, and every table is VACUUM ANALYZEd. The same arguments give the
same data (seeded random).

What the data looks like:

- persons over 18 months up to 2026-11-22, more each month (linear growth); ids in time order;
- `--volunteers` of them are volunteers (one every learners/volunteers persons), in about
  volunteers/20 schools over the 34 provinces; province sizes are skewed (Zipf), school sizes
  too (a few schools bring most volunteers);
- about 60 % of the other persons join with a volunteer's invitation (a `referrals` row; their
  province and school are the volunteer's); the rest have no place, as in the app;
- channels telegram / zalo_bot / zalo_oa / web; some persons have a second, linked account;
- many never open a lesson (38 % at 20 events a person: the share is what the calibration
  moves); most of the others do one or two; a few go through every core module (equipped) or
  the whole library. They follow the real catalog: the steps,
  quiz options and drill verdicts of `lessons/`, pre- and post-checks with their real sizes;
  `lesson_progress`, the milestones on the person's row and `referrals.activated_at` agree with
  the events; every `learner.stuck` has its `help_requests` row;
- the event total is exactly `--events`: the persons' eagerness is calibrated on a pilot
  sample, steered while generating, and the last persons fill up to the exact count.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import math
import random
import resource
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from bot import provinces
from bot.content import DEFAULT_LESSONS_DIR, load_catalog
from bot.engine import Catalog
from bot.engine.lesson import DrillStep, QuizStep, ShowStep
from bot.engine.matching import fold
from bot.store.migrate import upgrade
from bot.store.scratch import asyncpg_dsn, execute

SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
NAME = "camtay_bench_admin"
END = datetime(2026, 11, 22, tzinfo=UTC)
"""The seeded history ends here ("now" for the data); it starts 18 months earlier."""
DAYS = 548
CHUNK = 2000
"""Persons per generated chunk: about 40,000 events, a few MB of COPY text per table."""
NULL = "\\N"

# The tables, in COPY column order; ids are given explicitly.
COLUMNS: dict[str, tuple[str, ...]] = {
    "learners": (
        "id",
        "channel",
        "external_id",
        "locale",
        "display_name",
        "consent_at",
        "created_at",
        "last_active_at",
        "unreachable_at",
        "person_id",
        "province",
        "school_key",
        "started_at",
        "first_lesson_at",
        "first_module_at",
        "equipped_at",
    ),
    "volunteers": (
        "id",
        "learner_id",
        "code",
        "name",
        "school",
        "school_key",
        "class_name",
        "province",
        "created_at",
    ),
    "referrals": (
        "learner_id",
        "volunteer_id",
        "nickname",
        "joined_at",
        "activated_at",
        "ended_at",
    ),
    "lesson_progress": (
        "learner_id",
        "lesson_id",
        "status",
        "current_step",
        "correct",
        "answered",
        "stuck_count",
        "assisted",
        "started_at",
        "completed_at",
        "updated_at",
    ),
    "events": ("id", "learner_id", "type", "lesson_id", "step_id", "data", "occurred_at"),
    "help_requests": (
        "id",
        "learner_id",
        "volunteer_id",
        "lesson_id",
        "step_id",
        "step",
        "created_at",
        "answer",
        "answered_at",
        "resolved_at",
    ),
}
TABLES = tuple(COLUMNS)
FREEZE = ("referrals", "lesson_progress", "events", "help_requests")
"""Tables no foreign key points at: TRUNCATE + COPY FREEZE in one transaction, so the rows
are written frozen and the VACUUM afterwards has almost nothing to do."""
SERIAL = ("learners", "volunteers", "events", "help_requests")

CHANNELS = ("telegram", "zalo_bot", "zalo_oa", "web")
CHANNEL_WEIGHTS = (0.25, 0.30, 0.35, 0.10)
FAMILY = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi")
MIDDLE = ("Thị", "Văn", "Hữu", "Minh", "Ngọc", "Thanh", "Đức", "Thu", "Quốc", "Kim")
GIVEN = (
    "Lan",
    "Minh",
    "Hà",
    "Hùng",
    "Mai",
    "Tuấn",
    "Hoa",
    "Dũng",
    "Linh",
    "Nam",
    "Thảo",
    "Phúc",
    "Hương",
    "Sơn",
    "Yến",
    "Bình",
    "Trang",
    "Khoa",
    "Nga",
    "Long",
)
NICKNAMES = ("Bà nội", "Ông nội", "Bà ngoại", "Ông ngoại", "Mẹ", "Bố", "Cô Ba", "Chú Tư")
FAMOUS = (
    "Nguyễn Du",
    "Trần Phú",
    "Lê Lợi",
    "Chu Văn An",
    "Phan Bội Châu",
    "Lê Quý Đôn",
    "Nguyễn Trãi",
    "Trần Hưng Đạo",
    "Quang Trung",
    "Hùng Vương",
    "Lý Thường Kiệt",
    "Ngô Quyền",
    "Nguyễn Huệ",
    "Võ Thị Sáu",
    "Kim Liên",
    "Marie Curie",
    "Lương Thế Vinh",
    "Nguyễn Khuyến",
    "Hoàng Hoa Thám",
    "Bạch Đằng",
)
SCHOOL_KINDS = (("THPT", 0.6, (10, 12)), ("THCS", 0.25, (6, 9)), ("Cao đẳng", 0.15, (1, 3)))
CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"

# The journey model (see `Generator.person`).
P_START = 0.75
"""Share of persons who open a lesson, before calibration scales it."""
P_START_MAX = 0.97
P_COMPLETE = 0.9
P_STOP_AFTER_ABANDON = 0.6
"""After a lesson left unfinished, most stop; those set on the whole course (15+ lessons) rarely."""
P_STOP_DEVOTED = 0.1
P_STUCK = 0.07
"""Per show step."""
P_PRE_CHECK = 0.55
P_POST_CHECK = 0.7
P_LINKED = 0.05
P_UNREACHABLE = 0.04
P_REFERRED = 0.67
MAX_LESSON_EVENTS = 30
FINISHERS = 200
"""At least this many of the last persons (0.2 % of them at most) get an even share of the
events still to make: no more (their journey stops), and no less (lessons opened and left)."""


def ts_tables(start: int) -> tuple[list[str], list[str]]:
    """COPY text for a UTC timestamp from two tables: day (from `start`) and second of day."""
    first = datetime.fromtimestamp(start, UTC).date()
    days = [f"{first + timedelta(days=k)} " for k in range(DAYS + 3)]
    seconds = [
        f"{h:02d}:{m:02d}:{s:02d}+00" for h in range(24) for m in range(60) for s in range(60)
    ]
    return days, seconds


def volunteer_code(volunteer_id: int) -> str:
    """A unique 6-character code: volunteer ids times a unit modulo 31**6, in base 31."""
    base = len(CODE_ALPHABET)
    number = (volunteer_id * 7_368_787) % base**6
    letters = []
    for _ in range(6):
        number, digit = divmod(number, base)
        letters.append(CODE_ALPHABET[digit])
    return "".join(letters)


@dataclass(frozen=True)
class StepT:
    index: int
    kind: int
    """0 say, 1 show, 2 quiz, 3 drill."""
    step_id: str
    completed: str
    stuck: str
    answers: tuple[str, ...] = ()
    right: tuple[int, ...] = ()
    wrong: tuple[int, ...] = ()


@dataclass(frozen=True)
class LessonT:
    lesson_id: str
    module: str
    steps: tuple[StepT, ...]
    started: str
    step_seconds: float
    plain_prefix: int
    """Leading steps without a question: what the filler may go through."""


SAY, SHOW, QUIZ, DRILL = range(4)
VERDICTS = ("scam", "safe", "unsure")


def lesson_templates(catalog: Catalog) -> dict[str, LessonT]:
    """Per lesson, the COPY text of each event it can emit, ready to be concatenated."""
    templates = {}
    for lesson in catalog.ordered():
        steps = []
        for index, step in enumerate(lesson.steps):
            prefix = f"\t{{}}\t{lesson.id}\t{step.id}\t"
            completed = prefix.format("step.completed") + f'{{"step": {index}}}\t'
            stuck = prefix.format("learner.stuck") + f'{{"step": {index}}}\t'
            if isinstance(step, QuizStep):
                answers = tuple(
                    prefix.format("quiz.answered")
                    + f'{{"option": {k}, "correct": {"true" if option.correct else "false"}}}\t'
                    for k, option in enumerate(step.options)
                )
                right = tuple(k for k, option in enumerate(step.options) if option.correct)
                wrong = tuple(k for k, option in enumerate(step.options) if not option.correct)
                steps.append(StepT(index, QUIZ, step.id, completed, stuck, answers, right, wrong))
            elif isinstance(step, DrillStep):
                answers = tuple(
                    prefix.format("drill.answered")
                    + f'{{"answer": "{verdict}", '
                    + f'"correct": {"true" if verdict == step.verdict else "false"}}}\t'
                    for verdict in VERDICTS
                )
                right = (VERDICTS.index(step.verdict),)
                wrong = tuple(k for k in range(3) if k != right[0])
                steps.append(StepT(index, DRILL, step.id, completed, stuck, answers, right, wrong))
            else:
                kind = SHOW if isinstance(step, ShowStep) else SAY
                steps.append(StepT(index, kind, step.id, completed, stuck))
        plain = 0
        while plain < len(steps) and steps[plain].kind in (SAY, SHOW):
            plain += 1
        templates[lesson.id] = LessonT(
            lesson_id=lesson.id,
            module=lesson.module,
            steps=tuple(steps),
            started=f"\tlesson.started\t{lesson.id}\t{NULL}\t{{}}\t",
            step_seconds=lesson.minutes * 60 / len(steps),
            plain_prefix=plain,
        )
    return templates


@dataclass(frozen=True)
class School:
    name: str
    key: str
    province: str
    grades: tuple[int, int]
    kind: str


@dataclass(frozen=True)
class VolunteerT:
    volunteer_id: int
    province: str
    school_key: str
    created: int
    weight: float
    """How likely an invitation is to come from this volunteer (the leaderboard's skew)."""


@dataclass
class Counts:
    rows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))
    persons: int = 0
    started: int = 0
    first_lesson: int = 0
    first_module: int = 0
    equipped: int = 0
    referred: int = 0
    linked: int = 0


@dataclass
class Output:
    """One chunk's COPY lines, per table."""

    lines: dict[str, list[str]] = field(default_factory=lambda: {t: [] for t in TABLES})

    def encoded(self) -> dict[str, bytes]:
        return {table: "".join(lines).encode() for table, lines in self.lines.items() if lines}


def provinces_by_size(rng: random.Random) -> tuple[list[str], list[float]]:
    """The 34 codes with Zipf weights: the two big cities first, then a shuffled order."""
    codes = [place.code for place in provinces.provinces()]
    big = [code for code in ("ho-chi-minh", "ha-noi") if code in codes]
    rest = [code for code in codes if code not in big]
    rng.shuffle(rest)
    ordered = big + rest
    weights = [1 / (rank + 1) ** 0.9 for rank in range(len(ordered))]
    return ordered, weights


def cumulative(weights: Sequence[float]) -> list[float]:
    total, out = 0.0, []
    for weight in weights:
        total += weight
        out.append(total)
    return out


class Generator:
    """Simulates persons in time order; each chunk is the COPY text of CHUNK persons."""

    def __init__(self, catalog: Catalog, args: argparse.Namespace) -> None:
        self.rng = random.Random(args.seed)
        self.persons = args.learners
        self.volunteer_total = args.volunteers
        self.events_total = args.events
        self.start = int(END.timestamp()) - DAYS * 86400
        self.end = int(END.timestamp())
        self.days, self.seconds = ts_tables(self.start)
        self.lessons = lesson_templates(catalog)
        self.modules = {module.id: list(module.lessons) for module in catalog.modules}
        self.checks = {
            module.id: (len(module.pre_check), len(module.post_check)) for module in catalog.modules
        }
        self.core = [module.id for module in catalog.core_modules]
        self.core_lessons = {lesson for module in self.core for lesson in self.modules[module]}
        self.other = [module.id for module in catalog.modules if module.id not in self.core]
        self.order = self.core + self.other
        self.schools = self._schools(max(1, args.schools or round(args.volunteers / 20)))
        self.school_cum = cumulative([school_weight for _, school_weight in self.schools])
        self.channel_cum = cumulative(CHANNEL_WEIGHTS)
        self.volunteers: list[VolunteerT] = []
        self.volunteer_created: list[int] = []
        self.person = 0
        self.linked_id = self.persons
        self.event_id = 0
        self.help_id = 0
        self.counts = Counts()
        self.scale = 1.0
        self.pilot_means: list[float] = []
        self.pilot_scale = 1.0
        self.expected_done = 0.0
        self.last_steer = 0

    # --- places --------------------------------------------------------------------------

    def _schools(self, count: int) -> list[tuple[School, float]]:
        rng = random.Random(self.rng.random())
        codes, weights = provinces_by_size(rng)
        cum = cumulative(weights)
        kinds = cumulative([share for _, share, _ in SCHOOL_KINDS])
        used: dict[str, int] = {}
        schools = []
        for _ in range(count):
            province = codes[bisect.bisect(cum, rng.random() * cum[-1])]
            kind, _, grades = SCHOOL_KINDS[bisect.bisect(kinds, rng.random() * kinds[-1])]
            base = f"{kind} {rng.choice(FAMOUS)}"
            used[base] = used.get(base, 0) + 1
            name = base if used[base] == 1 else f"{base} {used[base]}"
            school = School(name, fold(name), province, grades, kind)
            schools.append((school, rng.lognormvariate(0, 1.1)))
        return schools

    # --- time ----------------------------------------------------------------------------

    def created_at(self, index: int, jitter: float) -> int:
        """Person `index` of N: the inverse of a linearly growing arrival rate, in time order."""
        u = (index + jitter) / self.persons
        x = -0.3 + math.sqrt(0.09 + 1.6 * u)  # CDF (0.3x + x²/2) / 0.8 on [0, 1]
        return self.start + int(x * (DAYS * 86400 - 3600))

    def ts(self, t: int) -> str:
        day, second = divmod(t - self.start, 86400)
        return self.days[day] + self.seconds[second]

    def tsn(self, t: int | None) -> str:
        return NULL if t is None else self.ts(t)

    # --- calibration ---------------------------------------------------------------------

    def calibrate(self, target: float) -> None:
        """Estimate events per person over the timeline on a pilot sample; set the scale."""
        sample = min(self.persons, 30_000)
        scale = 1.0
        for round_ in range(3):
            means = self._pilot(sample, scale, seed=round_)
            mean = sum(means) / len(means)
            if mean <= 0:
                break
            scale *= target / mean
            scale = max(0.01, min(scale, 50.0))
        self.scale = self.pilot_scale = scale
        self.pilot_means = self._pilot(sample, scale, seed=3)

    def _pilot(self, sample: int, scale: float, seed: int) -> list[float]:
        """Mean events per person in each tenth of the timeline, at this scale."""
        saved = (self.rng, self.scale, self.volunteers)
        self.volunteers = []
        self.rng, self.scale = random.Random(f"pilot {seed}"), scale
        sums = [0.0] * 10
        counts = [0] * 10
        sink = Output()
        try:
            for k in range(sample):
                index = (k * self.persons) // sample
                created = self.created_at(index, 0.5)
                before = self.event_id
                total = self.volunteer_total
                is_volunteer = (index + 1) * total // self.persons > index * total // self.persons
                self._journey(index + 1, created, None, sink, 10**9, is_volunteer)
                decile = min(9, index * 10 // self.persons)
                sums[decile] += self.event_id - before
                counts[decile] += 1
                if k % 500 == 0:
                    sink = Output()
        finally:
            self.rng, self.scale, self.volunteers = saved
            self.event_id = self.help_id = 0
            self.linked_id = self.persons
            self.counts = Counts()
        return [s / c if c else 0.0 for s, c in zip(sums, counts, strict=True)]

    def _expected(self, low: int, high: int) -> float:
        """Events the pilot expects from persons low..high-1 at the pilot's scale."""
        total = 0.0
        for decile in range(10):
            start = max(low, decile * self.persons // 10)
            stop = min(high, (decile + 1) * self.persons // 10)
            if stop > start:
                total += (stop - start) * self.pilot_means[decile]
        return total

    def _steer(self) -> None:
        """Scale the eagerness so that the remaining persons are expected to use the rest.

        The pilot gives the shape over time (recent persons have had less time); the level is
        learnt from what the persons made so far against what the pilot expected of them.
        """
        if self.person:
            self.expected_done += self._expected(self.last_steer, self.person) * (
                self.scale / self.pilot_scale
            )
        self.last_steer = self.person
        level = self.event_id / self.expected_done if self.expected_done > 0 else 1.0
        predicted = level * self._expected(self.person, self.persons)
        if predicted > 0:
            ratio = (self.events_total - self.event_id) / predicted
            self.scale = self.pilot_scale * max(0.8, min(ratio, 1.25))

    # --- generation ----------------------------------------------------------------------

    def chunk(self) -> dict[str, bytes] | None:
        if self.person >= self.persons:
            return None
        self._steer()
        out = Output()
        stop = min(self.persons, self.person + CHUNK)
        while self.person < stop:
            self._one(out)
        return out.encoded()

    def _one(self, out: Output) -> None:
        rng = self.rng
        index = self.person
        self.person += 1
        created = self.created_at(index, rng.random())
        ready = len(self.volunteer_created)
        while ready < len(self.volunteers) and self.volunteers[ready].created < created:
            self.volunteer_created.append(self.volunteers[ready].created)
            ready += 1
        total = self.volunteer_total
        is_volunteer = (index + 1) * total // self.persons > index * total // self.persons
        volunteer: VolunteerT | None = None
        if not is_volunteer and ready and rng.random() < P_REFERRED:
            volunteer = self._inviter()
        left = self.persons - index
        remaining = self.events_total - self.event_id
        finisher = left <= max(FINISHERS, self.persons // 500)
        quota = -(-remaining // left) if finisher else remaining
        self._journey(index + 1, created, volunteer, out, quota, is_volunteer, fill=finisher)
        if left == 1 and self.event_id != self.events_total:
            raise SystemExit(
                f"could not reach exactly {self.events_total:,} events (made "
                f"{self.event_id:,}): too many events per learner for this journey model"
            )

    def _inviter(self) -> VolunteerT:
        """A volunteer already registered; recent ones invite most, some invite many."""
        rng = self.rng
        ready = len(self.volunteer_created)
        while True:
            if rng.random() < 0.6:
                back = int(rng.expovariate(1 / max(1.0, 0.03 * self.volunteer_total)))
                candidate = self.volunteers[max(0, ready - 1 - back)]
            else:
                candidate = self.volunteers[int(rng.random() * ready)]
            if rng.random() < candidate.weight:
                return candidate

    def _wanted(self, is_volunteer: bool) -> int:
        """How many lessons this person will open: most one or two, a few the whole library."""
        rng = self.rng
        scale = self.scale
        if rng.random() >= min(P_START_MAX, P_START * scale):
            return 0
        u = rng.random()
        if u < 0.74:
            wanted = 1
            while rng.random() < 0.2:
                wanted += 1
        elif u < 0.96:
            wanted = rng.randint(2, 9)
        else:
            wanted = rng.randint(15, 38)
        if is_volunteer:
            wanted += rng.randint(0, 3)
        extra = scale * P_START / P_START_MAX
        return round(wanted * extra) if extra > 1 else wanted

    def _journey(
        self,
        pid: int,
        created: int,
        volunteer: VolunteerT | None,
        out: Output,
        quota: int,
        is_volunteer: bool = False,
        *,
        fill: bool = False,
    ) -> None:
        """One person: their lessons, checks, events and help requests, then their rows."""
        rng = self.rng
        lines = out.lines
        events = lines["events"]
        progress = lines["lesson_progress"]
        helps = lines["help_requests"]
        ts = self.ts
        tsn = self.tsn
        end = self.end
        pid_s = str(pid)
        first_event = self.event_id
        milestones: list[int | None] = [None, None, None, None]  # started … equipped
        wanted = self._wanted(is_volunteer)
        order = self.order
        if 0 < wanted < 15 and rng.random() < 0.25:  # the course-takers start with the core
            first = rng.choice(self.other)
            order = [first] + [module for module in self.order if module != first]
        completed: set[str] = set()
        opened: set[str] = set()
        helper = NULL if volunteer is None else str(volunteer.volunteer_id)
        assisted_share = 0.35 if volunteer is not None else 0.05
        t = created + 5 + int(rng.expovariate(1 / 900))
        last = created
        stopped = wanted == 0
        for module in order:
            if stopped:
                break
            module_lessons = self.modules[module]
            pre_total, post_total = self.checks[module]
            if rng.random() < P_PRE_CHECK and self.event_id - first_event < quota and t < end:
                right = sum(rng.random() < 0.55 for _ in range(pre_total))
                self.event_id += 1
                events.append(
                    f"{self.event_id}\t{pid_s}\tcheck.completed\t{NULL}\t{NULL}\t"
                    f'{{"module": "{module}", "phase": "pre", "correct": {right}, '
                    f'"total": {pre_total}}}\t{ts(t)}\n'
                )
                last = t
                t += 30 + int(rng.random() * 60)
            for lesson_id in module_lessons:
                if (
                    len(opened) >= wanted
                    or t >= end
                    or self.event_id - first_event + MAX_LESSON_EVENTS > quota
                ):
                    stopped = True
                    break
                opened.add(lesson_id)
                lesson = self.lessons[lesson_id]
                steps = lesson.steps
                assisted = rng.random() < assisted_share
                abandon_at = -1 if rng.random() < P_COMPLETE else int(rng.random() * len(steps))
                self.event_id += 1
                events.append(f"{self.event_id}\t{pid_s}{lesson.started}{ts(t)}\n")
                opened_at = t
                if milestones[0] is None:
                    milestones[0] = t
                correct = answered = stuck = done = 0
                stuck_open: list[list[Any]] = []  # [help id, when, step, resolved]
                pace = lesson.step_seconds * (0.5 + rng.random() * 1.3)
                pause_at = len(steps) // 2 if rng.random() < 0.08 else -1
                for step in steps:
                    if step.index == abandon_at:
                        break
                    t += int(pace * (0.4 + rng.random() * 1.2)) + 2
                    if step.index == pause_at:
                        t += int(rng.expovariate(1 / 20_000))  # back after a break
                    if t >= end:
                        break
                    kind = step.kind
                    if kind == SHOW and rng.random() < P_STUCK:
                        self.event_id += 1
                        events.append(f"{self.event_id}\t{pid_s}{step.stuck}{ts(t)}\n")
                        self.help_id += 1
                        stuck += 1
                        stuck_open.append([self.help_id, t, step, None])
                        t += 60 + int(rng.expovariate(1 / 300))
                        if t >= end:
                            break
                    elif kind >= QUIZ:
                        good = rng.random() < (0.72 if kind == QUIZ else 0.78)
                        options = step.right if good else step.wrong
                        choice = options[int(rng.random() * len(options))]
                        correct += good
                        answered += 1
                        self.event_id += 1
                        events.append(f"{self.event_id}\t{pid_s}{step.answers[choice]}{ts(t)}\n")
                    self.event_id += 1
                    events.append(f"{self.event_id}\t{pid_s}{step.completed}{ts(t)}\n")
                    done += 1
                    if stuck_open and stuck_open[-1][2] is step:
                        stuck_open[-1][3] = t
                finished = done == len(steps)
                if finished:
                    self.event_id += 1
                    events.append(
                        f"{self.event_id}\t{pid_s}\tlesson.completed\t{lesson_id}\t{NULL}\t"
                        f'{{"correct": {correct}, "answered": {answered}, '
                        f'"assisted": {"true" if assisted else "false"}}}\t{ts(t)}\n'
                    )
                    completed.add(lesson_id)
                    if milestones[1] is None:
                        milestones[1] = t
                    if milestones[2] is None and completed.issuperset(module_lessons):
                        milestones[2] = t
                    if milestones[3] is None and completed.issuperset(self.core_lessons):
                        milestones[3] = t
                for help_id, when, step, resolved in stuck_open:
                    answer = answered_at = None
                    if volunteer is not None and rng.random() < 0.55:
                        answer = "call" if rng.random() < 0.4 else "tip"
                        answered_at = min(end - 1, when + 30 + int(rng.expovariate(1 / 1200)))
                    helps.append(
                        f"{help_id}\t{pid_s}\t{helper}\t{lesson_id}\t{step.step_id}\t{step.index}"
                        f"\t{ts(when)}\t{answer or NULL}\t{tsn(answered_at)}\t{tsn(resolved)}\n"
                    )
                last = min(t, end - 1)
                progress.append(
                    f"{pid_s}\t{lesson_id}\t{'completed' if finished else 'started'}\t{done}"
                    f"\t{correct}\t{answered}\t{stuck}\t{'t' if assisted and finished else 'f'}"
                    f"\t{ts(opened_at)}\t{ts(last) if finished else NULL}\t{ts(last)}\n"
                )
                if not finished and rng.random() < (
                    P_STOP_DEVOTED if wanted >= 15 else P_STOP_AFTER_ABANDON
                ):
                    stopped = True
                    break
                # The next lesson: right away, or another day.
                if rng.random() < 0.55:
                    t += 20 + int(rng.random() * 100)
                else:
                    t += int(rng.expovariate(1 / 200_000))
            else:
                if (
                    completed.issuperset(module_lessons)
                    and rng.random() < P_POST_CHECK
                    and self.event_id - first_event < quota
                    and t < end
                ):
                    right = sum(rng.random() < 0.78 for _ in range(post_total))
                    self.event_id += 1
                    events.append(
                        f"{self.event_id}\t{pid_s}\tcheck.completed\t{NULL}\t{NULL}\t"
                        f'{{"module": "{module}", "phase": "post", "correct": {right}, '
                        f'"total": {post_total}}}\t{ts(t)}\n'
                    )
                    last = t
                    t += 30 + int(rng.random() * 60)
        if fill:
            last, first_fill = self._fill(
                pid_s, quota - (self.event_id - first_event), opened, out, last
            )
            if milestones[0] is None:
                milestones[0] = first_fill
        self._rows(pid_s, created, last, volunteer, is_volunteer, milestones, out)

    def _fill(
        self, pid_s: str, wanted: int, opened: set[str], out: Output, last: int
    ) -> tuple[int, int | None]:
        """Exactly `wanted` more events for a finisher: lessons opened and left early.

        Returns the time of the last event and of the first lesson opened here.
        """
        events = out.lines["events"]
        t = min(last + 1, self.end - 2 * wanted - 2)
        first: int | None = None
        for lesson in self.lessons.values():
            if wanted <= 0:
                break
            if lesson.lesson_id in opened:
                continue
            opened.add(lesson.lesson_id)
            steps = min(wanted - 1, lesson.plain_prefix)
            self.event_id += 1
            events.append(f"{self.event_id}\t{pid_s}{lesson.started}{self.ts(t)}\n")
            opened_at = t
            first = t if first is None else first
            for step in lesson.steps[:steps]:
                t += 1
                self.event_id += 1
                events.append(f"{self.event_id}\t{pid_s}{step.completed}{self.ts(t)}\n")
            out.lines["lesson_progress"].append(
                f"{pid_s}\t{lesson.lesson_id}\tstarted\t{steps}\t0\t0\t0\tf"
                f"\t{self.ts(opened_at)}\t{NULL}\t{self.ts(t)}\n"
            )
            wanted -= steps + 1
            last = t
            t += 1
        return last, first

    def _rows(
        self,
        pid_s: str,
        created: int,
        last: int,
        volunteer: VolunteerT | None,
        is_volunteer: bool,
        milestones: list[int | None],
        out: Output,
    ) -> None:
        """The person's learner row, a linked account, their referral or volunteer row."""
        rng = self.rng
        lines = out.lines
        ts, tsn = self.ts, self.tsn
        province = school_key = NULL
        if is_volunteer:
            school, _ = self.schools[
                bisect.bisect(self.school_cum, rng.random() * self.school_cum[-1])
            ]
            province, school_key = school.province, school.key
            volunteer_id = len(self.volunteers) + 1
            registered = min(self.end - 1, created + 60 + int(rng.random() * 600))
            grade = rng.randint(*school.grades)
            class_name = (
                f"K{grade}-{rng.randint(1, 9)}"
                if school.kind == "Cao đẳng"
                else f"{grade}A{rng.randint(1, 12)}"
            )
            lines["volunteers"].append(
                f"{volunteer_id}\t{pid_s}\t{volunteer_code(volunteer_id)}\t{rng.choice(GIVEN)}"
                f"\t{school.name}\t{school.key}\t{class_name}\t{school.province}"
                f"\t{ts(registered)}\n"
            )
            weight = 1.0 if rng.random() < 0.1 else (0.35 if rng.random() < 0.33 else 0.12)
            self.volunteers.append(
                VolunteerT(volunteer_id, school.province, school.key, registered, weight)
            )
            last = max(last, registered)
        elif volunteer is not None:
            province, school_key = volunteer.province, volunteer.school_key
            nickname = rng.choice(NICKNAMES) if rng.random() < 0.5 else NULL
            ended = None
            if rng.random() < 0.02:
                ended = min(self.end - 1, created + int(rng.expovariate(1 / 3_000_000)))
            lines["referrals"].append(
                f"{pid_s}\t{volunteer.volunteer_id}\t{nickname}\t{ts(created)}"
                f"\t{tsn(milestones[1])}\t{tsn(ended)}\n"
            )
            self.counts.referred += 1
        unreachable = None
        if rng.random() < P_UNREACHABLE:
            unreachable = last + int(rng.expovariate(1 / 600_000))
            if unreachable >= self.end:
                unreachable = None
        name = (
            f"{rng.choice(FAMILY)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}"
            if rng.random() < 0.85
            else NULL
        )
        locale = "vi" if rng.random() < 0.92 else "en"
        consent = ts(created) if rng.random() < 0.97 else NULL
        channel = CHANNELS[bisect.bisect(self.channel_cum, rng.random() * self.channel_cum[-1])]
        started, first_lesson, first_module, equipped = milestones
        lines["learners"].append(
            f"{pid_s}\t{channel}\t{external_id(channel, int(pid_s))}\t{locale}\t{name}"
            f"\t{consent}\t{ts(created)}\t{ts(last)}\t{tsn(unreachable)}\t{NULL}"
            f"\t{province}\t{school_key}\t{tsn(started)}\t{tsn(first_lesson)}"
            f"\t{tsn(first_module)}\t{tsn(equipped)}\n"
        )
        counts = self.counts
        counts.persons += 1
        counts.started += started is not None
        counts.first_lesson += first_lesson is not None
        counts.first_module += first_module is not None
        counts.equipped += equipped is not None
        if first_lesson is not None and rng.random() < P_LINKED:
            self.linked_id += 1
            other = CHANNELS[(CHANNELS.index(channel) + 1 + int(rng.random() * 3)) % 4]
            linked_at = first_lesson + int(rng.random() * max(1, last - first_lesson))
            lines["learners"].append(
                f"{self.linked_id}\t{other}\t{external_id(other, self.linked_id)}\t{locale}"
                f"\t{NULL}\t{ts(linked_at)}\t{ts(linked_at)}\t{ts(max(last, linked_at))}"
                f"\t{NULL}\t{pid_s}\t{NULL}\t{NULL}\t{NULL}\t{NULL}\t{NULL}\t{NULL}\n"
            )
            counts.linked += 1


def external_id(channel: str, learner_id: int) -> str:
    """A platform's chat id, unique per channel."""
    if channel == "telegram":
        return str(5_000_000_000 + learner_id * 37)
    if channel == "web":
        return f"w{learner_id:012x}"
    return str(3_000_000_000_000_000_000 + learner_id * 101)


# --- loading ----------------------------------------------------------------------------------


@dataclass
class Stream:
    """One table's COPY: a queue of encoded chunks fed to its own connection."""

    table: str
    queue: asyncio.Queue[bytes | None]
    task: asyncio.Task[None] | None = None
    rows: int = 0
    bytes: int = 0
    started: float = 0.0
    finished: float = 0.0


async def connect(url: str) -> Any:
    connection = await asyncpg.connect(asyncpg_dsn(url), timeout=10)
    # No foreign-key triggers (the generator keeps references valid; it needs superuser) and
    # no waiting for the WAL flush at commit.
    await connection.execute("SET session_replication_role = replica")
    await connection.execute("SET synchronous_commit = off")
    return connection


async def copy_stream(url: str, stream: Stream) -> None:
    async def source() -> AsyncIterator[bytes]:
        while (data := await stream.queue.get()) is not None:
            yield data

    connection = await connect(url)
    try:
        stream.started = time.perf_counter()
        async with connection.transaction():
            freeze = stream.table in FREEZE
            if freeze:
                await connection.execute(f"TRUNCATE {stream.table}")
            await connection.copy_to_table(
                stream.table,
                source=source(),
                columns=list(COLUMNS[stream.table]),
                format="text",
                freeze=freeze,
            )
        stream.finished = time.perf_counter()
    finally:
        await connection.close()


async def put(stream: Stream, item: bytes | None) -> None:
    """Queue a chunk, or fail at once if that table's COPY already failed."""
    assert stream.task is not None
    waiting = asyncio.ensure_future(stream.queue.put(item))
    done, _ = await asyncio.wait({waiting, stream.task}, return_when=asyncio.FIRST_COMPLETED)
    if waiting not in done:
        waiting.cancel()
        stream.task.result()
        raise RuntimeError(f"COPY into {stream.table} ended early")


@dataclass
class Deferred:
    """An index or unique constraint dropped before the load and built again after it."""

    table: str
    name: str
    create: str
    seconds: float = 0.0


async def drop_secondary(connection: Any) -> list[Deferred]:
    """Drop every index and unique constraint of the seeded tables except primary keys."""
    deferred: list[Deferred] = []
    constraints = await connection.fetch(
        "SELECT conrelid::regclass::text AS tab, conname, pg_get_constraintdef(oid) AS def "
        "FROM pg_constraint WHERE contype = 'u' AND conrelid::regclass::text = ANY($1)",
        list(TABLES),
    )
    for row in constraints:
        deferred.append(
            Deferred(
                row["tab"],
                row["conname"],
                f'ALTER TABLE {row["tab"]} ADD CONSTRAINT "{row["conname"]}" {row["def"]}',
            )
        )
        await connection.execute(f'ALTER TABLE {row["tab"]} DROP CONSTRAINT "{row["conname"]}"')
    indexes = await connection.fetch(
        "SELECT tablename, indexname, indexdef FROM pg_indexes "
        "WHERE schemaname = 'public' AND tablename = ANY($1) AND indexname NOT IN "
        "(SELECT conname FROM pg_constraint WHERE contype IN ('p', 'u'))",
        list(TABLES),
    )
    for row in indexes:
        deferred.append(Deferred(row["tablename"], row["indexname"], row["indexdef"]))
        await connection.execute(f'DROP INDEX "{row["indexname"]}"')
    return deferred


async def rebuild(url: str, deferred: list[Deferred], workers: int = 2) -> None:
    """Build the dropped indexes again, biggest tables first, `workers` at a time."""
    order = {table: rank for rank, table in enumerate(("events", "lesson_progress", "learners"))}
    pending = sorted(deferred, key=lambda item: order.get(item.table, 9))

    async def worker() -> None:
        connection = await connect(url)
        await connection.execute("SET maintenance_work_mem = '1GB'")
        await connection.execute("SET max_parallel_maintenance_workers = 0")
        try:
            while pending:
                item = pending.pop(0)
                began = time.perf_counter()
                await connection.execute(item.create)
                item.seconds = time.perf_counter() - began
        finally:
            await connection.close()

    await asyncio.gather(*(worker() for _ in range(workers)))


async def vacuum(url: str, workers: int = 2) -> dict[str, float]:
    pending = list(TABLES)
    seconds: dict[str, float] = {}

    async def worker() -> None:
        connection = await asyncpg.connect(asyncpg_dsn(url), timeout=10)
        await connection.execute("SET maintenance_work_mem = '1GB'")
        try:
            while pending:
                table = pending.pop(0)
                began = time.perf_counter()
                await connection.execute(f"VACUUM (ANALYZE) {table}")
                seconds[table] = time.perf_counter() - began
        finally:
            await connection.close()

    await asyncio.gather(*(worker() for _ in range(workers)))
    return seconds


def fmt_seconds(seconds: float) -> str:
    return f"{seconds:,.1f} s"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain, aligned text table: first column left, the others right."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = []
    for number, row in enumerate([header, *rows]):
        cells = [
            str(cell).ljust(width) if index == 0 else str(cell).rjust(width)
            for index, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
        if number == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)


async def load(url: str, generator: Generator) -> tuple[dict[str, Stream], float, float]:
    """Generate and COPY every table at once; returns the streams, wall and generator time."""
    streams = {name: Stream(name, asyncio.Queue(maxsize=3)) for name in TABLES}
    for stream in streams.values():
        stream.task = asyncio.create_task(copy_stream(url, stream))
    began = time.perf_counter()
    generating = 0.0
    progress_every = max(1, generator.persons // CHUNK // 10)
    number = 0
    while True:
        tick = time.perf_counter()
        chunk = await asyncio.to_thread(generator.chunk)
        generating += time.perf_counter() - tick
        if chunk is None:
            break
        for name, data in chunk.items():
            stream = streams[name]
            stream.rows += data.count(b"\n")
            stream.bytes += len(data)
            await put(stream, data)
        number += 1
        if number % progress_every == 0:
            elapsed = time.perf_counter() - began
            print(
                f"  {generator.person:>12,} persons  {generator.event_id:>13,} events  "
                f"{elapsed:7.1f} s  {generator.event_id / elapsed:>9,.0f} events/s  "
                f"(eagerness {generator.scale:.3f})",
                flush=True,
            )
    for stream in streams.values():
        await put(stream, None)
    await asyncio.gather(*(stream.task for stream in streams.values() if stream.task))
    return streams, time.perf_counter() - began, generating


async def seed(url: str, generator: Generator) -> None:
    connection = await connect(url)
    try:
        deferred = await drop_secondary(connection)
    finally:
        await connection.close()
    print(f"dropped {len(deferred)} secondary indexes and unique constraints for the load")

    streams, wall, generating = await load(url, generator)
    print(f"\nloaded in {fmt_seconds(wall)} (the generator thread busy {fmt_seconds(generating)})")
    rows = [
        [
            name,
            f"{stream.rows:,}",
            f"{stream.bytes / 2**20:,.0f} MB",
            fmt_seconds(stream.finished - stream.started),
            f"{stream.rows / max(1e-9, stream.finished - stream.started):,.0f}",
        ]
        for name, stream in streams.items()
    ]
    total = sum(stream.rows for stream in streams.values())
    rows.append(["all tables", f"{total:,}", "", fmt_seconds(wall), f"{total / wall:,.0f}"])
    print(table(["COPY (concurrent streams)", "rows", "text", "elapsed", "rows/s"], rows))

    began = time.perf_counter()
    await rebuild(url, deferred)
    print(f"\nindexes and unique constraints rebuilt in {fmt_seconds(time.perf_counter() - began)}")
    print(
        table(
            ["index", "table", "build"],
            [[item.name, item.table, fmt_seconds(item.seconds)] for item in deferred],
        )
    )
    connection = await asyncpg.connect(asyncpg_dsn(url), timeout=10)
    try:
        for name in SERIAL:
            highest = f"SELECT coalesce(max(id), 1) FROM {name}"  # noqa: S608 -- ours
            await connection.execute(
                f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), ({highest}))"
            )
    finally:
        await connection.close()
    began = time.perf_counter()
    vacuumed = await vacuum(url)
    print(
        f"\nVACUUM (ANALYZE) in {fmt_seconds(time.perf_counter() - began)}: "
        + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in vacuumed.items())
    )
    await summary(url, generator)


async def summary(url: str, generator: Generator) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(url), timeout=10)
    try:
        sizes = await connection.fetch(
            "SELECT relname, pg_total_relation_size(oid) AS total, pg_relation_size(oid) AS heap "
            "FROM pg_class WHERE relname = ANY($1) ORDER BY total DESC",
            list(TABLES),
        )
        database = await connection.fetchval("SELECT pg_database_size(current_database())")
    finally:
        await connection.close()
    print(
        table(
            ["table", "heap", "with indexes"],
            [
                [
                    row["relname"],
                    f"{row['heap'] / 2**20:,.0f} MB",
                    f"{row['total'] / 2**20:,.0f} MB",
                ]
                for row in sizes
            ],
        )
    )
    counts = generator.counts
    persons = max(1, counts.persons)

    def share(value: int) -> str:
        return f"{value:,} ({100 * value / persons:.1f} %)"

    print(f"\ndatabase size {database / 2**30:,.2f} GB")
    print(
        f"persons {counts.persons:,} (+ {counts.linked:,} linked accounts), volunteers "
        f"{len(generator.volunteers):,} in {len(generator.schools):,} schools, referred "
        f"{share(counts.referred)}\nmilestones: started {share(counts.started)}, first lesson "
        f"{share(counts.first_lesson)}, first module {share(counts.first_module)}, equipped "
        f"{share(counts.equipped)}\nevents {generator.event_id:,} "
        f"({generator.event_id / persons:.1f} per person; eagerness scale "
        f"{generator.pilot_scale:.3f} from the pilot, {generator.scale:.3f} at the end)"
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--learners", type=int, default=50_000, help="persons (default 50,000)")
    parser.add_argument("--volunteers", type=int, default=5_000, help="default 5,000")
    parser.add_argument("--events", type=int, default=1_000_000, help="default 1,000,000")
    parser.add_argument("--schools", type=int, default=0, help="default volunteers / 20")
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--server", default=SERVER, help="a database URL on the server to use")
    parser.add_argument("--name", default=NAME, help="the database to (re)create")
    parser.add_argument("--lessons", type=Path, default=DEFAULT_LESSONS_DIR)
    args = parser.parse_args(argv)
    if not 0 < args.volunteers < args.learners:
        parser.error("--volunteers must be between 1 and --learners")
    if args.events < 0:
        parser.error("--events must not be negative")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    url = make_url(args.server).set(database=args.name).render_as_string(hide_password=False)
    overall = time.perf_counter()
    asyncio.run(execute(args.server, f'DROP DATABASE IF EXISTS "{args.name}" WITH (FORCE)'))
    asyncio.run(execute(args.server, f'CREATE DATABASE "{args.name}"'))
    began = time.perf_counter()
    upgrade(url)
    print(f"created and migrated {args.name} in {fmt_seconds(time.perf_counter() - began)}")

    catalog = load_catalog(args.lessons)
    generator = Generator(catalog, args)
    began = time.perf_counter()
    generator.calibrate(args.events / args.learners)
    print(
        f"seeding {args.learners:,} persons, {args.volunteers:,} volunteers, {args.events:,} "
        f"events from {date.fromtimestamp(generator.start)} to {END.date()}; "
        f"{len(catalog.ordered())} lessons in {len(catalog.modules)} modules; calibrated in "
        f"{fmt_seconds(time.perf_counter() - began)}"
    )
    asyncio.run(seed(url, generator))
    assert generator.event_id == args.events, (generator.event_id, args.events)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"\ntotal {fmt_seconds(time.perf_counter() - overall)}; this process's peak RSS "
        f"{peak:,.0f} MB\ndatabase: {url}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
