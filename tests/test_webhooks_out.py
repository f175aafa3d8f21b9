"""Event webhooks, end to end: an admin subscribes, a learner learns, a receiver on 127.0.0.1
gets the signed event (and the README's example verifies it); failures are retried with growing
delays until they stop; paused and scoped subscriptions; private addresses refused."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from admin.webhooks import deliveries
from bot.engine import Choice, ChoicesReply, Event, Input, Start
from bot.hooks import guard, signing
from bot.hooks.delivery import Deliveries, WebhookSender, backoff
from bot.hooks.events import public
from bot.hooks.publisher import forget_subscriptions, publish
from bot.service import Collector, Inbound
from bot.settings import Settings
from bot.store.driver import statements
from bot.store.models import AuditEntry, Learner, WebhookDelivery
from bot.wiring import Runtime, build
from tests.admin.conftest import MakeToken, bearer
from tests.admin.conftest import app as app
from tests.admin.conftest import client as client
from tests.admin.conftest import make_token as make_token
from tests.conftest import FIXTURE_LESSONS, ROOT, Clock, handle_agreeing

API = "/admin/api/v1"
SECRET_FOR_IDS = "test-learner-id-secret"


# --- a receiver on 127.0.0.1 ----------------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A tiny HTTP server: records each request and answers as `answers` says, in turn (then
    with `then`): an HTTP status, "hang" (never answers) or "redirect"."""

    url: str = ""
    requests: list[Received] = field(default_factory=list)
    answers: list[int | str] = field(default_factory=list)
    then: int | str = 200

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            path = lines[0].split(" ")[1]
            headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
            size = int(next((v for k, v in headers.items() if k.lower() == "content-length"), 0))
            body = await reader.readexactly(size)
            self.requests.append(Received(path, headers, body))
            answer = self.answers.pop(0) if self.answers else self.then
            if answer == "hang":
                await asyncio.sleep(2)
                return
            if answer == "redirect":
                status, extra = "302 Found", "Location: http://127.0.0.1:1/inside\r\n"
            else:
                status, extra = f"{answer} X", ""
            top = f"HTTP/1.1 {status}\r\n{extra}Content-Length: 2\r\nConnection: close\r\n"
            writer.write(f"{top}\r\nok".encode())
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    server = await asyncio.start_server(found.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    found.url = f"http://127.0.0.1:{port}/camtay/events"
    async with server:
        yield found
        server.close()


# --- the app, allowed to reach 127.0.0.1 -------------------------------------------------------


@pytest.fixture
async def runtime(database_url: str, clock: Clock) -> AsyncIterator[Runtime]:
    """The whole app on the test lessons; webhooks may go to 127.0.0.1; the clock is now (the
    README's example checks timestamps against its own clock)."""
    settings = Settings(
        database_url=database_url,
        redis_url=None,
        lessons_dir=FIXTURE_LESSONS,
        report_refresh_seconds=0,
        webhooks_allow_private=True,
        webhook_id_secret=SECRET_FOR_IDS,
    )
    clock.now = datetime.now(UTC).replace(microsecond=0)
    forget_subscriptions()
    built = build(settings)
    built.tutor.clock = clock
    yield built
    await built.close()


@pytest.fixture
async def worker(runtime: Runtime) -> AsyncIterator[Deliveries]:
    sending = WebhookSender(allow_private=True, development=True, timeout=0.5)
    yield deliveries(runtime, sending)
    await sending.close()


async def subscribe(http: httpx.AsyncClient, token: str, **body: Any) -> dict[str, Any]:
    response = await http.post(f"{API}/webhooks", json=body, headers=bearer(token))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def say(runtime: Runtime, user: str, event: Input) -> Collector:
    collector = Collector()
    inbound = Inbound(channel="web", external_id=user, input=event)
    await handle_agreeing(runtime.tutor, inbound, collector)  # and the privacy notice agreed
    return collector


async def press(runtime: Runtime, user: str, replies: Collector, label: str) -> Collector:
    buttons = [m.reply for m in replies.messages if isinstance(m.reply, ChoicesReply)][-1]
    key = next(option.key for option in buttons.options if option.label.startswith(label))
    return await say(runtime, user, Choice(key=key))


async def finish_lesson_one(runtime: Runtime, user: str) -> None:
    replies = await say(runtime, user, Start(payload="lang_en"))
    for label in ("📘 Demo", "📘 Lesson one", "Next", "Done", "Nobody", "A scam"):
        replies = await press(runtime, user, replies, label)


async def person_of(runtime: Runtime, user: str) -> Learner:
    async with runtime.database.unit_of_work() as uow:
        learner = await uow.learners.get("web", user)
    assert learner is not None
    return learner


async def place(runtime: Runtime, user: str, province: str) -> None:
    async with runtime.database.unit_of_work() as uow:
        await uow.session.execute(
            update(Learner).where(Learner.external_id == user).values(province=province)
        )
        await uow.commit()


async def rows(runtime: Runtime) -> list[WebhookDelivery]:
    async with runtime.database.unit_of_work() as uow:
        return list(
            (await uow.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id))).all()
        )


