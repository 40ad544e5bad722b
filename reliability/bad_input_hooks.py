"""What schemathesis loads (SCHEMATHESIS_HOOKS=reliability.bad_input_hooks) for the bad-input run
(reliability/bad_input.py): one check of our own, and a limit on generated query strings."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import schemathesis

ERROR_KEYS = {"code", "message", "extra"}
# gunicorn answers a request line over 4,094 bytes itself (414) before the app sees it; the app
# cannot shape that answer, so such requests are not generated.
MAX_QUERY_BYTES = 3000


def error_shape_problem(status: int, content_type: str, body: bytes) -> str:
    """Why an API error answer is not {"code": str, "message": str, "extra": object}; "" if it is."""
    if status < 400:
        return ""
    if "json" not in content_type:
        return f"{status} with Content-Type {content_type or 'none'}, not the JSON error body"
    try:
        data = json.loads(body)
    except ValueError:
        return f"{status} with a body that is not JSON"
    if not isinstance(data, dict) or set(data) != ERROR_KEYS:
        keys = sorted(data) if isinstance(data, dict) else type(data).__name__
        return f"{status} with body keys {keys}, not code/message/extra"
    if not (isinstance(data["code"], str) and isinstance(data["message"], str)):
        return f"{status}: code and message must be strings"
    if not isinstance(data["extra"], dict):
        return f"{status}: extra must be an object"
    return ""


@schemathesis.check
def error_shape(ctx, response, case):
    """Every API error, documented for the operation or not (405, 415 …), in the error shape."""
    problem = error_shape_problem(
        response.status_code, response.headers.get("content-type", [""])[0], response.content
    )
    if problem:
        raise AssertionError(f"Error not in the error shape: {problem}")


@schemathesis.hook
def filter_query(context, query):
    return query is None or len(urlencode(query, doseq=True)) < MAX_QUERY_BYTES
