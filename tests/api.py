"""Assertions every API test shares."""


def assert_error(response, status: int, code: str | None = None) -> dict:
    """The response has `status` and the one error shape, {"code", "message", "extra"} (with `code`,
    if given). Returns the body."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"code", "message", "extra"}
    if code:
        assert body["code"] == code
    return body
