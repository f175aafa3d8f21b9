"""Admin API: the lesson library, its validation status, and reloading it without a restart."""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel

from admin.audit import record
from admin.auth import AdminOnly, Anyone, runtime_of
from bot.content import load
from bot.store.models import ReportMeta
from bot.store.repositories import dialect_insert
from bot.wiring import Runtime

log = logging.getLogger(__name__)
router = APIRouter(tags=["content"])
VERSION = "content.version"


class LessonInfo(BaseModel):
    lesson_id: str
    module_id: str
    title_vi: str
    title_en: str
    steps: int
    minutes: int
    competencies: list[str]
    sources: list[str]


class ModuleInfo(BaseModel):
    module_id: str
    title_vi: str
    title_en: str
    core: bool
    lessons: list[str]


class ContentStatus(BaseModel):
    valid: bool
    """True when the files on disk load without a problem."""
    problems: list[str]
    """Each problem with its file and field; the running library is unchanged while any remain."""
    version: str
    """A digest of the lesson files on disk."""
    running_version: str
    modules: list[ModuleInfo]
    lessons: list[LessonInfo]


def files_version(runtime: Runtime) -> str:
    """A digest of every lesson file and picture on disk: changes when any of them does."""
    digest = hashlib.sha256()
    root = runtime.settings.lessons_dir
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def swap(runtime: Runtime, version: str) -> list[str]:
    """Load the library from disk and, if it is valid, make this process teach from it."""
    catalog, problems = load(runtime.settings.lessons_dir)
    if catalog is None or problems:
        return [str(problem) for problem in problems] or ["the library did not load"]
    runtime.catalog = catalog
    runtime.tutor.engine.catalog = catalog
    runtime.tutor.engine._units.clear()
    runtime.tutor.community.catalog = catalog
    runtime.content_version = version
    log.info("lesson library reloaded: version %s", version)
    return []


async def follow(runtime: Runtime) -> None:
    """Reload if another process published a newer library version (called periodically)."""
    async with runtime.database.unit_of_work() as uow:
        published = await uow.session.get(ReportMeta, VERSION)
    if published is not None and published.value != runtime.content_version:
        swap(runtime, published.value)


def _status(runtime: Runtime, version: str, problems: list[str]) -> ContentStatus:
    catalog = runtime.catalog
    return ContentStatus(
        valid=not problems,
        problems=problems,
        version=version,
        running_version=runtime.content_version,
        modules=[
            ModuleInfo(
                module_id=module.id,
                title_vi=module.title.vi,
                title_en=module.title.en,
                core=module.core,
                lessons=list(module.lessons),
            )
            for module in catalog.modules
        ],
        lessons=[
            LessonInfo(
                lesson_id=lesson.id,
                module_id=lesson.module,
                title_vi=lesson.title.vi,
                title_en=lesson.title.en,
                steps=len(lesson.steps),
                minutes=lesson.minutes,
                competencies=list(lesson.competencies),
                sources=[str(source) for source in lesson.sources],
            )
            for lesson in catalog.ordered()
        ],
    )


@router.get("/content", response_model=ContentStatus)
async def get_content(request: Request, who: Anyone) -> ContentStatus:
    """The running library, and whether the files on disk are valid."""
    runtime = runtime_of(request)
    _, problems = load(runtime.settings.lessons_dir)
    return _status(runtime, files_version(runtime), [str(problem) for problem in problems])


@router.post("/content/reload", response_model=ContentStatus)
async def reload_content(request: Request, who: AdminOnly) -> ContentStatus:
    """Teach from the lesson files on disk now; other processes follow within a minute.

    A library with problems is refused (422, with each problem) and the running one stays.
    """
    runtime = runtime_of(request)
    version = files_version(runtime)
    problems = swap(runtime, version)
    now: datetime = runtime.tutor.clock()
    async with runtime.database.unit_of_work() as uow:
        await record(uow, who, "content.reload", now, version=version, problems=len(problems))
        if not problems:
            statement = dialect_insert(uow.session, ReportMeta).values(
                name=VERSION, value=version, updated_at=now
            )
            await uow.session.execute(
                statement.on_conflict_do_update(
                    index_elements=["name"], set_={"value": version, "updated_at": now}
                )
            )
        await uow.commit()
    if problems:
        raise HTTPException(422, {"problems": problems})
    return _status(runtime, version, [])
