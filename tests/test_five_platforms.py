"""Every platform end to end through the product's own pages, against the simulator (issue 3's "done when"):
a channel connected to the simulator's demo account is published to from the composer and the post page,
a member of the public answers the post on the simulator, the poll brings it into the inbox, and an agent
replies from the conversation page; the simulator then holds exactly one copy of the post and of the reply.

The Celery tasks are called as functions (the worker runs the same code); the connect flows themselves are
browser-tested in tests/browser/test_connect_channels.py.
"""

from __future__ import annotations

import pytest
import requests
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from approvals import publishing
from approvals.models import Post, PostStatus, PublishTarget, TargetState
from inbox.models import Conversation, Reply, ReplyState
from inbox.polling import channel_poll
from inbox.tasks.replies import send_reply
from simulator.platforms import bluesky as bsky_sim
from simulator.platforms import graph as graph_sim
from simulator.platforms import graph_api as graph_people
from simulator.platforms import x as x_sim
from tests.approvals_factories import demo_channel
from tests.conftest import add_member
from tests.inbox.test_reconcile_platforms import MASTODON_CITIZEN_ID, council_copies

pytestmark = pytest.mark.django_db

TINY_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000b49444154789c6360000200000500017a5eab3f0000000049454e44ae426082"
)
# Simulator page: which module answers, who the public is, and which account is the organisation's.
PUBLIC = {
    "x": ("x", x_sim.CITIZEN_ID, x_sim.COUNCIL_ID),
    "facebook": ("graph", graph_people.CITIZEN_ID, graph_sim.COUNCIL_PAGE_ID),
    "instagram": ("graph", graph_people.CITIZEN_ID, graph_sim.COUNCIL_IG_ID),
    "mastodon": ("mastodon", MASTODON_CITIZEN_ID, None),
    "bluesky": ("bsky", bsky_sim.CITIZEN_DID, bsky_sim.COUNCIL_DID),
}


def council_posts(sim, platform: str, text: str) -> list[str]:
    """Platform ids of the organisation's own posts (not comments or messages) with this text."""
    if platform == "facebook":
        return [p["id"] for p in sim.state()["graph"]["posts"].values()
                if p["author_id"] == graph_sim.COUNCIL_PAGE_ID and not p["deleted"] and p["message"] == text]
    if platform == "instagram":
        return [m["id"] for m in sim.state()["graph"]["ig_media"].values()
                if m["ig_id"] == graph_sim.COUNCIL_IG_ID and not m.get("carousel_parent") and m["caption"] == text]
    return council_copies(sim, platform, text)


def public_comments(sim, platform: str, channel, post_id: str, text: str) -> None:
    module, author, target = PUBLIC[platform]
    response = requests.post(
        f"{sim.url}/",
        data={"platform": module, "action": "comment", "author": author, "target": target or channel.account_id,
              "text": text, "post": post_id},
        timeout=5,
    )
    response.raise_for_status()
    assert "Choose" not in response.text and "there is no post" not in response.text


@pytest.mark.parametrize("platform", ["x", "facebook", "instagram", "mastodon", "bluesky"])
def test_publish_read_and_reply_from_the_pages(platform, sim, personas, login, client):
    a = personas.a
    channel = demo_channel(a, platform)
    editor, approver = a.members["editor"], a.members["approver"]
    agent = add_member(a, "agent", f"comms.agent.{platform}@alpha.example", ["Communications"])
    body = f"Street cleaning on {platform} starts Monday"

    # Publish: the composer, then submit and approve on the post page.
    editor_client = login(editor)
    response = editor_client.post(reverse("approvals:post_new"), {
        "title": f"Street cleaning ({platform})", "department": str(a.departments["Communications"].pk),
        "body": body, "link": "", "channels": [str(channel.pk)], "schedule": "approved", "scheduled_at": "",
        "notes": "",
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    post = Post.objects.get(title=f"Street cleaning ({platform})")
    if platform == "instagram":
        upload = editor_client.post(reverse("approvals:post_media_upload", kwargs={"pk": post.pk}),
                                    {"image": SimpleUploadedFile("sweeper.png", TINY_PNG, content_type="image/png")},
                                    HTTP_ACCEPT="application/json")
        assert upload.status_code == 201
        media_id = upload.json()["id"]
        editor_client.post(reverse("approvals:post_edit", kwargs={"pk": post.pk}), {
            "title": post.title, "department": str(post.department_id), "body": body, "link": "",
            "channels": [str(channel.pk)], "schedule": "approved", "scheduled_at": "", "notes": "",
            "media": [str(media_id)], f"alt_{media_id}": "A street sweeper at work",
        })
    assert editor_client.post(reverse("approvals:post_submit", kwargs={"pk": post.pk})).status_code == 302
    assert login(approver, client).post(reverse("approvals:post_approve", kwargs={"pk": post.pk})).status_code == 302
    post.refresh_from_db()
    assert post.status == PostStatus.SCHEDULED, post.status

    assert publishing.sweep_due() == 1
    target = PublishTarget.objects.get(post=post)
    assert publishing.publish(target.pk) == "sent"
    target.refresh_from_db()
    post.refresh_from_db()
    assert target.state == TargetState.SENT and post.status == PostStatus.PUBLISHED
    assert council_posts(sim, platform, body) == [target.platform_id]
    page = login(editor, client).get(reverse("approvals:post_detail", kwargs={"pk": post.pk})).content.decode()
    assert target.platform_url and target.platform_url in page

    # Read: the public answers the post; the poll brings it into the inbox.
    question = f"Which streets on {platform} first?"
    public_comments(sim, platform, channel, target.platform_id, question)
    result = channel_poll(channel.pk)
    assert result.status == "polled", result
    conversation = Conversation.objects.get(channel=channel, messages__text__contains=question)
    agent_client = login(agent, client)
    assert question[:20] in agent_client.get(reverse("inbox:list")).content.decode()

    # Reply from the conversation page.
    answer = f"Thanks, the map for {platform} is on our website."
    response = agent_client.post(reverse("inbox:reply", kwargs={"pk": conversation.pk}), {"text": answer, "mode": "public",
                                                                                           "send": "1"})
    assert response.status_code == 302, response.content.decode()[:2000]
    reply = Reply.objects.get(conversation=conversation)
    assert send_reply(reply.pk) == "sent"
    reply.refresh_from_db()
    assert reply.state == ReplyState.SENT
    assert council_copies(sim, platform, answer) == [reply.platform_id]
