"""Small pieces every API view shares."""

from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import Serializer
from rest_framework.views import APIView


def paginated(
    view: APIView, request: Request, rows, serializer_class: type[Serializer], context: dict | None = None
) -> Response:
    """One page of `rows`, serialized (with `context`), with the view's paginator's links and count."""
    paginator = view.pagination_class()
    page = paginator.paginate_queryset(rows, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True, context=context or {}).data)


class Pagination(LimitOffsetPagination):
    """DRF's limit/offset pagination with both numbers bounded. Unbounded, `?limit=10**25` reached
    PostgreSQL as a LIMIT beyond bigint: a DataError, so a 500."""

    max_limit = 1000
    max_offset = 2**62  # any larger offset is past the last row of every table, like this one

    def get_offset(self, request: Request) -> int:
        return min(super().get_offset(request), self.max_offset)
