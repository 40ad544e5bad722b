"""One error type for the whole application, and the one place that maps errors to HTTP.

Services raise `ApplicationError` subclasses; they never build responses. Every API error body has
the shape {"code": str, "message": str, "extra": dict}.
"""

from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import set_rollback


class ApplicationError(Exception):
    status_code = status.HTTP_400_BAD_REQUEST
    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, extra: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.extra = extra or {}


class NotFound(ApplicationError):
    status_code = status.HTTP_404_NOT_FOUND
    code = "not_found"


class Conflict(ApplicationError):
    status_code = status.HTTP_409_CONFLICT
    code = "conflict"


class Unprocessable(ApplicationError):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    code = "unprocessable"


class ErrorSerializer(serializers.Serializer):
    """The body of every API error, for the OpenAPI schema."""

    code = serializers.CharField(help_text="Machine-readable, such as not_found or identity_conflict.")
    message = serializers.CharField(help_text="For people; names the field it is about.")
    extra = serializers.DictField(help_text="Details; validation errors list every field under 'fields'.")


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    """The schema's responses for these error statuses: each has the one error body."""
    return {code: OpenApiResponse(ErrorSerializer, description="Error body.") for code in codes}


def error_body(code: str, message: str, extra: dict | None = None) -> dict:
    return {"code": code, "message": message, "extra": extra or {}}


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's exception handler, reshaped: every error leaves as {"code", "message", "extra"}."""
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(_django_validation_detail(exc))
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    if isinstance(exc, ApplicationError):
        set_rollback()
        return Response(error_body(exc.code, exc.message, exc.extra), status=exc.status_code)
    if not isinstance(exc, exceptions.APIException):
        return None  # a bug: let Django turn it into a 500 and log it

    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))
    set_rollback()
    if isinstance(exc, exceptions.ValidationError):
        body = error_body("invalid", _first_message(exc.detail), {"fields": exc.detail})
    else:
        body = error_body(
            exc.default_code if not isinstance(exc.detail, dict) else "error", str(exc.detail), {}
        )
        codes = exc.get_codes()
        if isinstance(codes, str):
            body["code"] = codes
    return Response(body, status=exc.status_code, headers=headers)


def _django_validation_detail(exc: DjangoValidationError) -> Any:
    if hasattr(exc, "error_dict"):
        return exc.message_dict
    return {"non_field_errors": exc.messages}


def _first_message(detail: Any, path: str = "") -> str:
    """The first error, prefixed with where it is: 'email: Enter a valid email address.'"""
    if isinstance(detail, dict):
        for key, value in detail.items():
            where = key if not path else f"{path}.{key}"
            if isinstance(key, int):  # a list serializer's errors are keyed by item position
                where = f"{path}[{key}]"
            elif key == "non_field_errors":
                where = path
            return _first_message(value, where)
    if isinstance(detail, list) and detail:
        for index, value in enumerate(detail):
            if value:
                where = path if not isinstance(value, dict) else f"{path}[{index}]"
                return _first_message(value, where)
    text = str(detail)
    return f"{path}: {text}" if path else text


# Django's own error pages, for requests that never reach a DRF view: an address no route matches
# (/api/v1/contacts/abc), a body Django refuses to read, a crash. Under the API they answer in the
# error shape, so an integrator parses every error the same way; elsewhere Django's pages stay.
API_PREFIX = "/api/"


def _api_error(request: HttpRequest, status_code: int, code: str, message: str) -> JsonResponse | None:
    if not request.path.startswith(API_PREFIX):
        return None
    return JsonResponse(error_body(code, message), status=status_code)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    answer = _api_error(request, 400, "bad_request", "The request could not be read.")
    return answer or defaults.bad_request(request, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    answer = _api_error(request, 404, "not_found", "No such address.")
    return answer or defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    answer = _api_error(request, 500, "server_error", "Something went wrong on our side; it has been logged.")
    return answer or defaults.server_error(request)
