"""The composer: write and edit a post, upload its images, check it per platform as you type, autosave, and
compare its revisions.

Thin views: the form (approvals.forms) turns the posted fields into a Draft, approvals.services saves it
(post_create / post_update: a revision, the audit event, approvals cleared after submission), approvals.media
stores images. The check endpoint asks the same questions submission asks (services.check_revision, the
platforms' own counting in channels_app.text), so the counter on the page and the server never disagree.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, path, reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import Membership
from accounts.roles import Capability
from approvals import media as media_service
from approvals import services
from approvals.forms import (
    SCHEDULE_AT,
    SCHEDULE_WHEN_APPROVED,
    ComposerForm,
    MediaRow,
    local_input_value,
    read_media,
    read_variants,
    variant_field,
    whole_number,
)
from approvals.models import Post, PostMedia, PostRevision, PostStatus
from approvals.revision_diff import compare
from approvals.workflow import EDITABLE, TransitionNotAllowed
from channels_app.models import Channel, Platform
from channels_app.text import PLATFORMS, validate_text
from smm.scoping import get_visible_or_404, member_required

# Autosave runs only before submission: after it, every save clears approvals, so it is a deliberate act.
AUTOSAVE_STATES = frozenset({PostStatus.DRAFT, PostStatus.CHANGES_REQUESTED})
COUNTING_HINTS = {
    "x": "as X counts them: every link counts as 23, emoji and Chinese, Japanese or Korean characters as 2",
    "mastodon": "as Mastodon counts them: every link counts as 23",
    "bluesky": "as Bluesky counts them: an emoji or accented letter is one",
    "instagram": "",
    "facebook": "",
}
MAX_CHECK_TEXT = 70_000


def _zone(membership: Membership) -> str:
    return membership.organisation.timezone or "UTC"


def _local(value, zone_name: str):
    return value.astimezone(ZoneInfo(zone_name)) if value else None


def _post_page_url(post: Post) -> str | None:
    # The post page belongs to the review work (approvals/views/post_page.py); link to it once it exists.
    try:
        return reverse("approvals:post_detail", kwargs={"pk": post.pk})
    except NoReverseMatch:
        return None


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _errors_of(error: ValidationError) -> dict[str, list[str]]:
    if hasattr(error, "error_dict"):
        return {key: list(values) for key, values in error.message_dict.items()}
    return {"__all__": list(error.messages)}


def _apply_errors(form: ComposerForm, error: ValidationError) -> None:
    for key, values in _errors_of(error).items():
        form.add_error(key if key in form.fields else None, values)


# ------------------------------------------------------------------------------------------- verdict
def _draft_revision(organisation_id: int, draft: services.Draft) -> PostRevision:
    """An unsaved revision of the draft, so the checks submission runs can run on what is being typed."""
    media = [{"id": item["id"], "alt_text": item.get("alt_text", "")} for item in draft.media]
    return PostRevision(
        organisation_id=organisation_id, title=draft.title or "", body=(draft.body or "").strip(),
        link=(draft.link or "").strip(), variants=draft.variants, channel_ids=list(draft.channel_ids), media=media,
    )


def verdict(membership: Membership, draft: services.Draft, channels: list[Channel], media_urls: dict[int, str]) -> dict:
    """Per chosen channel: the text it would publish and its length against the platform's limit, with errors;
    plus what submission would refuse (no channel, missing alt text, blocked words) and words that force review."""
    revision = _draft_revision(membership.organisation_id, draft)
    chosen = [c for c in channels if c.pk in set(draft.channel_ids)]
    check = services.check_revision(revision, chosen)
    has_image = bool(revision.media)
    rows = []
    for channel in chosen:
        text = services.text_for(revision, channel)
        result = validate_text(channel.platform, text, has_image=has_image)
        rows.append({
            "id": channel.pk, "label": str(channel), "platform": channel.platform,
            "platform_label": channel.get_platform_display(), "department": channel.department.name,
            "text": text, "length": result.length, "limit": result.limit, "remaining": result.remaining,
            "over": result.length > result.limit, "valid": result.valid, "errors": list(result.errors),
            "hint": COUNTING_HINTS.get(channel.platform, ""),
        })
    problems = [message for key, values in check.errors.items() if not key.startswith("channel:") for message in values]
    return {
        "channels": rows,
        "problems": problems,
        "blocked": check.blocked_terms,
        "review": check.review_terms,
        "ok": check.ok,
        "link": revision.link,
        "media": [{"id": item["id"], "alt_text": item["alt_text"], "url": media_urls.get(item["id"], "")}
                  for item in revision.media],
    }


# -------------------------------------------------------------------------------------------- page
def _media_rows(post: Post | None, form: ComposerForm | None) -> list[dict]:
    """The images the composer lists: as posted (a form coming back with errors), else the current revision's
    images followed by uploads no revision has used yet."""
    if post is None:
        return []
    files = {m.pk: m for m in PostMedia.objects.filter(post=post).defer("content")}
    if form is not None and form.is_bound:
        rows = form.media_rows if hasattr(form, "cleaned_data") else read_media(form.data)
    else:
        current = {int(i["id"]): i.get("alt_text", "") for i in (post.current_revision.media if post.current_revision else [])}
        rows = [MediaRow(id=pk, alt_text=current.get(pk, "")) for pk in media_service.live_media_ids(post)]
    result = []
    for n, row in enumerate((r for r in rows if r.id in files), start=1):
        media = files[row.id]
        result.append({
            "id": media.pk, "n": n, "alt_text": row.alt_text, "filename": media.filename or f"Image {n}",
            "width": media.width, "height": media.height, "url": reverse("approvals:post_media", kwargs={"pk": media.pk}),
        })
    return result


def _initial(post: Post, zone_name: str) -> dict:
    revision = post.current_revision
    initial = {
        "title": revision.title if revision else post.title, "body": revision.body if revision else "",
        "link": revision.link if revision else "", "notes": revision.notes if revision else "",
        "channels": [str(pk) for pk in (revision.channel_ids if revision else [])],
        "schedule": SCHEDULE_AT if post.scheduled_at else SCHEDULE_WHEN_APPROVED,
        "scheduled_at": local_input_value(post.scheduled_at, zone_name),
    }
    for key, text in (revision.variants if revision else {}).items():
        initial[variant_field(key)] = text
    return initial


def _value(form: ComposerForm, name: str, initial: dict) -> str:
    if form.is_bound:
        return str(form.data.get(name, "") or "")
    return str(initial.get(name, "") or "")


def _draft_for_page(form: ComposerForm, initial: dict, channels: list[Channel], media: list[dict]) -> services.Draft:
    """What the page currently shows, as a Draft (for the server's verdict on load and after a refused save)."""
    if form.is_bound:
        ids = [i for i in (whole_number(v) for v in form.data.getlist("channels")) if i is not None]
    else:
        ids = [int(v) for v in initial.get("channels", [])]
    source = form.data if form.is_bound else initial
    return services.Draft(
        title=_value(form, "title", initial), body=_value(form, "body", initial)[:MAX_CHECK_TEXT],
        link=_value(form, "link", initial)[:1000], channel_ids=ids, variants=read_variants(source, ids, channels),
        media=[{"id": m["id"], "alt_text": m["alt_text"]} for m in media],
    )


def render_composer(request: HttpRequest, form: ComposerForm, post: Post | None, *, status: int = 200) -> HttpResponse:
    membership = request.membership
    zone_name = _zone(membership)
    channels = form.available_channels
    initial = _initial(post, zone_name) if post is not None else {"schedule": SCHEDULE_WHEN_APPROVED}
    media = _media_rows(post, form)
    draft = _draft_for_page(form, initial, channels, media)
    chosen_ids = set(draft.channel_ids)
    checked = verdict(membership, draft, channels, {m["id"]: m["url"] for m in media})

    groups: dict[str, list[dict]] = {}
    for channel in channels:
        groups.setdefault(channel.department.name, []).append({"channel": channel, "checked": channel.pk in chosen_ids})
    platforms = []
    for platform in PLATFORMS:
        of_platform = [c for c in channels if c.platform == platform]
        if not of_platform:
            continue
        platforms.append({
            "key": platform, "label": Platform(platform).label, "field": variant_field(platform),
            "value": _value(form, variant_field(platform), initial),
            "chosen": any(c.pk in chosen_ids for c in of_platform),
            "channels": [{"channel": c, "field": variant_field(f"channel:{c.pk}"),
                          "value": _value(form, variant_field(f"channel:{c.pk}"), initial),
                          "chosen": c.pk in chosen_ids} for c in of_platform],
        })
    # Channels already on the post that this person may not publish to: saving drops them, so say so.
    revision = post.current_revision if post is not None else None
    available_ids = {c.pk for c in channels}
    unreachable = []
    if revision is not None:
        missing = [pk for pk in revision.channel_ids if pk not in available_ids]
        unreachable = [str(c) for c in Channel.objects.for_organisation(post.organisation_id).filter(pk__in=missing)]
    settings = services.settings_for(membership.organisation_id)
    error_list = []
    if form.is_bound and form.errors:
        for name, errors in form.errors.items():
            target = "id_scheduled_at" if name == "schedule" else f"id_{name}"
            for error in errors:
                error_list.append({"field": name, "target": target if name != "__all__" else "", "message": error})
    context = {
        "form": form,
        "post": post,
        "revision": revision,
        "groups": sorted(groups.items()),
        "platforms": platforms,
        "media": media,
        "media_full": len(media) >= media_service.MAX_IMAGES,
        "max_images": media_service.MAX_IMAGES,
        "alt_required": settings.alt_text_required,
        "verdict": checked,
        "zone_name": zone_name,
        "values": {name: _value(form, name, initial) for name in ("title", "body", "link", "notes", "scheduled_at")},
        "schedule": _value(form, "schedule", initial) or SCHEDULE_WHEN_APPROVED,
        "department_value": _value(form, "department", initial),
        "error_list": error_list,
        "unreachable": unreachable,
        "autosave": post is None or post.status in AUTOSAVE_STATES,
        "after_submission": post is not None and post.status not in AUTOSAVE_STATES,
        "post_page_url": _post_page_url(post) if post is not None else None,
        "now_local": local_input_value(timezone.now(), zone_name),
    }
    return render(request, "approvals/compose.html", context, status=status)


def _form(request: HttpRequest, post: Post | None, data=None) -> ComposerForm:
    membership = request.membership
    return ComposerForm(data, membership=membership, post=post, channels=services.publishable_channels(membership),
                        zone_name=_zone(membership))


def _saved_json(request: HttpRequest, post: Post, *, created: bool = False) -> JsonResponse:
    post.refresh_from_db(fields=["current_revision", "updated_at", "status"])
    revision = post.current_revision
    saved = _local(revision.created_at if revision else post.updated_at, _zone(request.membership))
    return JsonResponse({
        "saved_at": f"{saved:%H:%M}", "saved_at_iso": saved.isoformat(), "revision": revision.number if revision else 0,
        "post": post.pk, "status": post.status,
        "edit_url": reverse("approvals:post_edit", kwargs={"pk": post.pk}),
        "autosave_url": reverse("approvals:post_autosave", kwargs={"pk": post.pk}),
        "media_url": reverse("approvals:post_media_upload", kwargs={"pk": post.pk}),
        "revisions_url": reverse("approvals:post_revisions", kwargs={"pk": post.pk}),
    }, status=201 if created else 200)


def _invalid_json(errors: dict) -> JsonResponse:
    flat = [str(message) for values in errors.values() for message in values]
    return JsonResponse({"errors": errors, "message": flat[0] if flat else "The draft could not be saved."}, status=400)


def _create(request: HttpRequest, form: ComposerForm) -> Post:
    return services.post_create(actor=request.membership, department=form.cleaned_data["department"],
                                draft=form.draft(), scheduled_at=form.scheduled_utc)


def _update(request: HttpRequest, form: ComposerForm, post: Post) -> Post:
    """One save, one service call (and so one audit event): the new revision, the time and the images removed."""
    actor = request.membership
    when = form.scheduled_utc
    discard = [row_id for row_id in (whole_number(v) for v in form.data.getlist("media"))
               if row_id is not None and form.data.get(f"remove_{row_id}")]
    try:
        return services.post_update(actor=actor, post_id=post.pk, draft=form.draft(), scheduled_at=when,
                                    discard_media=discard)
    except PermissionDenied:
        if post.status in (PostStatus.APPROVED, PostStatus.SCHEDULED) and when != post.scheduled_at:
            # A new time for an approved post is an approver's decision, unless the content changes too (then
            # the post goes back to review and its approvers see the new time): post_update refused it.
            raise ValidationError({"scheduled_at": "This post is approved: ask an approver to change its time."})
        raise


@never_cache
@member_required(Capability.EDIT_POSTS)
@require_http_methods(["GET", "POST"])
def post_new(request: HttpRequest) -> HttpResponse:
    autosave = request.method == "POST" and request.POST.get("autosave") == "1"
    form = _form(request, None, request.POST if request.method == "POST" else None)
    if request.method == "GET":
        return render_composer(request, form, None)
    if not form.is_valid():
        return _invalid_json(form.errors) if autosave else render_composer(request, form, None, status=400)
    try:
        post = _create(request, form)
    except ValidationError as error:
        if autosave:
            return _invalid_json(_errors_of(error))
        _apply_errors(form, error)
        return render_composer(request, form, None, status=400)
    except PermissionDenied as error:
        if autosave:
            return _invalid_json({"department": [str(error)]})
        form.add_error("department", str(error))
        return render_composer(request, form, None, status=400)
    if autosave:
        return _saved_json(request, post, created=True)
    messages.success(request, f"Draft saved (revision {post.current_revision.number}).")
    return redirect("approvals:post_edit", pk=post.pk)


def _post_or_404(request: HttpRequest, pk: int, capability: Capability | None) -> Post:
    queryset = Post.objects.select_related("department", "current_revision", "author")
    return get_visible_or_404(queryset, request.membership, capability, pk=pk)


@never_cache
@member_required()
@require_http_methods(["GET", "POST"])
def post_edit(request: HttpRequest, pk: int) -> HttpResponse:
    post = _post_or_404(request, pk, Capability.EDIT_POSTS)
    if post.status not in EDITABLE:
        messages.error(request, str(TransitionNotAllowed("edit", post.status)))
        return redirect(_post_page_url(post) or reverse("approvals:post_revisions", kwargs={"pk": post.pk}))
    if request.method == "GET":
        return render_composer(request, _form(request, post), post)
    form = _form(request, post, request.POST)
    if not form.is_valid():
        return render_composer(request, form, post, status=400)
    before = (post.current_revision_id, post.status)
    try:
        post = _update(request, form, post)
    except ValidationError as error:
        _apply_errors(form, error)
        return render_composer(request, form, post, status=400)
    except TransitionNotAllowed as error:
        messages.error(request, str(error))
        post.refresh_from_db()
        return render_composer(request, form, post, status=409)
    except Post.DoesNotExist:
        raise Http404("Not found.") from None
    if (post.current_revision_id, post.status) == before:
        messages.success(request, "Saved. The content had not changed, so there is no new revision.")
    elif post.status != before[1] and post.status == PostStatus.IN_REVIEW:
        messages.success(request, f"Saved as revision {post.current_revision.number}. Its approvals no longer "
                                  "apply: it is back in review.")
    else:
        messages.success(request, f"Draft saved (revision {post.current_revision.number}).")
    return redirect("approvals:post_edit", pk=post.pk)


@member_required()
@require_POST
def post_autosave(request: HttpRequest, pk: int) -> HttpResponse:
    post = _post_or_404(request, pk, Capability.EDIT_POSTS)
    if post.status not in AUTOSAVE_STATES:
        return JsonResponse({"message": "This post has been submitted: save your changes with the Save button.",
                             "errors": {}}, status=409)
    form = _form(request, post, request.POST)
    if not form.is_valid():
        return _invalid_json(form.errors)
    try:
        post = _update(request, form, post)
    except ValidationError as error:
        return _invalid_json(_errors_of(error))
    except TransitionNotAllowed as error:
        return JsonResponse({"message": str(error), "errors": {}}, status=409)
    except Post.DoesNotExist:
        raise Http404("Not found.") from None
    return _saved_json(request, post)


@member_required(Capability.EDIT_POSTS)
@require_POST
def post_check(request: HttpRequest) -> JsonResponse:
    """The server's verdict on what the composer shows now (JSON for static/approvals/composer.js)."""
    membership = request.membership
    channels = services.publishable_channels(membership)
    allowed = {c.pk for c in channels}
    ids = [i for i in (whole_number(v) for v in request.POST.getlist("channels")) if i in allowed]
    post = None
    post_id = whole_number(request.POST.get("post", ""))
    if post_id is not None:
        post = Post.objects.visible_to(membership).filter(pk=post_id).first()
    rows = read_media(request.POST)
    files = {}
    if post is not None:
        files = {pk: reverse("approvals:post_media", kwargs={"pk": pk})
                 for pk in PostMedia.objects.filter(post=post, pk__in=[r.id for r in rows]).values_list("pk", flat=True)}
    draft = services.Draft(
        title=str(request.POST.get("title", ""))[:200], body=str(request.POST.get("body", ""))[:MAX_CHECK_TEXT],
        link=str(request.POST.get("link", ""))[:1000], channel_ids=ids,
        variants={k: v[:MAX_CHECK_TEXT] for k, v in read_variants(request.POST, ids, channels).items()},
        media=[{"id": r.id, "alt_text": r.alt_text[:1000]} for r in rows if r.id in files],
    )
    return JsonResponse(verdict(membership, draft, channels, files))


# ------------------------------------------------------------------------------------------- images
@member_required()
@require_POST
def post_media_upload(request: HttpRequest, pk: int) -> HttpResponse:
    post = _post_or_404(request, pk, Capability.EDIT_POSTS)
    upload = request.FILES.get("image")
    try:
        if upload is None:
            raise ValidationError({"image": "Choose an image file to upload."})
        if upload.size > media_service.MAX_BYTES:
            raise ValidationError({"image": f"That image is {upload.size / 1024 / 1024:.1f} MB; the limit is 5 MB."})
        media = media_service.media_upload(actor=request.membership, post_id=post.pk, content=upload.read(),
                                           filename=upload.name or "")
    except (ValidationError, TransitionNotAllowed) as error:
        message = " ".join(_errors_of(error).get("image", [])) if isinstance(error, ValidationError) else str(error)
        message = message or " ".join(m for v in _errors_of(error).values() for m in v)
        if _wants_json(request):
            return JsonResponse({"message": message}, status=409 if isinstance(error, TransitionNotAllowed) else 400)
        messages.error(request, message)
        return redirect("approvals:post_edit", pk=post.pk)
    except Post.DoesNotExist:
        raise Http404("Not found.") from None
    if _wants_json(request):
        return JsonResponse({
            "id": media.pk, "filename": media.filename, "width": media.width, "height": media.height,
            "url": reverse("approvals:post_media", kwargs={"pk": media.pk}),
        }, status=201)
    messages.success(request, "Image uploaded. Describe it in its alt text, then save.")
    return redirect("approvals:post_edit", pk=post.pk)


@member_required()
@require_GET
def post_media(request: HttpRequest, pk: int) -> HttpResponse:
    media = get_visible_or_404(PostMedia.objects.all(), request.membership, Capability.VIEW, pk=pk)
    # Served as stored, under the type its bytes were checked to be; never sniffed, never a page.
    response = HttpResponse(bytes(media.content), content_type=media.mime_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; sandbox"
    response["Cache-Control"] = "private, max-age=3600"
    response["Content-Disposition"] = "inline"
    return response


# ---------------------------------------------------------------------------------------- revisions
def _revision_number(raw: str | None) -> int | None:
    return whole_number(raw) if raw not in (None, "") else None


@member_required()
@require_GET
def post_revisions(request: HttpRequest, pk: int) -> HttpResponse:
    post = _post_or_404(request, pk, Capability.VIEW)
    zone_name = _zone(request.membership)
    revisions = list(post.revisions.select_related("author").order_by("-number"))
    by_number = {r.number: r for r in revisions}
    problem = ""
    a_raw, b_raw = request.GET.get("a"), request.GET.get("b")
    a_number, b_number = _revision_number(a_raw), _revision_number(b_raw)
    current = post.current_revision.number if post.current_revision else None
    if (a_raw or b_raw) and (a_number not in by_number or b_number not in by_number):
        problem = "Choose two revisions of this post to compare."
    if a_number not in by_number or b_number not in by_number:
        b_number = current
        a_number = (current - 1) if current and current - 1 in by_number else current
    before, after = by_number.get(a_number), by_number.get(b_number)
    diffs = compare(before, after) if before is not None and after is not None else []
    rows = [{"revision": r, "at": _local(r.created_at, zone_name), "hash": r.content_hash[:12],
             "current": r.pk == post.current_revision_id} for r in revisions]
    context = {
        "post": post, "rows": rows, "a": a_number, "b": b_number, "before": before, "after": after,
        "diffs": diffs, "changed": [d for d in diffs if d.changed], "problem": problem, "zone_name": zone_name,
        "can_edit": request.membership.can(Capability.EDIT_POSTS) and post.status in EDITABLE,
        "post_page_url": _post_page_url(post),
    }
    return render(request, "approvals/revisions.html", context, status=400 if problem else 200)


urls = [
    path("posts/new/", post_new, name="post_new"),
    path("posts/check/", post_check, name="post_check"),
    path("posts/<int:pk>/edit/", post_edit, name="post_edit"),
    path("posts/<int:pk>/autosave/", post_autosave, name="post_autosave"),
    path("posts/<int:pk>/media/", post_media_upload, name="post_media_upload"),
    path("posts/media/<int:pk>/", post_media, name="post_media"),
    path("posts/<int:pk>/revisions/", post_revisions, name="post_revisions"),
]
