"""The model worker: claims model jobs, asks the model, checks the answer, writes the reply.

Jobs are claimed with `FOR UPDATE SKIP LOCKED` (PostgreSQL), so several workers share them;
one left `running` by a worker that died is claimed again after STALE. The reply and the job's
completion commit together.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import and_, or_, select

from bot.ask.retrieval import Library
from bot.engine import ChoicesReply, Option, Reply, TextReply
from bot.engine.lesson import Locale, Text
from bot.llm import prompts
from bot.llm.client import ModelClient, ModelError
from bot.llm.guardrails import Guardrails
from bot.observability import MODEL_CALLS
from bot.outages import log_failure
from bot.store.db import Database
from bot.store.models import Learner, ModelJob

log = logging.getLogger(__name__)

REPLIES = TypeAdapter[list[Reply]](list[Reply])
STALE = timedelta(minutes=2)
BATCH = 4
MAX_ATTEMPTS = 3
"""A job claimed this often without finishing gets its fallback: the learner is never left."""
MODEL_ANSWER = Text(vi="💬 {answer}", en="💬 {answer}")
DID_YOU_MEAN = Text(vi="🤔 Có phải bạn muốn chọn «{label}»?", en="🤔 Did you mean «{label}»?")
YES = Text(vi="✅ Đúng, «{label}»", en="✅ Yes, «{label}»")
_CHOICE_NUMBER = re.compile(r"\d+")
MODEL_READING = Text(
    vi="🤖 Nhận xét thêm (từ trợ lý AI, có thể sai):\n{answer}",
    en="🤖 A second opinion (from an AI assistant, it can be wrong):\n{answer}",
)


@dataclass(frozen=True)
class Claimed:
    id: int
    learner_id: int
    kind: str
    locale: Locale
    text: str
    context: dict[str, Any]
    attempts: int


class ModelJobs:
    def __init__(
        self,
        *,
        database: Database,
        client: ModelClient,
        library: Library,
        guardrails: Guardrails,
        clock: Callable[[], datetime],
        notify: Callable[[], None] = lambda: None,
    ) -> None:
        self.database = database
        self.client = client
        self.library = library
        self.guardrails = guardrails
        self.clock = clock
        self.notify = notify
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self, stop: asyncio.Event, idle: float = 1.0) -> None:
        while not stop.is_set():
            try:
                done = await self.run_once()
            except Exception as error:  # a bad cycle must not end the loop; logged and retried
                log_failure(log, "model jobs cycle failed", error)
                done = 0
            if done:
                continue
            self._wake.clear()
            waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(self._wake.wait())]
            try:
                await asyncio.wait(waiters, timeout=idle, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()

    async def run_once(self) -> int:
        claimed = await self._claim()
        await asyncio.gather(*(self._process(job) for job in claimed))
        return len(claimed)

    async def _claim(self) -> list[Claimed]:
        now = self.clock()
        async with self.database.unit_of_work() as uow:
            rows = (
                await uow.session.scalars(
                    select(ModelJob)
                    .where(
                        or_(
                            ModelJob.status == "pending",
                            and_(ModelJob.status == "running", ModelJob.claimed_at < now - STALE),
                        )
                    )
                    .order_by(ModelJob.id)
                    .limit(BATCH)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            claimed = []
            for row in rows:
                row.status, row.claimed_at, row.attempts = "running", now, row.attempts + 1
                locale: Locale = "en" if row.locale == "en" else "vi"
                claimed.append(
                    Claimed(
                        row.id,
                        row.learner_id,
                        row.kind,
                        locale,
                        row.text,
                        dict(row.context),
                        row.attempts,
                    )
                )
            await uow.commit()
        return claimed

    async def _process(self, job: Claimed) -> None:
        fallback = REPLIES.validate_python(job.context.get("fallback", []))
        replies: list[Reply] = fallback
        result, error = "fallback", None
        if job.attempts > MAX_ATTEMPTS:
            await self._finish(job, replies, "fallback" if replies else "none", "gave up")
            return
        counted = False

        def count(outcome: str) -> None:
            """MODEL_CALLS, once a job: ok, guardrail_fallback, unclear, timeout, rate_limited
            or error."""
            nonlocal counted
            if not counted:
                MODEL_CALLS.labels(job.kind, outcome).inc()
                counted = True

        try:
            if job.kind == "grade":
                graded = await self._grade(job)
                count("ok" if graded[1] == "model" else "unclear")
                await self._finish(job, *graded)
                return
            if job.kind == "ask":
                hits = self.library.search(job.text)
                system, user = prompts.ask(job.text, [h.passage for h in hits], job.locale)
                template = MODEL_ANSWER
            else:
                flags = [str(flag) for flag in job.context.get("flags", [])]
                system, user = prompts.check(job.text, flags, job.locale)
                template = MODEL_READING
            answer = await self.client.complete(system, user)
            problems = self.guardrails.problems(answer, reading=job.kind == "check")
            if problems:
                count("guardrail_fallback")
                error = "; ".join(problems)[:300]
                log.warning("model answer to job %s broke a guardrail: %s", job.id, error)
            else:
                count("ok")
                replies = [TextReply(text=template(job.locale).format(answer=answer[:1500]))]
                result = "model"
        except ModelError as failure:
            count(failure.reason)
            error = str(failure)[:300]
            log.warning("model job %s failed, the offline answer is used: %s", job.id, error)
        except Exception as failure:  # any surprise still gives the learner the offline answer
            count("error")
            error = f"{type(failure).__name__}: {failure}"[:300]
            log.exception("model job %s failed unexpectedly", job.id)
        if result == "fallback" and not replies:
            result = "none"
        await self._finish(job, replies, result, error)

    async def _grade(self, job: Claimed) -> tuple[list[Reply], str, str | None]:
        """Ask the model which option a near-miss typed answer meant; offer it as a button."""
        options = [Option.model_validate(option) for option in job.context.get("options", [])]
        system, user = prompts.grade(job.text, [o.label for o in options], job.locale)
        answer = await self.client.complete(system, user, max_tokens=5)
        found = _CHOICE_NUMBER.search(answer)
        number = int(found.group(0)) if found else 0
        if not 1 <= number <= len(options):
            return [], "none", f"no clear choice: {answer[:50]}"
        chosen = options[number - 1]
        return (
            [
                ChoicesReply(
                    text=DID_YOU_MEAN(job.locale).format(label=chosen.label),
                    options=[
                        Option(key=chosen.key, label=YES(job.locale).format(label=chosen.label))
                    ],
                )
            ],
            "model",
            None,
        )

    async def _finish(
        self, job: Claimed, replies: list[Reply], result: str, error: str | None
    ) -> None:
        now = self.clock()
        async with self.database.unit_of_work() as uow:
            row = await uow.session.get(ModelJob, job.id, with_for_update=True)
            if row is None or row.status == "done":
                return  # another worker finished it after this one was thought dead
            account = await uow.session.get(Learner, job.learner_id)
            if account is not None and replies:
                await uow.outbox.add(account, replies, now, unasked=True)
            row.status, row.result, row.error, row.done_at = "done", result, error, now
            await uow.commit()
        self.notify()
