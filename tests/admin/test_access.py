"""Who may call what: every route of the admin API, for every role, in one table."""

from __future__ import annotations

import httpx
import pytest

from admin.api import create_admin_api
from bot.settings import Settings
from tests.admin.conftest import MakeToken, bearer
from webhook.app import create_app

API = "/admin/api/v1"
EVERYONE = {"admin", "analyst", "viewer"}
ALLOWED: dict[tuple[str, str], set[str]] = {
    ("GET", "/reports/progress"): EVERYONE,
    ("GET", "/reports/lessons"): EVERYONE,
    ("GET", "/reports/learning-gain"): EVERYONE,
    ("GET", "/volunteers"): EVERYONE,
    ("POST", "/reports/refresh"): {"admin"},
    ("GET", "/learners"): EVERYONE,
    ("GET", "/learners/{learner_id}"): EVERYONE,
    ("GET", "/learners/{learner_id}/data"): {"admin"},
    ("POST", "/learners/{learner_id}/erase"): {"admin"},
    ("GET", "/exports/learners.csv"): EVERYONE,
    ("GET", "/exports/progress.csv"): EVERYONE,
    ("POST", "/broadcasts/preview"): {"admin", "viewer"},
    ("POST", "/broadcasts"): {"admin", "viewer"},
    ("GET", "/broadcasts"): {"admin", "viewer"},
    ("GET", "/broadcasts/{broadcast_id}"): {"admin", "viewer"},
    ("POST", "/broadcasts/{broadcast_id}/send"): {"admin", "viewer"},
    ("GET", "/content"): EVERYONE,
    ("POST", "/content/reload"): {"admin"},
    ("GET", "/certificates/{code}"): {"admin"},
    ("POST", "/certificates/{code}/revoke"): {"admin"},
    ("POST", "/webhooks"): {"admin", "viewer"},
    ("GET", "/webhooks"): {"admin", "viewer"},
    ("GET", "/webhooks/{subscription_id}"): {"admin", "viewer"},
    ("GET", "/webhooks/{subscription_id}/deliveries"): {"admin", "viewer"},
    ("POST", "/webhooks/{subscription_id}/pause"): {"admin", "viewer"},
    ("POST", "/webhooks/{subscription_id}/resume"): {"admin", "viewer"},
    ("DELETE", "/webhooks/{subscription_id}"): {"admin", "viewer"},
    ("POST", "/webhooks/{subscription_id}/test"): {"admin", "viewer"},
}
BODIES = {
    "/broadcasts/preview": {"segment": {}},
    "/broadcasts": {"text_vi": "Xin chào", "text_en": "Hello", "segment": {}},
    "/certificates/{code}/revoke": {"reason": "issued by mistake"},
    "/webhooks": {"url": "https://1.1.1.1/camtay", "events": ["lesson.completed"]},
    "/learners/{learner_id}/erase": {"reason": "asked by phone"},
}


def test_the_table_covers_every_route() -> None:
    schema = create_admin_api(Settings()).openapi()
    routes = {(method.upper(), path) for path, ops in schema["paths"].items() for method in ops}
    assert routes == set(ALLOWED)


@pytest.mark.parametrize(("method", "path"), sorted(ALLOWED))
async def test_roles_get_in_or_403_and_nobody_without_a_token(
    client: httpx.AsyncClient, make_token: MakeToken, method: str, path: str
) -> None:
    url = API + path.replace("{learner_id}", "1").replace("{broadcast_id}", "1")
    url = url.replace("{code}", "ABCDE23456").replace("{subscription_id}", "1")
    body = BODIES.get(path)
    assert (await client.request(method, url, json=body)).status_code == 401
    tokens = {
        "admin": await make_token("admin"),
        "analyst": await make_token("analyst"),
        "viewer": await make_token("viewer", province="nghe-an"),
    }
    for role, token in tokens.items():
        response = await client.request(method, url, json=body, headers=bearer(token))
        if role in ALLOWED[(method, path)]:
            assert response.status_code != 403, (role, response.text)
            assert response.status_code < 500, (role, response.text)
        else:
            assert response.status_code == 403, (role, response.status_code, response.text)


@pytest.mark.parametrize("code", ["%0A", "%13%0A", "A%0AB", "%0D%0A"])
async def test_a_path_with_a_line_break_still_asks_for_a_login(
    client: httpx.AsyncClient, code: str
) -> None:
    """Regression: the mount's own pattern stopped at a line break, so such a path was a 404."""
    url = f"{API}/certificates/{code}/revoke"
    response = await client.post(url, json={"reason": "issued by mistake"})
    assert response.status_code == 401, response.text


async def test_production_turns_the_interactive_docs_off() -> None:
    app = create_app(Settings(environment="production", report_refresh_seconds=0))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://camtay.test") as http:
        assert (await http.get(f"{API}/docs")).status_code == 404
        assert (await http.get(f"{API}/openapi.json")).status_code == 200
    development = create_app(Settings(report_refresh_seconds=0))
    transport = httpx.ASGITransport(app=development)
    async with httpx.AsyncClient(transport=transport, base_url="http://camtay.test") as http:
        assert (await http.get(f"{API}/docs")).status_code == 200