def readme_example() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Event webhooks", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    return str(code)


# --- the promise ----------------------------------------------------------------------------------


async def test_a_completed_lesson_reaches_the_subscriber_signed_and_the_readme_verifies_it(
    runtime: Runtime,
    client: httpx.AsyncClient,
    make_token: MakeToken,
    receiver: Receiver,
    worker: Deliveries,
) -> None:
    admin = await make_token("admin")
    created = await subscribe(client, admin, url=receiver.url, events=["lesson.completed"])
    secret = created["secret"]
    assert secret.startswith("whsec_")
    listed = (await client.get(f"{API}/webhooks", headers=bearer(admin))).json()
    assert "secret" not in listed["items"][0]  # shown once, at creation

    await finish_lesson_one(runtime, "grandma")
    assert await worker.run_once() == 1
    assert await worker.run_once() == 0  # once

    (request,) = receiver.requests
    assert request.path == "/camtay/events"
    event = json.loads(request.body)
    assert event["type"] == "lesson.completed"
    assert event["version"] == 1
    assert request.headers["Camtay-Event-Id"] == event["id"]
    assert event["data"]["lesson"] == "first"
    assert event["data"]["module"] == "demo"
    assert event["learner"]["id"].startswith("lrn_")
    assert "grandma" not in request.body.decode()  # never the chat id
    assert "name" not in event["learner"]
    assert signing.verify(
        secret,
        request.headers["Camtay-Timestamp"],
        request.body,
        request.headers["Camtay-Signature"],
        time.time(),
    )

    # The README's example, run as a receiver would copy it, against this real delivery.
    namespace: dict[str, Any] = {}
    exec(compile(readme_example(), "README.md", "exec"), namespace)  # noqa: S102 -- our README
    verify = namespace["verify"]
    assert verify(secret, request.headers, request.body)["id"] == event["id"]
    tampered = request.body.replace(b'"first"', b'"other"')
    with pytest.raises(ValueError, match="signature"):
        verify(secret, request.headers, tampered)
    with pytest.raises(ValueError, match="signature"):
        verify("whsec_another", request.headers, request.body)
    stale = {**request.headers, "Camtay-Timestamp": str(int(time.time()) - 600)}
    with pytest.raises(ValueError, match="signature"):
        verify(secret, stale, request.body)

    delivered = (
        await client.get(f"{API}/webhooks/{created['id']}/deliveries", headers=bearer(admin))
    ).json()
    assert [item["status"] for item in delivered["items"]] == ["delivered"]


async def test_failures_are_retried_with_growing_delays_then_given_up_and_the_subscription_paused(
    runtime: Runtime,
    client: httpx.AsyncClient,
    make_token: MakeToken,
    receiver: Receiver,
    worker: Deliveries,
    clock: Clock,
) -> None:
    admin = await make_token("admin", name="Sở GD&ĐT")
    created = await subscribe(client, admin, url=receiver.url, events=["lesson.completed"])
    await finish_lesson_one(runtime, "grandma")
    start = clock.now
    receiver.answers = [500, 429, "hang"]
    receiver.then = 503
    delays: list[float] = []
    while True:
        await worker.run_once()
        (row,) = await rows(runtime)
        if row.status != "pending":
            break
        delays.append((row.next_attempt_at - clock.now).total_seconds())
        clock.now = row.next_attempt_at
    assert row.status == "failed"
    assert row.last_error == "HTTP 503"
    assert delays[:8] == [30, 60, 120, 240, 480, 960, 1920, 3600]
    assert set(delays[8:]) == {3600}  # at most an hour apart
    assert clock.now - start >= timedelta(hours=24)
    assert clock.now - start < timedelta(hours=25)
    assert len(receiver.requests) == row.attempts == len(delays) + 1
    assert "timed out" not in (row.last_error or "")
    # Every attempt carried the same event id (receivers dedup on it).
    assert len({request.headers["Camtay-Event-Id"] for request in receiver.requests}) == 1

    failed = (
        await client.get(
            f"{API}/webhooks/{created['id']}/deliveries?status=failed", headers=bearer(admin)
        )
    ).json()
    assert failed["items"][0]["last_error"] == "HTTP 503"
    info = (await client.get(f"{API}/webhooks/{created['id']}", headers=bearer(admin))).json()
    assert (info["status"], info["failed"], info["last_error"]) == ("active", 1, "HTTP 503")

    # Nothing more is tried; three days after the first failure the subscription is paused.
    clock.advance(days=2)
    await worker.run_once()
    assert len(receiver.requests) == row.attempts
    clock.advance(days=1, minutes=1)
    await worker.run_once()
    info = (await client.get(f"{API}/webhooks/{created['id']}", headers=bearer(admin))).json()
    assert info["status"] == "paused"
    assert "every delivery failed since" in info["paused_reason"]
    async with runtime.database.unit_of_work() as uow:
        entry = await uow.session.scalar(
            select(AuditEntry).where(AuditEntry.action == "webhook.paused")
        )
    assert entry is not None
    assert entry.detail["subscription_id"] == created["id"]
    assert entry.detail["owner"] == "Sở GD&ĐT"


