"""The lesson format: pydantic models that every lesson file is validated against."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator, model_validator

SPEC_VERSION = 1
"""The lesson format this engine reads. Older files are migrated on load, newer ones refused."""

Locale = Literal["vi", "en"]
LOCALES: tuple[Locale, ...] = ("vi", "en")

_ID = r"^[a-z0-9][a-z0-9-]{1,40}$"

FRAMEWORK: dict[str, Text] = {}
"""Filled below: the competency codes of Circular 02/2025/TT-BGDĐT (DigComp 2.2 plus AI)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Text(_Strict):
    """Learner-facing text in every supported language, Vietnamese first."""

    vi: Annotated[str, Field(min_length=1, max_length=1000)]
    en: Annotated[str, Field(min_length=1, max_length=1000)]

    def __call__(self, locale: Locale) -> str:
        return self.vi if locale == "vi" else self.en


FRAMEWORK.update(
    {
        "1.1": Text(
            vi="Duyệt, tìm kiếm và lọc dữ liệu, thông tin, nội dung số",
            en="Browsing, searching and filtering data, information and digital content",
        ),
        "1.2": Text(
            vi="Đánh giá dữ liệu, thông tin, nội dung số",
            en="Evaluating data, information and digital content",
        ),
        "1.3": Text(
            vi="Quản lý dữ liệu, thông tin, nội dung số",
            en="Managing data, information and digital content",
        ),
        "2.1": Text(
            vi="Tương tác thông qua công nghệ số", en="Interacting through digital technologies"
        ),
        "2.2": Text(
            vi="Chia sẻ thông tin và nội dung thông qua công nghệ số",
            en="Sharing through digital technologies",
        ),
        "2.3": Text(
            vi="Sử dụng công nghệ số để thực hiện trách nhiệm công dân",
            en="Engaging in citizenship through digital technologies",
        ),
        "2.4": Text(
            vi="Hợp tác thông qua công nghệ số", en="Collaborating through digital technologies"
        ),
        "2.5": Text(vi="Quy tắc ứng xử trên mạng", en="Netiquette"),
        "2.6": Text(vi="Quản lý danh tính số", en="Managing digital identity"),
        "3.1": Text(vi="Phát triển nội dung số", en="Developing digital content"),
        "3.2": Text(
            vi="Tích hợp và tạo lập lại nội dung số",
            en="Integrating and re-elaborating digital content",
        ),
        "3.3": Text(vi="Thực thi bản quyền và giấy phép", en="Copyright and licences"),
        "3.4": Text(vi="Lập trình", en="Programming"),
        "4.1": Text(vi="Bảo vệ thiết bị", en="Protecting devices"),
        "4.2": Text(
            vi="Bảo vệ dữ liệu cá nhân và quyền riêng tư", en="Protecting personal data and privacy"
        ),
        "4.3": Text(vi="Bảo vệ sức khỏe và an sinh số", en="Protecting health and well-being"),
        "4.4": Text(vi="Bảo vệ môi trường", en="Protecting the environment"),
        "5.1": Text(vi="Giải quyết vấn đề kỹ thuật", en="Solving technical problems"),
        "5.2": Text(
            vi="Xác định nhu cầu và giải pháp công nghệ",
            en="Identifying needs and technological responses",
        ),
        "5.3": Text(vi="Sử dụng sáng tạo công nghệ số", en="Creatively using digital technologies"),
        "5.4": Text(
            vi="Xác định vấn đề cần cải thiện về năng lực số",
            en="Identifying digital competence gaps",
        ),
        "6.1": Text(vi="Hiểu biết về trí tuệ nhân tạo", en="Understanding AI"),
        "6.2": Text(vi="Sử dụng trí tuệ nhân tạo có đạo đức", en="Using AI ethically"),
        "6.3": Text(vi="Đánh giá trí tuệ nhân tạo và công cụ AI", en="Evaluating AI and AI tools"),
    }
)


def _check_codes(codes: list[str]) -> list[str]:
    for code in codes:
        if code not in FRAMEWORK:
            raise ValueError(f"{code!r} is not a competency code of the framework (like '4.2')")
    return codes


class SayStep(_Strict):
    """One short idea, with an optional picture.

    ```yaml
    - id: otp-what
      kind: say
      text:
        vi: OTP là mã số ngân hàng gửi cho bạn để xác nhận một giao dịch.
        en: An OTP is a code your bank sends you to confirm a payment.
      picture: otp-sms.png
    ```
    """

    id: Annotated[str, Field(pattern=_ID)]
    kind: Literal["say"]
    text: Text
    picture: str | None = None


class ShowStep(_Strict):
    """A hands-on task done on the learner's own phone: Done / I'm stuck / Show me again.

    ```yaml
    - id: font-size
      kind: show
      instruction:
        vi: Mở Cài đặt, chọn Màn hình, rồi kéo thanh Cỡ chữ sang phải.
        en: Open Settings, tap Display, then drag the Font size bar to the right.
      hint:
        vi: Cài đặt là biểu tượng bánh răng ⚙️. Kéo từ trên xuống để thấy nó.
        en: Settings is the gear icon ⚙️. Swipe down from the top to find it.
      picture: font-size.png
    ```
    """

    id: Annotated[str, Field(pattern=_ID)]
    kind: Literal["show"]
    instruction: Text
    hint: Text | None = None
    picture: str | None = None


