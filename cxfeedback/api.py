"""Small pieces every API view shares."""

from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import Serializer
from rest_framework.views import APIView


def paginated(view: APIView, request: Request, rows, serializer_class: type[Serializer]) -> Response:
    """One page of `rows`, serialized, with the view's paginator's links and count."""
    paginator = view.pagination_class()
    page = paginator.paginate_queryset(rows, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)
