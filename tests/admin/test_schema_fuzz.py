"""The admin API against its own OpenAPI schema: generated requests never get a 5xx.

A real `camtay serve` on a fresh SQLite file is fuzzed by schemathesis with an admin token
(every route reachable) and without one (every route must answer 401, never 5xx).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.conftest import FIXTURE_LESSONS
from tests.served import CAMTAY, camtay_env, serving


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(base URL, admin token) of a real server on a fresh database with the test lessons."""
    home = tmp_path_factory.mktemp("fuzz")
    env = camtay_env(
        sqlite_path=str(home / "fuzz.sqlite3"),
        lessons_dir=str(FIXTURE_LESSONS),
        report_refresh_seconds="0",
    )
    made = subprocess.run(
        [str(CAMTAY), "admin", "create-token", "--role", "admin", "--name", "fuzz"],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    with serving(home, env) as url:
        yield url, made.stdout.strip()
    log = (home / "server.log").read_text()
    assert "Traceback" not in log, log


@pytest.fixture(scope="module")
def api_schema(served: tuple[str, str]) -> schemathesis.BaseSchema:
    url, _ = served
    return schemathesis.openapi.from_url(f"{url}/admin/api/v1/openapi.json")


FUZZ = settings(
    max_examples=25,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def fuzz(api_schema: schemathesis.BaseSchema, headers: dict[str, str], expect: str) -> None:
    """Run every operation's generated cases; collect what broke the expectation."""
    problems: list[str] = []
    operations = [result.ok() for result in api_schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 4
    for operation in operations:

        @FUZZ
        @given(case=operation.as_strategy())
        def check(case: schemathesis.Case) -> None:  # type: ignore[type-arg]
            response = case.call(headers=headers, timeout=30)
            broken = (
                response.status_code >= 500 if expect == "no 5xx" else response.status_code != 401
            )
            if broken:
                problems.append(
                    f"{case.method} {case.formatted_path} -> {response.status_code} "
                    f"{response.text[:200]}"
                )

        check()
    assert problems == [], "\n".join(problems[:20])


def test_no_server_error_with_an_admin_token(
    api_schema: schemathesis.BaseSchema, served: tuple[str, str]
) -> None:
    _, token = served
    fuzz(api_schema, {"Authorization": f"Bearer {token}"}, "no 5xx")


def test_no_token_is_always_401(api_schema: schemathesis.BaseSchema) -> None:
    fuzz(api_schema, {}, "401")
