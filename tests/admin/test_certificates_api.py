"""Admins look a certificate up and revoke it through the API; the public page follows."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from bot.store.models import AuditEntry
from bot.wiring import Runtime
from tests.admin.conftest import MakeToken, bearer
from tests.conftest import Clock
from tests.test_certificates import _issue, _person

API = "/admin/api/v1"


async def test_an_admin_revokes_a_certificate_and_the_verify_page_says_so(
    runtime: Runtime, client: httpx.AsyncClient, make_token: MakeToken, clock: Clock
) -> None:
    person = await _person(runtime.database, clock)
    certificate = await _issue(runtime.database, clock, person, "Bà Hồng")
    assert certificate is not None
    admin = bearer(await make_token("admin"))
    code = certificate.code

    found = await client.get(f"{API}/certificates/{code.lower()}", headers=admin)
    assert found.status_code == 200
    assert found.json()["display_name"] == "Bà Hồng"
    assert found.json()["revoked_at"] is None
    assert "Hợp lệ" in (await client.get(f"/verify/{code}")).text

    url = f"{API}/certificates/{code}/revoke"
    assert (await client.post(url, json={"reason": ""}, headers=admin)).status_code == 422
    assert (await client.post(url, json={}, headers=admin)).status_code == 422
    clock.advance(hours=1)
    revoked = await client.post(url, json={"reason": "issued by mistake"}, headers=admin)
    assert revoked.status_code == 200
    assert revoked.json()["revoked_reason"] == "issued by mistake"
    first = revoked.json()["revoked_at"]
    assert first is not None
    page = (await client.get(f"/verify/{code}")).text
    assert "Đã thu hồi" in page
    assert "mistake" not in page  # the reason stays with the admins

    clock.advance(hours=1)
    again = await client.post(url, json={"reason": "second thoughts"}, headers=admin)
    assert again.json()["revoked_at"] == first  # the first revocation stands
    assert again.json()["revoked_reason"] == "issued by mistake"

    async with runtime.database.unit_of_work() as uow:
        entries = (
            await uow.session.scalars(
                select(AuditEntry).where(AuditEntry.action == "certificate.revoke")
            )
        ).all()
    assert [entry.detail["reason"] for entry in entries] == ["issued by mistake", "second thoughts"]


async def test_unknown_and_malformed_codes(
    client: httpx.AsyncClient, make_token: MakeToken
) -> None:
    admin = bearer(await make_token("admin"))
    body = {"reason": "test"}
    assert (await client.get(f"{API}/certificates/ABCDE23456", headers=admin)).status_code == 404
    missing = await client.post(f"{API}/certificates/ABCDE23456/revoke", json=body, headers=admin)
    assert missing.status_code == 404
    junk = await client.post(f"{API}/certificates/..%2Fetc/revoke", json=body, headers=admin)
    assert junk.status_code in (404, 422)
    assert (await client.get(f"{API}/certificates/ABC", headers=admin)).status_code == 422
