"""Keyset paging for every API list: by (created_at, id), newest first."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime

from django.db.models import Q
from rest_framework import exceptions, pagination
from rest_framework.response import Response


class KeysetPagination(pagination.BasePagination):
    """Pages by (created_at, id) descending: stable under inserts, no OFFSET scans."""

    page_size = 50
    max_page_size = 200
    ordering_field = "created_at"

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        try:
            size = int(request.query_params.get("page_size", self.page_size))
        except ValueError:
            raise exceptions.ValidationError({"page_size": "Must be a whole number."}) from None
        if not 1 <= size <= self.max_page_size:
            raise exceptions.ValidationError({"page_size": f"Must be between 1 and {self.max_page_size}."})
        field = getattr(view, "keyset_field", self.ordering_field)
        queryset = queryset.order_by(f"-{field}", "-id")
        cursor = request.query_params.get("cursor")
        if cursor:
            at, last_id = self._decode(cursor)
            queryset = queryset.filter(Q(**{f"{field}__lt": at}) | Q(**{field: at, "id__lt": last_id}))
        rows = list(queryset[: size + 1])
        self.has_next = len(rows) > size
        rows = rows[:size]
        self.next_cursor = self._encode(getattr(rows[-1], field), rows[-1].pk) if self.has_next and rows else None
        return rows

    @staticmethod
    def _encode(at: datetime, pk: int) -> str:
        return base64.urlsafe_b64encode(json.dumps([at.isoformat(), pk]).encode()).decode()

    @staticmethod
    def _decode(cursor: str):
        try:
            at, pk = json.loads(base64.urlsafe_b64decode(cursor.encode()))
            return datetime.fromisoformat(at), int(pk)
        except (ValueError, TypeError, binascii.Error, json.JSONDecodeError):
            raise exceptions.ValidationError({"cursor": "Not a cursor this API gave out."}) from None

    def get_paginated_response(self, data):
        next_url = None
        if self.next_cursor:
            next_url = self.request.build_absolute_uri(
                self.request.path + "?" + _replace_query(self.request.query_params, cursor=self.next_cursor)
            )
        return Response({"next": next_url, "results": data})

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["results"],
            "properties": {"next": {"type": "string", "nullable": True, "format": "uri"}, "results": schema},
        }


def _replace_query(params, **changes) -> str:
    query = params.copy()
    for key, value in changes.items():
        query[key] = value
    return query.urlencode()
