"""The app's HTML answers: every page with a strict Content-Security-Policy (nothing may run: no script
source at all; the page's own stylesheet and style attributes allowed by their hashes), never cached,
never sending a Referer (the callback's URL carries the code and state)."""

from __future__ import annotations

import base64
import hashlib
import re

from starlette.responses import HTMLResponse, RedirectResponse, Response

from timeline_view.html import e, page

_STYLE_ELEMENT = re.compile(r"<style>(.*?)</style>", re.DOTALL)
_STYLE_ATTRIBUTE = re.compile(r'\sstyle="([^"]*)"')
ERROR_TITLE = "The neurotoxicity timeline could not be opened"


def _hash(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode("utf-8")).digest()).decode() + "'"


def content_security_policy(html: str) -> str:
    """`html`'s policy: its style elements and style attributes by hash, nothing else from anywhere.
    Our renderer writes every style itself; FHIR text is escaped, so it can never add one."""
    styles = sorted({_hash(s) for s in _STYLE_ELEMENT.findall(html)})
    attributes = sorted({_hash(s) for s in _STYLE_ATTRIBUTE.findall(html)})
    style_src = " ".join([*styles, *(["'unsafe-hashes'", *attributes] if attributes else [])]) or "'none'"
    return (
        f"default-src 'none'; style-src {style_src}; img-src data:; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    )


def _protect(response: Response, csp: str | None = None) -> Response:
    if csp is not None:
        response.headers["Content-Security-Policy"] = csp
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def html_page(html: str, status: int = 200) -> Response:
    return _protect(HTMLResponse(html, status_code=status), content_security_policy(html))


NOTHING_READ = "Nothing was read from the patient's record."
LAUNCH_AGAIN = "Open the app again from the card in the EHR."


def error_page(status: int, message: str, *, nothing_read: bool = True) -> Response:
    note = f"{NOTHING_READ} {LAUNCH_AGAIN}" if nothing_read else LAUNCH_AGAIN
    body = (
        f'<h1>{e(ERROR_TITLE)}</h1><p class="error" id="error">{e(message)}</p><p class="note">{e(note)}</p>'
    )

    return html_page(page(ERROR_TITLE, body), status)


def redirect(url: str, status: int = 302) -> Response:
    return _protect(RedirectResponse(url, status_code=status), "default-src 'none'; frame-ancestors 'none'")
