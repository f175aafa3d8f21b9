"""Learners: the list, one learner's detail and the CSV exports, on SQLite and PostgreSQL.

A small data set built by hand (rows inserted directly) for the list and the exports; one
family driven through the real tutor for the detail.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from admin import learners
from bot.engine import Start, Stuck
from bot.engine.matching import fold
from bot.store.models import AuditEntry, ConversationState, Learner, LessonProgress
from bot.wiring import Runtime
from tests.admin.conftest import MakeToken, bearer
from tests.conftest import Clock
from tests.test_community import Person, volunteer_signs_up

API = "/admin/api/v1"
PSBC = "THPT Phan Bội Châu"
HUNG_DUNG = "THCS Hưng Dũng"


async def add_person(
    runtime: Runtime,
    chat: str,
    *,
    channel: str = "telegram",
    province: str | None = None,
    school: str | None = None,
    name: str | None = None,
    locale: str = "vi",
    idle_days: float = 0,
    started: bool = False,
    completed: tuple[str, ...] = (),
    equipped: bool = False,
    unreachable: bool = False,
) -> int:
    """A person row (person_id NULL) with milestones and completed lessons, inserted directly."""
    now = runtime.tutor.clock()
    at = now - timedelta(days=idle_days)
    async with runtime.database.unit_of_work() as uow:
        person = Learner(
            channel=channel,
            external_id=chat,
            locale=locale,
            display_name=name,
            created_at=at - timedelta(days=1),
            last_active_at=at,
            unreachable_at=at if unreachable else None,
            province=province,
            school_key=fold(school) if school else None,
            started_at=at if started or completed else None,
            first_lesson_at=at if completed else None,
            first_module_at=at if equipped else None,
            equipped_at=at if equipped else None,
        )
        uow.session.add(person)
        await uow.session.flush()
        for lesson in completed:
            uow.session.add(
                LessonProgress(
                    learner_id=person.id,
                    lesson_id=lesson,
                    status="completed",
                    current_step=4,
                    correct=1,
                    answered=2,
                    stuck_count=0,
                    assisted=False,
                    started_at=at,
                    completed_at=at,
                    updated_at=at,
                )
            )
        await uow.commit()
        return person.id


async def add_account(
    runtime: Runtime,
    person: int,
    chat: str,
    *,
    channel: str,
    name: str | None = None,
    locale: str = "vi",
    idle_days: float = 0,
    unreachable: bool = False,
) -> int:
    """Another channel's account linked to `person` (it shares the person's progress)."""
    at = runtime.tutor.clock() - timedelta(days=idle_days)
    async with runtime.database.unit_of_work() as uow:
        account = Learner(
            channel=channel,
            external_id=chat,
            locale=locale,
            display_name=name,
            created_at=at,
            last_active_at=at,
            unreachable_at=at if unreachable else None,
            person_id=person,
        )
        uow.session.add(account)
        await uow.commit()
        return account.id


@dataclass
class People:
    lan: int
    ba: int
    hoa: int
    web: int
    blocked: int
    chats: tuple[str, ...]
    names: tuple[str, ...]


@pytest.fixture
async def people(runtime: Runtime) -> People:
    """Nghệ An: Lan (PSBC, active, with a Zalo account too) and Ba (Hưng Dũng, new).
    Hà Nội: Hoa (equipped) and a learner who blocked the bot. Nowhere: a web learner."""
    lan = await add_person(
        runtime, "7001", province="nghe-an", school=PSBC, name="Bà Lan", completed=("first",),
        idle_days=2,
    )  # fmt: skip
    await add_account(runtime, lan, "zalo-7001", channel="zalo_bot", name="Lan Zalo")
    ba = await add_person(
        runtime, "zoa-7002", channel="zalo_oa", province="nghe-an", school=HUNG_DUNG,
        name="Ông Ba",
    )  # fmt: skip
    hoa = await add_person(
        runtime, "7003", province="ha-noi", school="THCS Kim Liên", name="Cô Hoa",
        completed=("first", "second"), equipped=True,
    )  # fmt: skip
    web = await add_person(runtime, "web-7004", channel="web", started=True)
    blocked = await add_person(
        runtime, "7005", province="ha-noi", name="Chú Tư", started=True, unreachable=True
    )
    return People(
        lan=lan,
        ba=ba,
        hoa=hoa,
        web=web,
        blocked=blocked,
        chats=("7001", "zalo-7001", "zoa-7002", "7003", "web-7004", "7005"),
        names=("Bà Lan", "Lan Zalo", "Ông Ba", "Cô Hoa", "Chú Tư"),
    )


async def get(client: httpx.AsyncClient, token: str, path: str, **params: Any) -> httpx.Response:
    return await client.get(API + path, params=params, headers=bearer(token))


async def ids(client: httpx.AsyncClient, token: str, **params: Any) -> list[int]:
    response = await get(client, token, "/learners", **params)
    assert response.status_code == 200, response.text
    return [entry["id"] for entry in response.json()["items"]]


def rows(response: httpx.Response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith("\ufeff".encode())
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


# --- authentication and roles -------------------------------------------------------------------

ROUTES = ("/learners", "/learners/1", "/exports/learners.csv", "/exports/progress.csv")


@pytest.mark.parametrize("path", ROUTES)
async def test_every_route_needs_a_valid_token(
    client: httpx.AsyncClient, make_token: MakeToken, runtime: Runtime, path: str
) -> None:
    token = await make_token("admin")
    assert (await client.get(API + path)).status_code == 401
    for headers in (
        bearer("camtay_nope"),
        bearer(token + "x"),
        bearer("not-even-a-camtay-token"),
        {"Authorization": "Basic dXNlcjpwYXNz"},
    ):
        assert (await client.get(API + path, headers=headers)).status_code == 401
    async with runtime.database.unit_of_work() as uow:
        assert not (await uow.session.scalars(select(AuditEntry))).all()  # nothing exported


async def test_every_role_may_list_but_only_name_seeing_roles_may_search_names(
    client: httpx.AsyncClient, make_token: MakeToken, people: People
) -> None:
    admin = await make_token("admin")
    analyst = await make_token("analyst")
    viewer = await make_token("viewer", province="nghe-an")
    for token in (admin, analyst, viewer):
        assert (await get(client, token, "/learners")).status_code == 200
    assert await ids(client, admin, q="lan") == [people.lan]
    assert await ids(client, viewer, q="Ba") == [people.ba]
    for path in ("/learners", "/exports/learners.csv", "/exports/progress.csv"):
        response = await get(client, analyst, path, q="lan")
        assert response.status_code == 403, path


# --- the list -----------------------------------------------------------------------------------


async def test_an_admin_sees_every_person_with_their_accounts_folded_in(
    client: httpx.AsyncClient, make_token: MakeToken, people: People, clock: Clock
) -> None:
    response = await get(client, await make_token("admin"), "/learners")
    assert response.status_code == 200
    body = response.json()
    assert body["next"] is None
    by_id = {entry["id"]: entry for entry in body["items"]}
    assert list(by_id) == [people.lan, people.ba, people.hoa, people.web, people.blocked]
    lan = by_id[people.lan]
    assert lan["channels"] == ["zalo_bot", "telegram"]  # the Zalo account was used last
    assert lan["province"] == "nghe-an"
    assert lan["school_key"] == "thpt phan boi chau"
    assert lan["status"] == "active"
    assert lan["lessons_completed"] == 1
    assert lan["display_name"] == "Bà Lan"  # the person's own name before a linked account's
    assert datetime.fromisoformat(lan["last_active_at"]) == clock.now
    two_days_ago = (clock.now - timedelta(days=2)).isoformat()
    assert datetime.fromisoformat(lan["milestones"]["first_lesson_at"]) == datetime.fromisoformat(
        two_days_ago
    )
    assert lan["milestones"]["equipped_at"] is None
    assert [by_id[i]["status"] for i in (people.ba, people.hoa, people.web, people.blocked)] == [
        "new",
        "equipped",
        "learning",
        "unreachable",
    ]
    assert by_id[people.hoa]["lessons_completed"] == 2
    assert by_id[people.web]["display_name"] is None
    for chat in people.chats:
        assert f'"{chat}"' not in response.text
    assert "external_id" not in response.text


async def test_an_analyst_never_sees_a_name(
    client: httpx.AsyncClient, make_token: MakeToken, people: People
) -> None:
    response = await get(client, await make_token("analyst"), "/learners")
    assert len(response.json()["items"]) == 5
    assert all(entry["display_name"] is None for entry in response.json()["items"])
    for name in people.names:
        assert name not in response.text


async def test_keyset_pages_return_every_person_exactly_once(
    client: httpx.AsyncClient, make_token: MakeToken, people: People, runtime: Runtime
) -> None:
    for number in range(6):
        person = await add_person(runtime, f"80{number}", province="nghe-an")
        if number % 2:
            await add_account(runtime, person, f"z80{number}", channel="zalo_bot")
    token = await make_token("admin")
    seen: list[int] = []
    after = 0
    pages = 0
    while True:
        response = await get(client, token, "/learners", after=after, limit=2)
        body = response.json()
        seen += [entry["id"] for entry in body["items"]]
        pages += 1
        if body["next"] is None:
            break
        assert body["next"] == seen[-1]
        after = body["next"]
    assert len(seen) == len(set(seen)) == 11  # people only: linked accounts are not listed
    assert seen == sorted(seen)
    assert pages == 6
    async with runtime.database.unit_of_work() as uow:
        persons = (
            await uow.session.scalars(select(Learner.id).where(Learner.person_id.is_(None)))
        ).all()
    assert sorted(persons) == seen
    # A full last page says there is nothing more only when there is not.
    assert (await get(client, token, "/learners", limit=11)).json()["next"] is None
    assert (await get(client, token, "/learners", limit=10)).json()["next"] == seen[9]


async def test_filters(client: httpx.AsyncClient, make_token: MakeToken, people: People) -> None:
    token = await make_token("admin")
    assert await ids(client, token, province="nghe-an") == [people.lan, people.ba]
    assert await ids(client, token, province="Hà Nội") == [people.hoa, people.blocked]
    assert await ids(client, token, school="thpt phan boi chau") == [people.lan]
    assert await ids(client, token, school="THPT  Phan Bội Châu!") == [people.lan]
    assert await ids(client, token, province="ha-noi", school=PSBC) == []
    assert await ids(client, token, channel="zalo_bot") == [people.lan]
    assert await ids(client, token, channel="telegram") == [people.lan, people.hoa, people.blocked]
    assert await ids(client, token, channel="web") == [people.web]
    assert await ids(client, token, status="new") == [people.ba]
    assert await ids(client, token, status="learning") == [people.web]
    assert await ids(client, token, status="active") == [people.lan]
    assert await ids(client, token, status="equipped") == [people.hoa]
    assert await ids(client, token, status="unreachable") == [people.blocked]
    assert await ids(client, token, q="Zalo") == [people.lan]  # a linked account's name
    assert await ids(client, token, q="100%") == []  # LIKE's wildcards are literal
    assert await ids(client, token, q="_") == []
    assert await ids(client, token, province="nghe-an", status="new", channel="zalo_oa") == [
        people.ba
    ]


@pytest.mark.parametrize(
    "params",
    [
        {"province": "atlantis"},
        {"status": "sleeping"},
        {"channel": "fax"},
        {"limit": 0},
        {"limit": 201},
        {"after": -1},
        {"after": 2**63},
        {"after": "x"},
        {"school": ""},
        {"school": "!!!"},
        {"school": "x" * 121},
        {"q": ""},
        {"q": "a\x00b"},
        {"province": "\x00"},
    ],
)
async def test_bad_parameters_are_422(
    client: httpx.AsyncClient, make_token: MakeToken, params: dict[str, Any]
) -> None:
    token = await make_token("admin")
    for path in ("/learners", "/exports/learners.csv", "/exports/progress.csv"):
        if path != "/learners" and set(params) <= {"limit", "after"}:
            continue
        response = await get(client, token, path, **params)
        assert response.status_code == 422, (path, params, response.text)


async def test_bad_ids_are_422_or_404(client: httpx.AsyncClient, make_token: MakeToken) -> None:
    token = await make_token("admin")
    assert (await get(client, token, "/learners/0")).status_code == 422
    assert (await get(client, token, f"/learners/{2**63}")).status_code == 422
    assert (await get(client, token, "/learners/abc")).status_code == 422
    assert (await get(client, token, f"/learners/{2**63 - 1}")).status_code == 404


# --- scopes -------------------------------------------------------------------------------------


async def test_a_province_viewer_sees_only_their_province(
    client: httpx.AsyncClient, make_token: MakeToken, people: People
) -> None:
    viewer = await make_token("viewer", province="nghe-an")
    assert await ids(client, viewer) == [people.lan, people.ba]
    assert await ids(client, viewer, province="nghe-an") == [people.lan, people.ba]
    assert await ids(client, viewer, school=HUNG_DUNG) == [people.ba]
    assert await ids(client, viewer, status="equipped") == []
    assert await ids(client, viewer, q="Hoa") == []
    assert (await get(client, viewer, "/learners", province="ha-noi")).status_code == 403
    for person in (people.hoa, people.web, people.blocked):
        assert (await get(client, viewer, f"/learners/{person}")).status_code == 404
    assert (await get(client, viewer, f"/learners/{people.ba}")).status_code == 200
    for path in ("/exports/learners.csv", "/exports/progress.csv"):
        assert (await get(client, viewer, path, province="ha-noi")).status_code == 403
    exported = rows(await get(client, viewer, "/exports/learners.csv"))
    assert [int(row["id"]) for row in exported] == [people.lan, people.ba]
    progress = rows(await get(client, viewer, "/exports/progress.csv"))
    assert {int(row["learner_id"]) for row in progress} == {people.lan}


async def test_a_school_viewer_sees_only_their_school(
    client: httpx.AsyncClient, make_token: MakeToken, people: People
) -> None:
    viewer = await make_token("viewer", province="nghe-an", school="thpt phan boi chau")
    assert await ids(client, viewer) == [people.lan]
    assert await ids(client, viewer, school=PSBC) == [people.lan]
    assert (await get(client, viewer, "/learners", school=HUNG_DUNG)).status_code == 403
    assert (await get(client, viewer, f"/learners/{people.ba}")).status_code == 404
    exported = rows(await get(client, viewer, "/exports/learners.csv"))
    assert [int(row["id"]) for row in exported] == [people.lan]
    assert exported[0]["display_name"] == "Bà Lan"  # viewers may see names


# --- one learner ----------------------------------------------------------------------------------


@dataclass
class Family:
    grandma: int
    grandma_chat: str
    minh: int


@pytest.fixture
async def family(runtime: Runtime, clock: Clock) -> Family:
    """Minh (Nghệ An, 11A2) brings grandma in on the web chat; she takes the pre-check, gets
    stuck at step 2 of lesson one, Minh sends a tip, and she completes the lesson."""
    tutor = runtime.tutor
    minh = Person(tutor, "telegram", "minh-chat-555")
    code = await volunteer_signs_up(minh, school=PSBC, klass="11A2")
    grandma = Person(tutor, "web", "grandma-chat-556")
    await grandma.send(Start(payload=f"ref_{code}"))
    await grandma.tap("English")
    await minh.inbox()
    await grandma.tap("📘 Demo")
    await grandma.tap("📝 Quick check")
    for answer in ("Only you", "Make the text bigger", "Tap to see"):
        await grandma.tap(answer)
    await grandma.tap("▶️ Learn")
    clock.advance(minutes=3)
    await grandma.tap("Next")
    await grandma.send(Stuck())
    await minh.inbox()
    await minh.tap("💬 Send a tip")
    await minh.type("Tap the grey gear icon")
    await grandma.inbox()
    clock.advance(minutes=2)
    await grandma.tap("Done")
    await grandma.tap("Nobody")
    await grandma.tap("A scam")
    async with runtime.database.unit_of_work() as uow:
        grandma_row = await uow.learners.get("web", "grandma-chat-556")
        minh_row = await uow.learners.get("telegram", "minh-chat-555")
    assert grandma_row is not None
    assert minh_row is not None
    return Family(grandma=grandma_row.id, grandma_chat="grandma-chat-556", minh=minh_row.id)


async def test_the_detail_shows_progress_checks_volunteer_and_stuck_steps(
    client: httpx.AsyncClient, make_token: MakeToken, family: Family, clock: Clock
) -> None:
    response = await get(client, await make_token("admin"), f"/learners/{family.grandma}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["learner"]["id"] == family.grandma
    assert body["learner"]["province"] == "nghe-an"
    assert body["learner"]["school_key"] == "thpt phan boi chau"
    assert body["learner"]["status"] == "active"
    assert body["learner"]["lessons_completed"] == 1
    assert [account["channel"] for account in body["accounts"]] == ["web"]
    (lesson,) = body["lessons"]
    assert lesson["lesson_id"] == "first"
    assert lesson["module_id"] == "demo"
    assert (lesson["title_vi"], lesson["title_en"]) == ("Bài một", "Lesson one")
    assert lesson["status"] == "completed"
    assert (lesson["correct"], lesson["answered"], lesson["stuck_count"]) == (2, 2, 1)
    assert lesson["steps"] == 4
    assert datetime.fromisoformat(lesson["completed_at"]) == clock.now
    (check,) = body["checks"]
    assert check["module_id"] == "demo"
    assert check["title_en"] == "Demo"
    assert check["pre"] == {"correct": 2, "total": 3}
    assert check["post"] is None
    volunteer = body["volunteer"]
    assert volunteer["name"] == "Minh"
    assert (volunteer["school"], volunteer["class_name"]) == (PSBC, "11A2")
    assert volunteer["province"] == "nghe-an"
    assert volunteer["activated_at"] is not None
    (stuck,) = body["stuck"]
    assert (stuck["lesson_id"], stuck["step"], stuck["step_id"]) == ("first", 1, "try-it")
    assert stuck["title_en"] == "Lesson one"
    assert stuck["volunteer_told"] is True
    assert stuck["answer"] == "tip"
    assert stuck["resolved_at"] is not None
    assert family.grandma_chat not in response.text
    assert "minh-chat-555" not in response.text


async def test_an_analyst_sees_the_detail_without_names(
    client: httpx.AsyncClient, make_token: MakeToken, family: Family, runtime: Runtime
) -> None:
    async with runtime.database.unit_of_work() as uow:
        grandma = await uow.session.get(Learner, family.grandma)
        assert grandma is not None
        grandma.display_name = "Bà Ngoại"
        await uow.commit()
    response = await get(client, await make_token("analyst"), f"/learners/{family.grandma}")
    body = response.json()
    assert body["learner"]["display_name"] is None
    assert body["volunteer"]["name"] is None
    assert body["volunteer"]["nickname"] is None
    assert body["volunteer"]["school"] == PSBC
    assert "Minh" not in response.text
    assert "Bà Ngoại" not in response.text
    admin = await get(client, await make_token("admin"), f"/learners/{family.grandma}")
    assert admin.json()["learner"]["display_name"] == "Bà Ngoại"


async def test_the_detail_is_404_outside_the_scope_and_for_accounts_that_are_not_people(
    client: httpx.AsyncClient, make_token: MakeToken, family: Family, runtime: Runtime
) -> None:
    elsewhere = await make_token("viewer", province="ha-noi")
    assert (await get(client, elsewhere, f"/learners/{family.grandma}")).status_code == 404
    other_school = await make_token("viewer", province="nghe-an", school=HUNG_DUNG)
    assert (await get(client, other_school, f"/learners/{family.grandma}")).status_code == 404
    same = await make_token("viewer", province="nghe-an", school="thpt phan boi chau")
    assert (await get(client, same, f"/learners/{family.grandma}")).status_code == 200
    linked = await add_account(runtime, family.grandma, "tg-556", channel="telegram")
    admin = await make_token("admin")
    assert (await get(client, admin, f"/learners/{linked}")).status_code == 404
    body = (await get(client, admin, f"/learners/{family.grandma}")).json()
    assert sorted(account["channel"] for account in body["accounts"]) == ["telegram", "web"]
    assert "tg-556" not in str(body)


async def test_checks_come_from_the_conversation_state(
    client: httpx.AsyncClient, make_token: MakeToken, runtime: Runtime, people: People
) -> None:
    async with runtime.database.unit_of_work() as uow:
        uow.session.add(
            ConversationState(
                learner_id=people.hoa,
                state={
                    "checks": {
                        "more:post": {"correct": 2, "total": 3},
                        "demo:pre": {"correct": 1, "total": 3},
                        "demo:post": {"correct": 3, "total": 3},
                        "gone:pre": {"correct": 0, "total": 4},
                    }
                },
                updated_at=runtime.tutor.clock(),
            )
        )
        await uow.commit()
    body = (await get(client, await make_token("admin"), f"/learners/{people.hoa}")).json()
    assert [(c["module_id"], c["pre"], c["post"], c["title_en"]) for c in body["checks"]] == [
        ("demo", {"correct": 1, "total": 3}, {"correct": 3, "total": 3}, "Demo"),
        ("more", None, {"correct": 2, "total": 3}, "More"),
        ("gone", {"correct": 0, "total": 4}, None, None),  # a module no longer in the lessons
    ]
    assert [lesson["lesson_id"] for lesson in body["lessons"]] == ["first", "second"]


# --- exports --------------------------------------------------------------------------------------


async def test_learners_csv_for_an_admin_has_names_but_never_chat_ids(
    client: httpx.AsyncClient, make_token: MakeToken, people: People, runtime: Runtime
) -> None:
    response = await get(
        client, await make_token("admin", name="Ms Admin"), "/exports/learners.csv"
    )
    exported = rows(response)
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="camtay-learners-')
    assert disposition.endswith('.csv"')
    assert [int(row["id"]) for row in exported] == [
        people.lan, people.ba, people.hoa, people.web, people.blocked,
    ]  # fmt: skip
    lan = exported[0]
    assert lan["channels"] == "zalo_bot telegram"
    assert (lan["province"], lan["school_key"], lan["status"]) == (
        "nghe-an",
        "thpt phan boi chau",
        "active",
    )
    assert lan["lessons_completed"] == "1"
    assert lan["display_name"] == "Bà Lan"
    assert lan["equipped_at"] == ""
    assert [row["status"] for row in exported[1:]] == ["new", "equipped", "learning", "unreachable"]
    body = response.content.decode("utf-8-sig")
    for chat in people.chats:
        assert chat not in body
    assert "external_id" not in body
    async with runtime.database.unit_of_work() as uow:
        (entry,) = (await uow.session.scalars(select(AuditEntry))).all()
    assert (entry.action, entry.actor) == ("export.learners", "Ms Admin")
    assert entry.detail["filters"] == {
        "province": None, "school": None, "channel": None, "status": None, "q": None,
    }  # fmt: skip


async def test_an_analysts_csv_has_no_names(
    client: httpx.AsyncClient, make_token: MakeToken, people: People, runtime: Runtime
) -> None:
    analyst = await make_token("analyst")
    for path in ("/exports/learners.csv", "/exports/progress.csv"):
        response = await get(client, analyst, path)
        exported = rows(response)
        assert exported
        assert "display_name" not in exported[0]
        body = response.content.decode("utf-8-sig")
        for text in (*people.names, *people.chats):
            assert text not in body
    async with runtime.database.unit_of_work() as uow:
        actions = (await uow.session.scalars(select(AuditEntry.action))).all()
    assert sorted(actions) == ["export.learners", "export.progress"]


async def test_progress_csv_has_a_row_per_person_and_lesson_in_small_batches(
    client: httpx.AsyncClient,
    make_token: MakeToken,
    people: People,
    runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Batches of 2 rows: the (learner, lesson) keyset must cross people and lessons alike.
    monkeypatch.setattr(learners, "EXPORT_BATCH", 2)
    extra = await add_person(
        runtime, "7006", province="nghe-an", name="=HYPERLINK(1)",
        completed=("first", "second", "third"),
    )  # fmt: skip
    response = await get(client, await make_token("admin"), "/exports/progress.csv")
    exported = rows(response)
    assert response.headers["content-disposition"].startswith(
        'attachment; filename="camtay-progress-'
    )
    assert [(int(r["learner_id"]), r["lesson_id"]) for r in exported] == [
        (people.lan, "first"),
        (people.hoa, "first"),
        (people.hoa, "second"),
        (extra, "first"),
        (extra, "second"),
        (extra, "third"),
    ]
    lan = exported[0]
    assert (lan["module_id"], lan["status"], lan["correct"], lan["answered"]) == (
        "demo",
        "completed",
        "1",
        "2",
    )
    assert lan["display_name"] == "Bà Lan"
    assert exported[-1]["module_id"] == "more"
    assert exported[-1]["display_name"] == "'=HYPERLINK(1)"  # never run as a formula
    body = response.content.decode("utf-8-sig")
    for chat in people.chats:
        assert chat not in body
    # learners.csv in batches of 2 lists everyone once too.
    many = rows(await get(client, await make_token("admin"), "/exports/learners.csv"))
    assert [int(row["id"]) for row in many] == sorted(
        [people.lan, people.ba, people.hoa, people.web, people.blocked, extra]
    )


async def test_exports_take_the_filters_and_record_them(
    client: httpx.AsyncClient, make_token: MakeToken, people: People, runtime: Runtime
) -> None:
    token = await make_token("viewer", province="ha-noi", name="Hà Nội office")
    exported = rows(await get(client, token, "/exports/learners.csv", status="equipped"))
    assert [int(row["id"]) for row in exported] == [people.hoa]
    progress = rows(await get(client, token, "/exports/progress.csv", school="THCS Kim Liên"))
    assert [(int(r["learner_id"]), r["lesson_id"]) for r in progress] == [
        (people.hoa, "first"),
        (people.hoa, "second"),
    ]
    async with runtime.database.unit_of_work() as uow:
        entries = (await uow.session.scalars(select(AuditEntry).order_by(AuditEntry.id))).all()
    assert [(e.action, e.actor, e.detail["scope"]) for e in entries] == [
        ("export.learners", "Hà Nội office", "ha-noi"),
        ("export.progress", "Hà Nội office", "ha-noi"),
    ]
    assert entries[0].detail["filters"]["status"] == "equipped"
    assert entries[1].detail["filters"]["school"] == "THCS Kim Liên"
    assert entries[0].detail["role"] == "viewer"
