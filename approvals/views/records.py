"""Records-request download for a post (issue 6 §6): admins only (MANAGE_ORGANISATION), audited by the service."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.urls import path
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts.roles import Capability
from approvals import records
from approvals.models import Post
from smm.scoping import get_visible_or_404, member_required


@member_required()
@require_GET
def post_records(request: HttpRequest, pk: int) -> HttpResponse:
    post = get_visible_or_404(Post.objects, request.membership, Capability.MANAGE_ORGANISATION, pk=pk)
    try:
        body = records.post_bundle(request.membership, post.pk)
    except Post.DoesNotExist:
        raise Http404("Not found.") from None
    response = HttpResponse(body, content_type="application/zip")
    filename = f"post-{post.pk}-records-{timezone.now():%Y%m%d-%H%M%S}.zip"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


urls = [path("posts/<int:pk>/records.zip", post_records, name="post_records")]