async def test_a_timeout_is_retried(
    runtime: Runtime,
    client: httpx.AsyncClient,
    make_token: MakeToken,
    receiver: Receiver,
    worker: Deliveries,
    clock: Clock,
) -> None:
    await subscribe(
        client, await make_token("admin"), url=receiver.url, events=["lesson.completed"]
    )
    await finish_lesson_one(runtime, "grandma")
    receiver.answers = ["hang"]
    await worker.run_once()
    (row,) = await rows(runtime)
    assert (row.status, row.attempts, row.last_error) == ("pending", 1, "timed out after 0.5 s")
    clock.now = row.next_attempt_at
    await worker.run_once()
    (row,) = await rows(runtime)
    assert (row.status, row.attempts) == ("delivered", 2)


async def test_a_learners_events_keep_their_order_while_one_is_retried(
    runtime: Runtime,
    client: httpx.AsyncClient,
    make_token: MakeToken,
    receiver: Receiver,
    worker: Deliveries,
    clock: Clock,
) -> None:
    await subscribe(
        client,
        await make_token("admin"),
        url=receiver.url,
        events=["learner.registered", "lesson.completed"],
    )
    await finish_lesson_one(runtime, "grandma")
    receiver.answers = [500]  # grandma's first event (registered) fails once
    await worker.run_once()
    assert [json.loads(r.body)["type"] for r in receiver.requests] == ["learner.registered"]
    await finish_lesson_one(runtime, "grandpa")  # another learner is not held up
    await worker.run_once()
    await worker.run_once()
    assert [json.loads(r.body)["type"] for r in receiver.requests[1:]] == [
        "learner.registered",
        "lesson.completed",
    ]
    clock.advance(seconds=30)
    await worker.run_once()
    await worker.run_once()
    grandma = [
        json.loads(r.body)["type"]
        for r in receiver.requests
        if json.loads(r.body)["learner"]["id"]
        == json.loads(receiver.requests[0].body)["learner"]["id"]
    ]
    assert grandma == ["learner.registered", "learner.registered", "lesson.completed"]
    assert {row.status for row in await rows(runtime)} == {"delivered"}


async def test_a_paused_subscription_receives_nothing(
    runtime: Runtime,
    client: httpx.AsyncClient,
    make_token: MakeToken,
    receiver: Receiver,
    worker: Deliveries,
) -> None:
    admin = await make_token("admin")
    created = await subscribe(client, admin, url=receiver.url, events=["lesson.completed"])
    paused = await client.post(f"{API}/webhooks/{created['id']}/pause", headers=bearer(admin))
    assert paused.json()["status"] == "paused"
    await finish_lesson_one(runtime, "grandma")
    await worker.run_once()
    assert receiver.requests == []
    assert await rows(runtime) == []  # events while paused are not kept
    await client.post(f"{API}/webhooks/{created['id']}/resume", headers=bearer(admin))
    await finish_lesson_one(runtime, "grandpa")
    await worker.run_once()
    assert len(receiver.requests) == 1
    # Deleted: nothing more, and its deliveries go with it.
    deleted = await client.delete(f"{API}/webhooks/{created['id']}", headers=bearer(admin))
    assert deleted.status_code == 204
    await finish_lesson_one(runtime, "grandson")
    await worker.run_once()
    assert len(receiver.requests) == 1
    assert await rows(runtime) == []


