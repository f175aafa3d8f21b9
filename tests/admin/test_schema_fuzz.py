"""The admin API against its own OpenAPI schema: generated requests never get a 5xx.

A real `camtay serve` on a fresh SQLite file is fuzzed by schemathesis with an admin token
(every route reachable) and without one (every route must answer 401, never 5xx).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.conftest import FIXTURE_LESSONS

STARTUP_SECONDS = 20.0
CAMTAY = Path(sys.executable).with_name("camtay")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:  # noqa: S310
            return bool(response.status == 200)
    except OSError:
        return False


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(base URL, admin token) of a real server on a fresh database with the test lessons."""
    home = tmp_path_factory.mktemp("fuzz")
    env = {key: value for key, value in os.environ.items() if not key.startswith("CAMTAY_")}
    env |= {
        "CAMTAY_SQLITE_PATH": str(home / "fuzz.sqlite3"),
        "CAMTAY_LESSONS_DIR": str(FIXTURE_LESSONS),
        "CAMTAY_REPORT_REFRESH_SECONDS": "0",
    }
    made = subprocess.run(
        [str(CAMTAY), "admin", "create-token", "--role", "admin", "--name", "fuzz"],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    token = made.stdout.strip()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = home / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(CAMTAY), "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=home,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + STARTUP_SECONDS
            while not _healthy(url):
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"camtay serve did not come up:\n{log_path.read_text()}")
                time.sleep(0.1)
            yield url, token
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    assert "Traceback" not in log_path.read_text(), log_path.read_text()


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
