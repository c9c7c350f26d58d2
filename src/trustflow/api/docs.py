"""The API's documentation pages, Swagger UI at ``/docs`` and ReDoc at ``/redoc``, served with
their scripts and styles from this app (the copies the ``fastapi-offline`` package ships), so
they work without the internet: FastAPI's own pages load them from a CDN.

``create_app`` turns FastAPI's pages off (``docs_url=None, redoc_url=None``) and includes
:data:`router`.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import FileResponse, HTMLResponse

from trustflow.errors import NotFound

__all__ = ["ASSETS_PREFIX", "CONTENT_SECURITY_POLICY", "router"]

ASSETS_PREFIX = "/static/docs"
_ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"
#: The files the pages load, by name: nothing else under the assets folder is served.
_ASSETS = {
    "swagger-ui-bundle.js": "application/javascript",
    "swagger-ui.css": "text/css",
    "redoc.standalone.js": "application/javascript",
    "favicon.png": "image/png",
}
_OAUTH2_REDIRECT = "/docs/oauth2-redirect"
#: The pages may load from this app only. ReDoc draws its maker's logo from the maker's CDN
#: (no option turns it off): under this policy the browser never asks for it, and ReDoc leaves
#: the image out. Both pages start from inline scripts, and ReDoc searches in a blob worker.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "worker-src 'self' blob:",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    )
)

router = APIRouter(include_in_schema=False)


def _self_only(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return page


def _urls(request: Request) -> tuple[str, str]:
    """(the OpenAPI document's URL, the assets' URL prefix), under the app's root path."""
    root = str(request.scope.get("root_path", "")).rstrip("/")
    return f"{root}{request.app.openapi_url}", f"{root}{ASSETS_PREFIX}"


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    openapi, assets = _urls(request)
    page = get_swagger_ui_html(
        openapi_url=openapi,
        title=f"{request.app.title} · Swagger UI",
        swagger_js_url=f"{assets}/swagger-ui-bundle.js",
        swagger_css_url=f"{assets}/swagger-ui.css",
        swagger_favicon_url=f"{assets}/favicon.png",
        oauth2_redirect_url=_OAUTH2_REDIRECT,
        # Swagger UI would otherwise send the document to an outside validator for its badge.
        swagger_ui_parameters={**(request.app.swagger_ui_parameters or {}), "validatorUrl": None},
    )
    return _self_only(page)


@router.get(_OAUTH2_REDIRECT)
def swagger_ui_oauth2_redirect() -> HTMLResponse:
    return _self_only(get_swagger_ui_oauth2_redirect_html())


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    openapi, assets = _urls(request)
    page = get_redoc_html(
        openapi_url=openapi,
        title=f"{request.app.title} · ReDoc",
        redoc_js_url=f"{assets}/redoc.standalone.js",
        redoc_favicon_url=f"{assets}/favicon.png",
        with_google_fonts=False,
    )
    return _self_only(page)


@router.get(ASSETS_PREFIX + "/{name}")
def asset(name: str) -> FileResponse:
    media_type = _ASSETS.get(name)
    if media_type is None:
        raise NotFound(f"no documentation asset {name!r}")
    return FileResponse(_ASSETS_DIR / name, media_type=media_type)
