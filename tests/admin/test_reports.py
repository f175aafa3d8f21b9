"""Report figures against a small data set counted by hand, on SQLite and PostgreSQL.

Nghệ An: volunteers Minh (11A2) and Lan (12A1) of THPT Phan Bội Châu; Minh brings in grandma
(both lessons of the core module, both checks) and grandpa (stuck at step 2 of lesson one).
Hà Nội: volunteer Hà of THCS Kim Liên brings in an uncle (lesson one, wrong quiz answer).
And a loner with no volunteer, who only says hello. Everything happens in January 2026,
except uncle's lesson, in April 2026.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from admin.rollups import refresh_rollups
from bot.engine import Start, Stuck
from bot.wiring import Runtime
from tests.admin.conftest import MakeToken, bearer
from tests.conftest import Clock
from tests.test_community import Person, volunteer_signs_up

API = "/admin/api/v1"


async def joins(runtime: Runtime, who: str, code: str) -> Person:
    person = Person(runtime.tutor, "web", who)
    await person.send(Start(payload=f"ref_{code}"))
    await person.tap("English")
    return person


@pytest.fixture
async def data(runtime: Runtime, clock: Clock) -> dict[str, Any]:
    tutor = runtime.tutor
    minh = Person(tutor, "telegram", "minh")
    code_minh = await volunteer_signs_up(minh, school="THPT Phan Bội Châu", klass="11A2")
    lan = Person(tutor, "telegram", "lan")
    await volunteer_signs_up(lan, name="Lan", school="thpt phan boi chau", klass="12A1")
    ha = Person(tutor, "zalo_bot", "ha")
    await ha.send(Start(payload="lang_en"))
    await ha.type("/volunteer")
    for answer in ("Hà", "THCS Kim Liên", "9A", "Hà Nội"):
        await ha.type(answer)
    code_ha = (await ha.type("/volunteer"))[0].text.split("code: ")[1][:6]  # type: ignore[union-attr]

    grandma = await joins(runtime, "grandma", code_minh)
    await grandma.tap("📘 Demo")
    await grandma.tap("📝 Quick check")
    for answer in ("A caller", "Make the text bigger", "Tap to see"):  # 1 of 3 right
        await grandma.tap(answer)
    await grandma.tap("▶️ Learn")
    clock.advance(minutes=4)
    await grandma.tap("Next")
    await grandma.tap("Done")
    await grandma.tap("Nobody")
    await grandma.tap("A scam")  # lesson one in 4 minutes
    await grandma.tap("▶️ Next: Lesson two")
    await grandma.tap("Next")
    await grandma.tap("Two")
    await grandma.tap("🏁 Take the final check")
    while grandma.buttons and not grandma.buttons[0].label.startswith("📋"):
        right = [o for o in grandma.buttons if o.label in ("Only you", "Never", "Call the bank")]
        await grandma.tap((right or grandma.buttons)[0].label)

    grandpa = await joins(runtime, "grandpa", code_minh)
    await grandpa.tap("📘 Demo")
    await grandpa.tap("📘 Lesson one")
    await grandpa.tap("Next")
    await grandpa.send(Stuck())

    loner = Person(tutor, "web", "loner")
    await loner.send(Start(payload="lang_en"))

    clock.advance(days=80)  # April
    uncle = await joins(runtime, "uncle", code_ha)
    clock.advance(minutes=10)
    await uncle.tap("📘 Demo")
    await uncle.tap("📘 Lesson one")
    await uncle.tap("Next")
    await uncle.tap("Done")
    await uncle.tap("The bank")
    await uncle.tap("Safe")
    await refresh_rollups(runtime.database, runtime.catalog, clock())
    async with runtime.database.unit_of_work() as uow:
        learner = await uow.learners.get("web", "grandma")
        assert learner is not None
        state = await uow.states.load(learner.id)
    assert state is not None
    post = state["checks"]["demo:post"]
    return {"post_percent": round(100 * post["correct"] / post["total"], 1)}


async def get(client: httpx.AsyncClient, token: str, path: str, **params: Any) -> Any:
    response = await client.get(f"{API}{path}", headers=bearer(token), params=params)
    assert response.status_code == 200, response.text
    return response.json()


def table(rows: list[dict[str, Any]], *fields: str) -> dict[tuple[str, str], tuple[Any, ...]]:
    return {(row["group"], row["period"]): tuple(row[f] for f in fields) for row in rows}


FIELDS = ("registered", "started", "completed_lesson", "completed_module", "equipped")


async def test_progress_by_province_month_and_quarter(
    client: httpx.AsyncClient, make_token: MakeToken, data: dict[str, Any]
) -> None:
    admin = await make_token("admin")
    report = await get(client, admin, "/reports/progress", group_by="province", period="month")
    assert report["equipped_means"] == ["demo"]
    assert table(report["rows"], *FIELDS) == {
        ("nghe-an", "2026-01"): (4, 2, 1, 1, 1),
        ("ha-noi", "2026-01"): (1, 0, 0, 0, 0),
        ("ha-noi", "2026-04"): (1, 1, 1, 0, 0),
        ("", "2026-01"): (1, 0, 0, 0, 0),
    }
    shares = table(report["rows"], "registered_total", "equipped_total", "share_equipped")
    assert shares[("nghe-an", "2026-01")] == (4, 1, 0.25)
    assert shares[("ha-noi", "2026-04")] == (2, 0, 0.0)
    quarters = await get(client, admin, "/reports/progress", period="quarter")
    assert table(quarters["rows"], *FIELDS)[("ha-noi", "2026-Q2")] == (1, 1, 1, 0, 0)
    only_april = await get(
        client, admin, "/reports/progress", period="month", **{"from": "2026-04-01"}
    )
    assert [(row["group"], row["period"]) for row in only_april["rows"]] == [("ha-noi", "2026-04")]
    assert only_april["rows"][0]["registered_total"] == 2  # totals still count earlier months
    channels = await get(client, admin, "/reports/progress", group_by="channel")
    assert table(channels["rows"], "registered")[("telegram", "2026-01")] == (2,)
    schools = await get(client, admin, "/reports/progress", group_by="school")
    assert {row["label"] for row in schools["rows"]} >= {"THPT Phan Bội Châu", "THCS Kim Liên"}


async def test_a_province_viewer_sees_only_their_province(
    client: httpx.AsyncClient, make_token: MakeToken, data: dict[str, Any]
) -> None:
    viewer = await make_token("viewer", province="Hà Nội")
    report = await get(client, viewer, "/reports/progress")
    assert {row["group"] for row in report["rows"]} == {"ha-noi"}
    lessons = await get(client, viewer, "/reports/lessons")
    first = lessons["lessons"][0]
    assert (first["started"], first["completed"]) == (1, 1)
    board = await get(client, viewer, "/volunteers", by="volunteer")
    assert [row["label"] for row in board["rows"]] == ["Hà"]
    school = await make_token("viewer", province="nghe-an", school="THPT Phan Bội Châu")
    lessons = await get(client, school, "/reports/lessons")  # computed live for one school
    first = lessons["lessons"][0]
    assert (first["started"], first["completed"]) == (2, 1)
    assert [step["stuck"] for step in first["steps"]] == [0, 1, 0, 0]
    gain = await get(client, school, "/reports/learning-gain")
    assert gain["modules"][0]["learners"] == 1
    other = await make_token("viewer", province="nghe-an", school="THPT Huỳnh Thúc Kháng")
    assert (await get(client, other, "/reports/lessons"))["lessons"][0]["started"] == 0


async def test_an_admin_narrows_any_report_to_one_province(
    client: httpx.AsyncClient, make_token: MakeToken, data: dict[str, Any]
) -> None:
    """How many in Nghệ An completed a module this quarter, and where do they get stuck?"""
    admin = await make_token("admin")
    quarter = await get(
        client, admin, "/reports/progress", period="quarter", province="Nghệ An",
        **{"from": "2026-01-01", "to": "2026-03-31"},
    )  # fmt: skip
    assert [(r["group"], r["period"], r["completed_module"]) for r in quarter["rows"]] == [
        ("nghe-an", "2026-Q1", 1)
    ]
    lessons = await get(client, admin, "/reports/lessons", province="nghe-an")
    first = lessons["lessons"][0]
    assert [step["stuck"] for step in first["steps"]] == [0, 1, 0, 0]
    assert (first["started"], first["completed"]) == (2, 1)
    viewer = await make_token("viewer", province="ha-noi")
    outside = await client.get(
        f"{API}/reports/lessons", headers=bearer(viewer), params={"province": "nghe-an"}
    )
    assert outside.status_code == 403
    unknown = await client.get(
        f"{API}/reports/lessons", headers=bearer(admin), params={"province": "Atlantis"}
    )
    assert unknown.status_code == 422


async def test_lesson_funnel_times_stuck_spots_and_item_difficulty(
    client: httpx.AsyncClient, make_token: MakeToken, data: dict[str, Any]
) -> None:
    analyst = await make_token("analyst")
    report = await get(client, analyst, "/reports/lessons")
    first = next(row for row in report["lessons"] if row["lesson_id"] == "first")
    assert (first["started"], first["completed"], first["completion_rate"]) == (3, 2, 0.6667)
    assert [step["reached"] for step in first["steps"]] == [3, 3, 2, 2]
    assert [step["stuck"] for step in first["steps"]] == [0, 1, 0, 0]
    assert first["median_minutes"] == 2.0  # grandma 4 minutes, uncle 0: the median is 2
    quiz, drill = first["items"]
    assert (quiz["answers"], quiz["percent_correct"]) == (2, 50.0)
    assert (quiz["top_wrong_option_en"], quiz["top_wrong_option_vi"]) == ("The bank", "Ngân hàng")
    assert (drill["answers"], drill["percent_correct"]) == (2, 50.0)
    assert drill["top_wrong_option_en"] is not None


async def test_learning_gain_pre_vs_post(
    client: httpx.AsyncClient, make_token: MakeToken, data: dict[str, Any]
) -> None:
    viewer = await make_token("viewer", province="nghe-an")
    gain = await get(client, viewer, "/reports/learning-gain")
    demo = gain["modules"][0]
    assert (demo["module_id"], demo["learners"], demo["pre_percent"]) == ("demo", 1, 33.3)
    assert demo["post_percent"] == data["post_percent"]


async def test_volunteer_leaderboard_and_funnel(
    client: httpx.AsyncClient, make_token: MakeToken, data: dict[str, Any]
) -> None:
    admin = await make_token("admin")
    board = await get(client, admin, "/volunteers", by="volunteer")
    rows = [
        (r["label"], r["referred"], r["started"], r["activated"], r["completed_module"])
        for r in board["rows"]
    ]
    assert rows == [("Minh", 2, 2, 1, 1), ("Hà", 1, 1, 1, 0), ("Lan", 0, 0, 0, 0)]
    schools = await get(client, admin, "/volunteers", by="school")
    assert [(r["label"], r["referred"]) for r in schools["rows"]] == [
        ("THPT Phan Bội Châu", 2),
        ("THCS Kim Liên", 1),
    ]
    classes = await get(client, admin, "/volunteers", by="class")
    assert len(classes["rows"]) == 3
    places = await get(client, admin, "/volunteers", by="province")
    assert [(r["key"], r["activated"]) for r in places["rows"]] == [("nghe-an", 1), ("ha-noi", 1)]
    analyst = await make_token("analyst")
    anonymous = await get(client, analyst, "/volunteers", by="volunteer")
    assert all(row["label"].startswith("#") for row in anonymous["rows"])


async def test_reports_need_a_token_and_refresh_needs_an_admin(
    client: httpx.AsyncClient, make_token: MakeToken
) -> None:
    for path in ("/reports/progress", "/reports/lessons", "/reports/learning-gain", "/volunteers"):
        assert (await client.get(f"{API}{path}")).status_code == 401
        wrong = await client.get(f"{API}{path}", headers=bearer("camtay_not-a-token"))
        assert wrong.status_code == 401
    analyst = await make_token("analyst")
    refused = await client.post(f"{API}/reports/refresh", headers=bearer(analyst))
    assert refused.status_code == 403
    admin = await make_token("admin")
    done = await client.post(f"{API}/reports/refresh", headers=bearer(admin))
    assert done.status_code == 200
    assert done.json()["as_of"] is not None
    bad = await client.get(
        f"{API}/reports/progress",
        headers=bearer(admin),
        params={"from": "2026-05-01", "to": "2026-01-01"},
    )
    assert bad.status_code == 422
    assert (await client.get(f"{API}/openapi.json")).status_code == 200
