"""The API documentation page at /docs: Swagger UI over /openapi.json, with its script and stylesheet
served by the service itself from the installed fastapi-offline package, so the page works on a hospital
network that blocks CDNs and loads nothing we did not ship. Served where the OpenAPI document is
(CDS_API_DOCS_ENABLED; default: development profile only)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

DOCS_PATH = "/docs"
ASSETS_PATH = "/docs/assets"
# Only these files of the package are served: the page needs nothing else.
_ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon.png")


def assets_directory() -> Path:
    return Path(str(files("fastapi_offline") / "static"))


def install_api_docs(app: FastAPI, openapi_url: str) -> None:
    directory = assets_directory()
    missing = [name for name in _ASSETS if not (directory / name).is_file()]
    if missing:
        raise RuntimeError(f"the Swagger UI assets are missing from {directory}: {', '.join(missing)}")

    async def docs_page(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - API",
            swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
        )

    app.add_api_route(DOCS_PATH, docs_page, methods=["GET"], include_in_schema=False)
    app.mount(ASSETS_PATH, StaticFiles(directory=directory), name="api-docs-assets")