class QuizOption(_Strict):
    text: Text
    correct: bool = False
    feedback: Text


class QuizStep(_Strict):
    """A question with options; every option explains why it is right or wrong.

    ```yaml
    - id: q-share
      kind: quiz
      question:
        vi: Ai được phép biết mã OTP của bạn?
        en: Who may know your OTP?
      options:
        - text: {vi: Không ai cả, en: Nobody}
          correct: true
          feedback: {vi: Đúng. OTP chỉ dành cho bạn., en: Right. The OTP is for you alone.}
        - text: {vi: Nhân viên ngân hàng, en: Bank staff}
          feedback: {vi: Ngân hàng không bao giờ hỏi OTP., en: Banks never ask for an OTP.}
    ```
    """

    id: Annotated[str, Field(pattern=_ID)]
    kind: Literal["quiz"]
    question: Text
    options: Annotated[list[QuizOption], Field(min_length=2, max_length=6)]
    picture: str | None = None

    @model_validator(mode="after")
    def _one_correct(self) -> QuizStep:
        if not any(option.correct for option in self.options):
            raise ValueError("a quiz needs at least one option with correct: true")
        return self


Verdict = Literal["scam", "safe", "unsure"]


class DrillStep(_Strict):
    """A realistic message the learner judges Scam / Safe / Not sure; then its red flags.

    ```yaml
    - id: d-bank-sms
      kind: drill
      channel: sms
      sender: VCB-Notice
      message:
        vi: "Tài khoản của bạn bị khóa. Xác minh tại vcb-xacminh.top"
        en: "Your account is locked. Verify at vcb-xacminh.top"
      verdict: scam
      red_flags:
        - {vi: Đuôi .top không phải trang ngân hàng., en: A .top address is not the bank's site.}
      explanation:
        vi: Ngân hàng không gửi đường link để đăng nhập.
        en: Banks never send login links.
    ```
    """

    id: Annotated[str, Field(pattern=_ID)]
    kind: Literal["drill"]
    channel: Literal["sms", "zalo", "call", "web"]
    sender: Annotated[str, Field(min_length=1, max_length=60)]
    message: Text
    verdict: Literal["scam", "safe"]
    red_flags: list[Text] = Field(default_factory=list)
    explanation: Text
    picture: str | None = None

    @model_validator(mode="after")
    def _flags_for_scams(self) -> DrillStep:
        if self.verdict == "scam" and not self.red_flags:
            raise ValueError("a scam drill must list its red_flags")
        return self


Step = Annotated[SayStep | ShowStep | QuizStep | DrillStep, Field(discriminator="kind")]


class Lesson(_Strict):
    """One lesson file: `lessons/<module>/<id>.yaml`."""

    spec_version: int
    id: Annotated[str, Field(pattern=_ID)]
    module: Annotated[str, Field(pattern=_ID)]
    title: Text
    summary: Text
    competencies: Annotated[list[str], Field(min_length=1)]
    minutes: Annotated[int, Field(ge=1, le=15)]
    sources: Annotated[list[HttpUrl], Field(min_length=1)]
    steps: Annotated[list[Step], Field(min_length=2, max_length=12)]

    @field_validator("spec_version")
    @classmethod
    def _known_version(cls, value: int) -> int:
        if value > SPEC_VERSION:
            raise ValueError(f"written for spec_version {value}; this camtay reads {SPEC_VERSION}")
        if value < 1:
            raise ValueError("spec_version starts at 1")
        return value

    @field_validator("competencies")
    @classmethod
    def _known_competencies(cls, value: list[str]) -> list[str]:
        return _check_codes(value)

    @model_validator(mode="after")
    def _unique_step_ids(self) -> Lesson:
        seen: set[str] = set()
        for step in self.steps:
            if step.id in seen:
                raise ValueError(f"step id {step.id!r} is used twice")
            seen.add(step.id)
        if not any(isinstance(step, ShowStep | QuizStep | DrillStep) for step in self.steps):
            raise ValueError("a lesson needs at least one show, quiz or drill step")
        return self

    def step_index(self, step_id: str) -> int | None:
        for index, step in enumerate(self.steps):
            if step.id == step_id:
                return index
        return None


class CheckItem(QuizStep):
    """One question of a module's pre- or post-check; it names the competency it tests.

    ```yaml
    - id: pre-otp
      kind: quiz
      competency: "4.2"
      question: {vi: Ai được biết mã OTP của bạn?, en: Who may know your OTP?}
      options:
        - text: {vi: Không ai cả, en: Nobody}
          correct: true
          feedback: {vi: Đúng., en: Right.}
        - text: {vi: Nhân viên ngân hàng, en: Bank staff}
          feedback: {vi: Ngân hàng không bao giờ hỏi., en: Banks never ask.}
    ```
    """

    competency: str

    @field_validator("competency")
    @classmethod
    def _known_competency(cls, value: str) -> str:
        return _check_codes([value])[0]