async def test_a_scoped_subscription_receives_only_its_province(
    runtime: Runtime,
    client: httpx.AsyncClient,
    make_token: MakeToken,
    receiver: Receiver,
    worker: Deliveries,
) -> None:
    viewer = await make_token("viewer", province="nghe-an")
    refused = await client.post(
        f"{API}/webhooks",
        json={"url": receiver.url, "events": ["lesson.completed"], "province": "ha-noi"},
        headers=bearer(viewer),
    )
    assert refused.status_code == 403
    named = await client.post(
        f"{API}/webhooks",
        json={"url": receiver.url, "events": ["lesson.completed"], "include_names": True},
        headers=bearer(viewer),
    )
    assert named.status_code == 403
    created = await subscribe(client, viewer, url=receiver.url, events=["lesson.completed"])
    assert created["province"] == "nghe-an"
    admin = await make_token("admin")
    everywhere = await subscribe(
        client, admin, url=receiver.url + "/all", events=["lesson.completed"]
    )
    seen = (await client.get(f"{API}/webhooks", headers=bearer(viewer))).json()["items"]
    assert [item["id"] for item in seen] == [created["id"]]  # not the admin's nationwide one
    assert (
        await client.get(f"{API}/webhooks/{everywhere['id']}", headers=bearer(viewer))
    ).status_code == 404

    for user, province in (("in-nghe-an", "nghe-an"), ("in-ha-noi", "ha-noi")):
        await say(runtime, user, Start(payload="lang_en"))
        await place(runtime, user, province)
        await finish_lesson_one(runtime, user)
    await worker.run_once()
    mine = [json.loads(r.body) for r in receiver.requests if r.path == "/camtay/events"]
    assert [event["learner"]["province"] for event in mine] == ["nghe-an"]
    everything = [r for r in receiver.requests if r.path == "/camtay/events/all"]
    assert len(everything) == 2


async def test_names_only_on_an_admins_subscription_that_asked(
    runtime: Runtime,
    client: httpx.AsyncClient,
    make_token: MakeToken,
    receiver: Receiver,
    worker: Deliveries,
) -> None:
    admin = await make_token("admin")
    await subscribe(
        client, admin, url=receiver.url, events=["lesson.completed"], include_names=True
    )
    await say(runtime, "grandma", Start(payload="lang_en"))
    async with runtime.database.unit_of_work() as uow:
        await uow.session.execute(
            update(Learner).where(Learner.external_id == "grandma").values(display_name="Bà Tư")
        )
        await uow.commit()
    await finish_lesson_one(runtime, "grandma")
    await worker.run_once()
    (request,) = receiver.requests
    assert json.loads(request.body)["learner"]["name"] == "Bà Tư"
    assert "grandma" not in request.body.decode()


# --- server-side request forgery ------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",
        "https://127.0.0.1/hook",
        "https://localhost/hook",
        "https://10.1.2.3/hook",
        "https://192.168.1.1/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://0.0.0.0/hook",
        "https://224.0.0.1/hook",
        "https://100.64.0.1/hook",
        "http://example.org/hook",
        "ftp://example.org/hook",
        "https://user:pass@example.org/hook",
    ],
)
async def test_private_and_odd_targets_are_refused(url: str) -> None:
    with pytest.raises(guard.Refused):
        await guard.resolve(url, allow_private=False, development=True)


async def test_the_admin_api_refuses_a_private_target_unless_allowed(
    runtime: Runtime, client: httpx.AsyncClient, make_token: MakeToken, receiver: Receiver
) -> None:
    runtime.settings.webhooks_allow_private = False
    admin = await make_token("admin")
    refused = await client.post(
        f"{API}/webhooks",
        json={"url": receiver.url, "events": ["lesson.completed"]},
        headers=bearer(admin),
    )
    assert refused.status_code == 422
    assert "private" in refused.json()["detail"]
    public_ip = await client.post(
        f"{API}/webhooks",
        json={"url": "https://1.1.1.1/hook", "events": ["lesson.completed"]},
        headers=bearer(admin),
    )
    assert public_ip.status_code == 201


