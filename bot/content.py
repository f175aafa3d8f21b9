"""Load lesson files from disk and report every problem with its file and field."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from bot.engine.lesson import LOCALES, Catalog, DrillStep, Lesson, Module, drill_picture

DEFAULT_LESSONS_DIR = Path(__file__).resolve().parent.parent / "lessons"
MODULE_FILE = "module.yaml"
ASSETS_DIR = "assets"


@dataclass(frozen=True)
class Problem:
    """One thing wrong in one lesson file."""

    file: Path
    field: str
    message: str

    def __str__(self) -> str:
        where = f" [{self.field}]" if self.field else ""
        return f"{self.file}{where}: {self.message}"


class ContentError(Exception):
    """The lesson library has problems; `problems` lists each one."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(problem) for problem in problems))


def _field_path(location: tuple[int | str, ...], data: Any) -> str:
    """Turn pydantic's location into a readable path, naming steps by their id: steps[2](id=q1)."""
    path = ""
    node = data
    for part in location:
        if isinstance(part, int):
            node = node[part] if isinstance(node, list) and part < len(node) else None
            step_id = node.get("id") if isinstance(node, dict) else None
            path += f"[{part}]" + (f"(id={step_id})" if step_id else "")
        elif part in ("say", "show", "quiz", "drill") and isinstance(node, dict):
            continue  # the discriminator's tag adds nothing a writer needs to read
        else:
            node = node.get(part) if isinstance(node, dict) else None
            path += f".{part}" if path else part
    return path


def _read(file: Path, model: type[BaseModel], problems: list[Problem]) -> Any:
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        problems.append(Problem(file, "", f"not valid YAML: {where}{problem}"))
        return None
    except (OSError, UnicodeDecodeError) as error:
        problems.append(Problem(file, "", f"cannot be read: {error}"))
        return None
    if not isinstance(data, dict):
        problems.append(Problem(file, "", "must be a YAML mapping (key: value lines)"))
        return None
    try:
        return model.model_validate(data)
    except ValidationError as error:
        for item in error.errors():
            message = item["msg"].removeprefix("Value error, ")
            problems.append(Problem(file, _field_path(item["loc"], data), message))
        return None


def _pictures(lesson: Lesson) -> list[tuple[str, str]]:
    return [(step.id, step.picture) for step in lesson.steps if step.picture is not None]


def load(root: Path = DEFAULT_LESSONS_DIR) -> tuple[Catalog | None, list[Problem]]:
    """Read every module and lesson under `root`; return the catalog or the problems."""
    problems: list[Problem] = []
    if not root.is_dir():
        return None, [Problem(root, "", "no such lessons folder")]
    modules: list[Module] = []
    lessons: dict[str, tuple[Path, Lesson]] = {}
    for folder in sorted(path for path in root.iterdir() if path.is_dir()):
        if folder.name == ASSETS_DIR:
            continue
        module_file = folder / MODULE_FILE
        if not module_file.exists():
            problems.append(Problem(module_file, "", "missing: every module folder needs one"))
            continue
        module = _read(module_file, Module, problems)
        if module is None:
            continue
        if module.id != folder.name:
            problems.append(Problem(module_file, "id", f"must match its folder {folder.name!r}"))
        modules.append(module)
        for file in sorted(folder.glob("*.yaml")):
            if file.name == MODULE_FILE:
                continue
            lesson = _read(file, Lesson, problems)
            if lesson is None:
                continue
            if lesson.id != file.stem:
                problems.append(Problem(file, "id", f"must match the file name {file.stem!r}"))
            if lesson.module != module.id:
                problems.append(Problem(file, "module", f"must be its folder {module.id!r}"))
            if lesson.id in lessons:
                problems.append(Problem(file, "id", f"also used by {lessons[lesson.id][0]}"))
            lessons[lesson.id] = (file, lesson)
            for step in lesson.steps:
                if not isinstance(step, DrillStep):
                    continue
                for locale in LOCALES:
                    screen = drill_picture(lesson.id, step.id, locale)
                    if not (root / ASSETS_DIR / screen).is_file():
                        problems.append(
                            Problem(
                                file,
                                f"steps(id={step.id})",
                                f"no phone-screen picture {screen}: run make pictures",
                            )
                        )
            for step_id, picture in _pictures(lesson):
                if not (root / ASSETS_DIR / picture).is_file():
                    problems.append(
                        Problem(
                            file,
                            f"steps(id={step_id}).picture",
                            f"{picture!r} is not in {root / ASSETS_DIR}",
                        )
                    )
    listed: set[str] = set()
    for module in modules:
        module_file = root / module.id / MODULE_FILE
        for lesson_id in module.lessons:
            if lesson_id in listed:
                problems.append(Problem(module_file, "lessons", f"{lesson_id!r} is listed twice"))
            listed.add(lesson_id)
            if lesson_id not in lessons or lessons[lesson_id][1].module != module.id:
                problems.append(
                    Problem(
                        module_file, "lessons", f"{lesson_id!r} has no lesson file in this folder"
                    )
                )
    for lesson_id, (file, _) in lessons.items():
        if lesson_id not in listed:
            problems.append(Problem(file, "id", "not listed in its module.yaml 'lessons'"))
    for module in modules:
        taught = {
            code
            for lesson_id in module.lessons
            if lesson_id in lessons
            for code in lessons[lesson_id][1].competencies
        }
        untested = sorted(taught - {item.competency for item in module.pre_check})
        if untested:
            problems.append(
                Problem(
                    root / module.id / MODULE_FILE,
                    "pre_check",
                    f"no check question tests {', '.join(untested)}, which its lessons teach",
                )
            )
    if not modules and not problems:
        problems.append(Problem(root, "", "no modules found"))
    if problems:
        return None, problems
    assets = root / ASSETS_DIR
    pictures = frozenset(
        path.relative_to(assets).as_posix() for path in assets.rglob("*.png") if path.is_file()
    )
    return Catalog(modules, [lesson for _, lesson in lessons.values()], pictures), []


def load_catalog(root: Path = DEFAULT_LESSONS_DIR) -> Catalog:
    """The catalog, or ContentError listing every problem."""
    catalog, problems = load(root)
    if catalog is None:
        raise ContentError(problems)
    return catalog
