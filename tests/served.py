"""The real `camtay serve` in a subprocess on 127.0.0.1, for tests that need a live server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

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
