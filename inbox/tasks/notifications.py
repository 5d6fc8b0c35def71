"""E-mail for people @mentioned in an internal note."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mass_mail
from django.urls import reverse

from inbox.models import Note


@shared_task(autoretry_for=(OSError,), retry_backoff=True, retry_jitter=True, max_retries=5)
def send_mention_emails(note_id: int, organisation_id: int) -> int:
    note = (
        Note.objects.for_organisation(organisation_id)
        .select_related("author", "conversation")
        .prefetch_related("mentions")
        .filter(pk=note_id)
        .first()
    )
    if note is None:
        return 0
    url = settings.SITE_URL.rstrip("/") + reverse("inbox:conversation", args=[note.conversation_id])
    messages = [
        (
            f"{note.author} mentioned you in Civic Desk",
            f"{note.author} mentioned you in a note on a conversation:\n\n{note.text}\n\nOpen it: {url}\n",
            settings.DEFAULT_FROM_EMAIL,
            [user.email],
        )
        for user in note.mentions.all()
        if user.pk != note.author_id
    ]
    return send_mass_mail(messages, fail_silently=False) if messages else 0
