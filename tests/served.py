"""The app for tests: the real `camtay serve` in a subprocess on 127.0.0.1, or in this process
behind httpx's ASGI transport; and a Redis server of a test's own."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

if TYPE_CHECKING:
    from bot.settings import Settings
    from bot.wiring import Runtime

STARTUP_SECONDS = 60.0
CAMTAY = Path(sys.executable).with_name("camtay")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:  # noqa: S310
            return bool(response.status == 200)
    except OSError:
        return False


def camtay_env(**settings: str) -> dict[str, str]:
    """This environment without any CAMTAY_ setting of the developer's, plus `settings`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CAMTAY_")}
    return env | {f"CAMTAY_{name.upper()}": value for name, value in settings.items()}


@contextmanager
def serving(home: Path, env: dict[str, str]) -> Iterator[str]:
    """Run `camtay serve` with `env` in `home` until the block ends; yields its base URL.

    cwd=home keeps a developer's .env (which might name PostgreSQL) out of the test.
    """
    port = free_port()
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
            while not healthy(url):
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"camtay serve did not come up:\n{log_path.read_text()}")
                time.sleep(0.1)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@dataclass
class Served:
    runtime: Runtime
    http: httpx.AsyncClient


@asynccontextmanager
async def in_process(settings: Settings) -> AsyncIterator[Served]:
    """The app with its lifespan (its background loops too), in this process; an embedded
    database is migrated first."""
    # Imported here: bench/soak.py uses this module's OwnRedis without loading the app.
    from bot.wiring import build, migrate_if_embedded
    from webhook.app import create_app

    migrate_if_embedded(settings)
    runtime = build(settings)
    app = create_app(runtime=runtime)
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://camtay.test"
            ) as http,
        ):
            yield Served(runtime, http)
    finally:
        await runtime.close()


class OwnRedis:
    """A redis-server of one test's (or the soak's) own on `port`, without persistence: it can
    be stopped and started again, and a restart empties it."""

    def __init__(self, port: int, home: Path, db: int = 0) -> None:
        self.port = port
        self.home = home
        self.process: subprocess.Popen[bytes] | None = None
        self.url = f"redis://127.0.0.1:{port}/{db}"

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", str(self.home)]
        with (self.home / "redis.log").open("ab") as log:
            self.process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None
