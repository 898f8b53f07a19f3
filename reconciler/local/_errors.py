"""API errors in the gRPC-gateway envelope the Fireworks SDK parses.

Body: ``{"code": <grpc code int>, "message": "...", "status": "INVALID_ARGUMENT", "details": []}``.
"""

from __future__ import annotations

from typing import Any

# HTTP status -> (gRPC code, gRPC status name)
_GRPC = {
    400: (3, "INVALID_ARGUMENT"),
    401: (16, "UNAUTHENTICATED"),
    403: (7, "PERMISSION_DENIED"),
    404: (5, "NOT_FOUND"),
    409: (6, "ALREADY_EXISTS"),
    429: (8, "RESOURCE_EXHAUSTED"),
    500: (13, "INTERNAL"),
    501: (12, "UNIMPLEMENTED"),
    503: (14, "UNAVAILABLE"),
    504: (4, "DEADLINE_EXCEEDED"),
}
_FAILED_PRECONDITION = (9, "FAILED_PRECONDITION")


class ApiError(Exception):
    """An error answer: an HTTP status plus a message people can act on."""

    def __init__(
        self,
        http_status: int,
        message: str,
        *,
        precondition: bool = False,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.message = message
        self.code, self.status = (
            _FAILED_PRECONDITION if precondition else _GRPC.get(http_status, (2, "UNKNOWN"))
        )
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "status": self.status, "details": []}


def invalid(message: str) -> ApiError:
    return ApiError(400, message)


def precondition(message: str) -> ApiError:
    return ApiError(400, message, precondition=True)


def not_found(message: str) -> ApiError:
    return ApiError(404, message)


def conflict(message: str) -> ApiError:
    return ApiError(409, message)
