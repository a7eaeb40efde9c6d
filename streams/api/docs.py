"""``/docs`` offline: Swagger UI served from the ``swagger-ui-bundle`` package's files, no CDN.

FastAPI's default page loads Swagger UI (and ReDoc) from jsDelivr, so without internet it was
blank; here every asset comes from ``/docs/assets/``.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

ASSETS = "/docs/assets"


def serve_docs(api: FastAPI) -> None:
    """Add ``/docs`` and its assets to an app made with ``docs_url=None, redoc_url=None``."""
    api.mount(ASSETS, StaticFiles(directory=swagger_ui_path), name="swagger-ui")

    @api.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=api.openapi_url or "/openapi.json", title=f"{api.title} — docs",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon-32x32.png",
            swagger_ui_parameters={"persistAuthorization": True})
