"""Records request for a post (issue 6 §6): revisions with hashes, approvals, comments, targets and the audit
history in a ZIP with HTML and JSON; admins only; another organisation gets a 404; the export is audited."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import pytest
from django.core.exceptions import PermissionDenied

from approvals import records, services
from approvals.models import Post
from audit.chain import event_hash
from audit.models import AuditEvent, EventType
from tests.approvals_factories import make_post
from tests.inbox_factories import make_channel


@pytest.fixture
def post(personas):
    org = personas.a
    post = make_post(org, [make_channel(org, department="Communications", platform="mastodon")])
    services.comment_add(actor=org.members["approver"], post_id=post.pk, text="Add the depot phone number.")
    services.post_submit(actor=org.members["editor"], post_id=post.pk)
    services.post_approve(actor=org.members["approver"], post_id=post.pk)
    return post


def _open(body: bytes):
    archive = zipfile.ZipFile(io.BytesIO(body))
    assert sorted(archive.namelist()) == ["SHA256SUMS", "post.html", "post.json"]
    return json.loads(archive.read("post.json")), archive.read("post.html").decode()


def test_bundle_holds_revisions_approvals_comments_targets_and_audit(personas, post):
    data, html = _open(records.post_bundle(personas.a.members["admin"], post.pk))

    revision = data["revisions"][0]
    assert revision["body"] == "Bins are collected on Monday." and len(revision["content_hash"]) == 64
    assert data["approvals"][0]["decision"] == "approved"
    assert data["approvals"][0]["revision_hash"] == revision["content_hash"]
    assert data["approvals"][0]["hash_matches_revision"] is True
    assert data["comments"][0]["text"] == "Add the depot phone number."
    assert data["targets"][0]["channel"]["platform"] == "mastodon"
    types = [event["event_type"] for event in data["audit_events"]]
    assert EventType.POST_CREATED in types and EventType.POST_APPROVED in types
    assert EventType.RECORDS_REQUEST_EXPORTED not in types  # written after the bundle, with its hash
    for event in data["audit_events"]:
        assert event["hash"] and event_hash(event) == event["hash"]
    assert "Bins are collected on Monday." in html and revision["content_hash"] in html
    assert "<script" not in html and "src=" not in html


@pytest.mark.parametrize("role", ["manager", "approver", "editor", "agent", "viewer"])
def test_only_admins_export(personas, post, role):
    with pytest.raises(PermissionDenied):
        records.post_bundle(personas.a.members[role], post.pk)


def test_download_view_roles_tenancy_and_audit(personas, post, login, client):
    url = f"/posts/{post.pk}/records.zip"
    login(personas.a.members["admin"])
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    data, _ = _open(response.content)
    assert data["post"]["id"] == post.pk
    event = AuditEvent.objects.get(event_type=EventType.RECORDS_REQUEST_EXPORTED)
    assert (event.target_type, event.target_id) == ("approvals.post", str(post.pk))
    assert event.changes["sha256"] == hashlib.sha256(response.content).hexdigest()

    login(personas.a.members["editor"])
    assert client.get(url).status_code == 403
    login(personas.outsider)
    assert client.get(url).status_code == 404
    with pytest.raises(Post.DoesNotExist):
        records.post_bundle(personas.outsider, post.pk)
    assert AuditEvent.objects.filter(event_type=EventType.RECORDS_REQUEST_EXPORTED).count() == 1


def test_building_the_bundle_does_not_hold_the_audit_chain_lock(personas, post):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.inbox.test_records import reads_after_the_chain_lock

    with CaptureQueriesContext(connection) as captured:
        body = records.post_bundle(personas.a.members["admin"], post.pk)
    queries = [q["sql"] for q in captured.captured_queries]
    assert any('"approvals_postrevision"' in sql for sql in queries)
    assert reads_after_the_chain_lock(queries, ("approvals_", "accounts_", "channels_app_")) == []
    event = AuditEvent.objects.get(event_type=EventType.RECORDS_REQUEST_EXPORTED)
    assert event.changes["sha256"] == hashlib.sha256(body).hexdigest()
