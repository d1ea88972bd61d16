"""RFC 9457 problem documents: every error the server returns has this shape."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from sottovoce.storage.repository import connection_lost

PROBLEM_JSON = "application/problem+json"
# RFC 9110 §10.2.3: how long a client waits before sending a request again that
# met a lost database connection (the pool reconnects on the next checkout).
STORAGE_RETRY_AFTER_S = 1


class ProblemDocument(BaseModel):
    """RFC 9457 §3.1 members; some problems add their own (``missing``, ``extra``)."""

    type: str
    title: str
    status: int
    detail: str


# Declared on every router so that /openapi.json shows the error shape.
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {
        "description": "A problem document naming the fault",
        "content": {PROBLEM_JSON: {"schema": ProblemDocument.model_json_schema()}},
    },
}


class Problem(Exception):
    """Raised anywhere in a handler; rendered as a problem+json response."""

    def __init__(self, status: int, kind: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.kind = kind
        self.detail = detail
        self.extra = extra


def problem_response(
    status: int, kind: str, detail: str, extra: dict[str, Any] | None = None
) -> JSONResponse:
    body: dict[str, Any] = {"type": kind, "title": kind.replace("-", " "), "status": status}
    body["detail"] = detail
    body.update(extra or {})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


async def handle_problem(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    return problem_response(exc.status, exc.kind, exc.detail, exc.extra)


async def handle_validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
        parts.append(f"{where or 'body'}: {error.get('msg', 'invalid')}")
    return problem_response(422, "malformed-body", "; ".join(parts))


async def handle_unexpected(_: Request, exc: Exception) -> JSONResponse:
    """A bug, not bad input: answer in the same shape, saying nothing of the cause
    (uvicorn logs the traceback for the operator). A database connection cut under
    the request (a PostgreSQL restart) is no bug: 503 and Retry-After, and the same
    request succeeds on the fresh pool."""
    if connection_lost(exc):
        response = problem_response(
            503, "storage-unavailable", "the server lost its database connection; retry"
        )
        response.headers["retry-after"] = str(STORAGE_RETRY_AFTER_S)
        return response
    return problem_response(500, "internal-error", "the server failed to handle this request")


async def handle_http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    # FastAPI raises a bare 400 when it cannot parse a body at all (nesting or a
    # number too large for the JSON decoder): to the client that is a malformed body.
    kind = {400: "malformed-body", 404: "not-found", 405: "method-not-allowed"}.get(
        exc.status_code, "http-error"
    )
    return problem_response(exc.status_code, kind, str(exc.detail))
