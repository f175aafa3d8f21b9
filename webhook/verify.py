"""The public certificate check: /verify/<code> says valid or revoked, with name, module, date.

Nothing else about the learner is shown: no account, channel or chat id.
"""

from __future__ import annotations

import base64
import hashlib
from html import escape

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from bot import certificates
from bot.store.models import Certificate
from bot.wiring import Runtime

router = APIRouter(prefix="/verify", tags=["certificates"])

STYLE = (
    "body{font-family:system-ui,sans-serif;font-size:1.3rem;line-height:1.5;max-width:40rem;"
    "margin:2rem auto;padding:0 1rem;color:#19233c}"
    ".valid{color:#0a6b2d}.revoked{color:#a11a1a}.none{color:#5a6270}dt{color:#5a6270}"
    "dd{margin:0 0 .8rem;font-weight:600}"
)
STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
HEADERS = {
    # Only the page's own style block (by its hash) applies; no script at all.
    "Content-Security-Policy": (
        f"default-src 'none'; style-src 'sha256-{STYLE_HASH}'; frame-ancestors 'none'; "
        "base-uri 'none'; form-action 'none'"
    ),
    "X-Robots-Tag": "noindex",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    html = (
        '<!doctype html><html lang="vi"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
        f"<body>{body}</body></html>"
    )
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def _not_found() -> HTMLResponse:
    return _page(
        "Không tìm thấy / Not found",
        '<h1 class="none">Không tìm thấy chứng nhận / Certificate not found</h1>'
        "<p>Mã này không khớp với chứng nhận nào. Hãy kiểm tra lại mã.<br>"
        "This code does not match any certificate. Please check the code.</p>",
        status=404,
    )


async def _find(request: Request, code: str) -> Certificate | None:
    normal = certificates.normalise_code(code)
    if normal is None:
        return None
    async with _runtime(request).database.unit_of_work() as uow:
        return await uow.certificates.by_code(normal)


@router.get("/{code}.png", include_in_schema=False)
async def picture(request: Request, code: str) -> Response:
    return await _file(request, code, "png")


@router.get("/{code}.pdf", include_in_schema=False)
async def document(request: Request, code: str) -> Response:
    return await _file(request, code, "pdf")


async def _file(request: Request, code: str, kind: str) -> Response:
    certificate = await _find(request, code)
    if certificate is None:
        return _not_found()
    if certificate.revoked_at is not None:  # its files are not served any more
        return _page(
            "Đã thu hồi / Revoked",
            '<h1 class="revoked">Chứng nhận đã bị thu hồi / This certificate was revoked</h1>',
            status=410,
        )
    runtime = _runtime(request)
    content = certificates.render(certificate, runtime.catalog, runtime.settings.base_url, kind)
    media = "application/pdf" if kind == "pdf" else "image/png"
    disposition = f'inline; filename="camtay-{certificate.code}.{kind}"'
    return Response(
        content,
        media_type=media,
        headers={"Content-Disposition": disposition, "Cache-Control": "no-cache"},
    )


@router.get("/{code}", response_class=HTMLResponse, include_in_schema=False)
async def check(request: Request, code: str) -> HTMLResponse:
    certificate = await _find(request, code)
    if certificate is None:
        return _not_found()
    catalog = _runtime(request).catalog
    module = catalog.module(certificate.module_id)
    title = (
        f"{module.title.vi} / {module.title.en}"
        if module is not None and module.title.vi != module.title.en
        else module.title.vi
        if module is not None
        else certificate.module_id
    )
    day = certificates.issued_on(certificate).strftime("%d/%m/%Y")
    if certificate.revoked_at is None:
        verdict = '<h1 class="valid">✔ Hợp lệ / Valid</h1>'
    else:
        verdict = '<h1 class="revoked">✘ Đã thu hồi / Revoked</h1>'
    body = (
        f"<p>Chứng nhận camtay / camtay certificate {escape(certificate.code)}</p>{verdict}"
        "<dl>"
        f"<dt>Họ tên / Name</dt><dd>{escape(certificate.display_name)}</dd>"
        f"<dt>Chủ đề / Module</dt><dd>{escape(title)}</dd>"
        f"<dt>Ngày cấp / Date</dt><dd>{escape(day)}</dd>"
        "</dl>"
    )
    return _page("Kiểm tra chứng nhận / Certificate check", body)