async def test_a_delivery_is_checked_again_when_sent_and_never_follows_a_redirect(
    runtime: Runtime,
    client: httpx.AsyncClient,
    make_token: MakeToken,
    receiver: Receiver,
    worker: Deliveries,
) -> None:
    admin = await make_token("admin")
    await subscribe(client, admin, url=receiver.url, events=["lesson.completed"])
    await finish_lesson_one(runtime, "grandma")
    receiver.answers = ["redirect"]
    await worker.run_once()
    (row,) = await rows(runtime)
    assert row.status == "failed"
    assert "redirect" in (row.last_error or "")
    assert len(receiver.requests) == 1  # the redirect was not followed

    # The address is checked at every delivery: a deployment that no longer allows it refuses.
    strict = WebhookSender(allow_private=False, development=True, timeout=0.5)
    try:
        await finish_lesson_one(runtime, "grandpa")
        await deliveries(runtime, strict).run_once()
    finally:
        await strict.close()
    assert len(receiver.requests) == 1
    last = (await rows(runtime))[-1]
    assert last.status == "failed"
    assert (last.last_error or "").startswith("refused:")


async def test_the_test_event_is_signed_and_reports_the_answer(
    runtime: Runtime, client: httpx.AsyncClient, make_token: MakeToken, receiver: Receiver
) -> None:
    admin = await make_token("admin")
    created = await subscribe(client, admin, url=receiver.url, events=["learner.erased"])
    answer = await client.post(f"{API}/webhooks/{created['id']}/test", headers=bearer(admin))
    assert answer.json()["delivered"] is True
    (request,) = receiver.requests
    assert json.loads(request.body)["type"] == "webhook.test"
    assert signing.verify(
        created["secret"],
        request.headers["Camtay-Timestamp"],
        request.body,
        request.headers["Camtay-Signature"],
        time.time(),
    )
    receiver.then = 500
    failed = (
        await client.post(f"{API}/webhooks/{created['id']}/test", headers=bearer(admin))
    ).json()
    assert (failed["delivered"], failed["status"]) == (False, 500)


# --- what is published --------------------------------------------------------------------------


async def test_certificates_erasure_and_module_scores_are_published_in_the_callers_transaction(
    runtime: Runtime, client: httpx.AsyncClient, make_token: MakeToken, receiver: Receiver
) -> None:
    from bot import certificates
    from bot.hooks.publisher import publish_erased

    await subscribe(
        client,
        await make_token("admin"),
        url=receiver.url,
        events=["certificate.issued", "certificate.revoked", "learner.erased"],
    )
    await say(runtime, "grandma", Start(payload="lang_en"))
    person = (await person_of(runtime, "grandma")).id
    now = runtime.tutor.clock()
    async with runtime.database.unit_of_work() as uow:
        await uow.events.append(person, [Event(type="learner.erased")], now)
        await uow.rollback()  # rolled back: nothing is told
    assert await rows(runtime) == []
    async with runtime.database.unit_of_work() as uow:
        made = await certificates.issue(
            uow, person=person, module_id="demo", display_name="Bà Tư", now=now
        )
        assert made is not None
        assert await certificates.revoke(uow, made.code, "a mistake", now)
        await publish_erased(uow, person, now)
        await uow.commit()
    found = await rows(runtime)
    assert [row.type for row in found] == [
        "certificate.issued",
        "certificate.revoked",
        "learner.erased",
    ]
    assert found[1].body["data"] == {"module": "demo", "code": made.code}  # no reason

    completed = public(
        Event(
            type="check.completed",
            data={"module": "demo", "phase": "post", "correct": 3, "total": 4},
        ),
        {"demo:pre": {"correct": 1, "total": 4}},
    )
    assert completed is not None
    assert (completed.type, completed.data) == (
        "module.completed",
        {"module": "demo", "pre": {"correct": 1, "total": 4}, "post": {"correct": 3, "total": 4}},
    )
    assert public(Event(type="check.completed", data={"phase": "pre"})) is None
    assert public(Event(type="step.completed")) is None


async def test_a_turn_without_a_publishable_event_costs_no_query(runtime: Runtime) -> None:
    with statements(runtime.database.engine.sync_engine) as run:
        async with runtime.database.unit_of_work() as uow:
            published = await publish(
                uow.session, 1, [Event(type="step.completed")], runtime.tutor.clock()
            )
    assert published == 0
    assert run == []


def test_backoff_doubles_from_30_seconds_up_to_an_hour() -> None:
    assert [backoff(n).total_seconds() for n in range(1, 10)] == [
        30,
        60,
        120,
        240,
        480,
        960,
        1920,
        3600,
        3600,
    ]