CheckPhase = Literal["pre", "post"]


class Module(_Strict):
    """A group of lessons with its checks: `lessons/<module>/module.yaml`.

    The pre-check (optional for the learner) comes before the first lesson, the post-check after
    the last; both test the same competencies with different questions, so gain can be measured.
    """

    spec_version: int
    id: Annotated[str, Field(pattern=_ID)]
    order: Annotated[int, Field(ge=0)]
    title: Text
    summary: Text
    lessons: Annotated[list[str], Field(min_length=1)]
    pre_check: Annotated[list[CheckItem], Field(min_length=3, max_length=5)]
    post_check: Annotated[list[CheckItem], Field(min_length=3, max_length=5)]
    core: bool = False
    """A core module: a learner who completes every core module counts as "equipped" with
    basic digital skills in the admin reports. This flag is the one place that defines it."""

    @model_validator(mode="after")
    def _checks_match(self) -> Module:
        pre = {item.competency for item in self.pre_check}
        post = {item.competency for item in self.post_check}
        if pre != post:
            raise ValueError(
                f"pre_check tests {sorted(pre)} but post_check tests {sorted(post)}: "
                "they must test the same competencies"
            )
        ids = [item.id for item in self.pre_check + self.post_check]
        if len(ids) != len(set(ids)):
            raise ValueError("check item ids must be unique across pre_check and post_check")
        questions = {item.question.vi for item in self.pre_check}
        if questions & {item.question.vi for item in self.post_check}:
            raise ValueError("post_check must ask different questions from pre_check")
        return self

    def check(self, phase: CheckPhase) -> list[CheckItem]:
        return self.pre_check if phase == "pre" else self.post_check


def drill_picture(lesson_id: str, step_id: str, locale: Locale) -> str:
    """Where the generated phone-screen picture of a drill lives, under lessons/assets/."""
    return f"drills/{lesson_id}/{step_id}.{locale}.png"


class Catalog:
    """Every module and lesson, in teaching order; built once at start-up."""

    def __init__(
        self, modules: list[Module], lessons: list[Lesson], pictures: frozenset[str] = frozenset()
    ) -> None:
        self.modules = sorted(modules, key=lambda module: module.order)
        self.pictures = pictures
        """Generated pictures that exist (paths under lessons/assets/)."""
        by_id = {lesson.id: lesson for lesson in lessons}
        self.lessons: dict[str, Lesson] = {}
        self._modules = {module.id: module for module in self.modules}
        for module in self.modules:
            for lesson_id in module.lessons:
                self.lessons[lesson_id] = by_id[lesson_id]
        self._reviewable: dict[str, tuple[Lesson, QuizStep | DrillStep]] = {
            f"{lesson.id}/{step.id}": (lesson, step)
            for lesson in self.lessons.values()
            for step in lesson.steps
            if isinstance(step, QuizStep | DrillStep)
        }

    def lesson(self, lesson_id: str) -> Lesson | None:
        return self.lessons.get(lesson_id)

    @property
    def core_modules(self) -> list[Module]:
        """The modules whose completion makes a learner "equipped" (see Module.core)."""
        return [module for module in self.modules if module.core]

    def module_of(self, lesson_id: str) -> Module | None:
        lesson = self.lessons.get(lesson_id)
        return None if lesson is None else self._modules.get(lesson.module)

    def module(self, module_id: str) -> Module | None:
        return self._modules.get(module_id)

    def ordered(self) -> list[Lesson]:
        return list(self.lessons.values())

    def lessons_of(self, module: Module) -> list[Lesson]:
        return [self.lessons[lesson_id] for lesson_id in module.lessons]

    def competencies(self, module: Module) -> list[str]:
        """The competency codes a module's lessons teach, in framework order."""
        codes = {code for lesson in self.lessons_of(module) for code in lesson.competencies}
        return [code for code in FRAMEWORK if code in codes]

    def review_item(self, item: str) -> tuple[Lesson, QuizStep | DrillStep] | None:
        """A quiz or drill step by its review key "<lesson id>/<step id>"; None if it is gone."""
        return self._reviewable.get(item)

    def drill_picture(self, lesson_id: str, step_id: str, locale: Locale) -> str | None:
        path = drill_picture(lesson_id, step_id, locale)
        return path if path in self.pictures else None

    def next_after(self, lesson_id: str, done: set[str]) -> Lesson | None:
        """The first lesson after `lesson_id` in teaching order that is not done yet."""
        order = self.ordered()
        ids = [lesson.id for lesson in order]
        start = ids.index(lesson_id) + 1 if lesson_id in ids else 0
        for lesson in order[start:] + order[:start]:
            if lesson.id not in done and lesson.id != lesson_id:
                return lesson
        return None
