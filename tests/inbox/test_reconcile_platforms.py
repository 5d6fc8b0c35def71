"""Settling an ambiguous send by reading the platform, on every platform (issue 4 §3), against the simulator.

(1) Each connector's find_reply / find_dm finds the reply or direct message it posted (same platform id), also
when the platform put mentions in front, and finds nothing for words never sent or for another thread.
(2) End to end: the platform stores the reply and then answers 500 (accept_then_error); send_reply leaves the
reply unknown, reconcile_reply reads the platform and marks it sent with the id of the one copy; the simulator
holds exactly one copy. Public replies and direct messages wherever inbox.replies lets a platform use them.
Tasks are called as functions (the worker runs the same code)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from channels_app import services as channel_services
from channels_app.connectors import get_connector
from inbox.models import Contact, Conversation, ConversationKind, Message, MessageDirection, Reply, ReplyState
from inbox.replies import reply_create
from inbox.tasks.replies import reconcile_reply, send_reply
from simulator.platforms import bluesky as bsky_sim
from simulator.platforms import graph as graph_sim
from simulator.platforms import mastodon as mastodon_sim
from simulator.platforms import x as x_sim
from tests.inbox_factories import make_conversation

CITIZEN_AUTH = {"Authorization": "Bearer sim-citizen-token"}
MASTODON_CITIZEN_ID = "110000000000000101"
MASTODON_COUNCIL = mastodon_sim.DEMO_ACCOUNTS[0]
GRAPH = "/v21.0"
SIM_NAMES = {"facebook": "graph", "instagram": "graph", "bluesky": "bsky", "mastodon": "mastodon", "x": "x"}


# ------------------------------------------------------------------------------------------- channels
def connect(org, sim, platform: str):
    """The council's account on the simulator, connected to Customer Services."""
    if platform == "x":
        account, account_id, instance = x_sim.DEMO_ACCOUNTS[0], x_sim.COUNCIL_ID, ""
    elif platform in ("facebook", "instagram"):
        account = next(a for a in graph_sim.DEMO_ACCOUNTS if a["platform"] == platform)
        account_id, instance = account["account_id"], ""
    elif platform == "mastodon":
        account, instance = MASTODON_COUNCIL, f"{sim.url}/mastodon"
        account_id = account["account_id"]
    else:
        account = bsky_sim.DEMO_ACCOUNTS[0]
        account_id, instance = account["account_id"], ""
    return channel_services.channel_connect(
        actor=None, department=org.departments["Customer Services"], platform=platform, account_id=account_id,
        handle=account["handle"], credentials=dict(account["credentials"]), instance_url=instance,
    )


# -------------------------------------------------------------------------------- the citizen writes
def graph_citizen(sim, method: str, path: str, **kwargs) -> dict:
    response = requests.request(method, f"{sim.url}/graph{GRAPH}/{path}", headers=CITIZEN_AUTH, timeout=5, **kwargs)
    assert response.status_code == 200, response.text
    return response.json()


def graph_state(sim) -> dict:
    return sim.state()["graph"]


def graph_page_action(sim, **form) -> None:
    requests.post(f"{sim.url}/", data={"platform": "graph", "author": graph_sim.CITIZEN_ID, **form}, timeout=5).raise_for_status()


def newest_council_post(sim) -> str:
    posts = [p for p in graph_state(sim)["posts"].values() if p["author_id"] == graph_sim.COUNCIL_PAGE_ID and not p["deleted"]]
    return max(posts, key=lambda p: p["created"])["id"]


def newest_council_media(sim) -> str:
    media = [m for m in graph_state(sim)["ig_media"].values()
             if m["ig_id"] == graph_sim.COUNCIL_IG_ID and not m["carousel_parent"]]
    return max(media, key=lambda m: m["created"])["id"]


def citizen_messages_graph(sim, platform: str, text: str) -> tuple[str, str]:
    """The citizen writes to the Page (or its Instagram account): (conversation id, message id)."""
    if platform == "facebook":
        graph_citizen(sim, "POST", "me/messages",
                      json={"recipient": {"id": graph_sim.COUNCIL_PAGE_ID}, "message": {"text": text}})
    else:
        graph_page_action(sim, action="dm", target=graph_sim.COUNCIL_IG_ID, text=text)
    message = max((m for m in graph_state(sim)["messages"].values() if m["text"] == text), key=lambda m: m["order"])
    return message["conversation_id"], message["id"]


def mastodon_citizen_posts(sim, text: str, **params) -> dict:
    response = requests.post(f"{sim.url}/mastodon/api/v1/statuses", json={"status": text, **params},
                             headers=CITIZEN_AUTH, timeout=5)
    assert response.status_code == 200, response.text
    return response.json()


def bsky_citizen(sim, method: str, nsid: str, **kwargs) -> dict:
    response = requests.request(method, f"{sim.url}/bsky/xrpc/{nsid}", headers=CITIZEN_AUTH, timeout=5, **kwargs)
    assert response.status_code == 200, response.text
    return response.json()


def bsky_citizen_mentions(sim, text: str) -> str:
    text = f"@democouncil.bsky.social {text}"
    facet = {"index": {"byteStart": 0, "byteEnd": 24},
             "features": [{"$type": "app.bsky.richtext.facet#mention", "did": bsky_sim.COUNCIL_DID}]}
    record = {"$type": "app.bsky.feed.post", "text": text, "createdAt": "2026-01-05T10:00:00.000Z", "facets": [facet]}
    return bsky_citizen(sim, "POST", "com.atproto.repo.createRecord",
                        json={"repo": bsky_sim.CITIZEN_DID, "collection": "app.bsky.feed.post", "record": record})["uri"]


def bsky_citizen_messages(sim, text: str) -> tuple[str, str]:
    convo = bsky_citizen(sim, "GET", "chat.bsky.convo.getConvoForMembers", params={"members": bsky_sim.COUNCIL_DID})
    convo_id = convo["convo"]["id"]
    sent = bsky_citizen(sim, "POST", "chat.bsky.convo.sendMessage", json={"convoId": convo_id, "message": {"text": text}})
    return convo_id, sent["id"]


def x_citizen_mentions(sim, text: str) -> str:
    response = requests.post(f"{sim.url}/x/2/tweets", json={"text": f"@democouncil {text}"}, headers=CITIZEN_AUTH, timeout=5)
    response.raise_for_status()
    return response.json()["data"]["id"]


def x_citizen_messages(sim, text: str) -> tuple[str, str]:
    response = requests.post(f"{sim.url}/x/2/dm_conversations/with/{x_sim.COUNCIL_ID}/messages", json={"text": text},
                             headers=CITIZEN_AUTH, timeout=5)
    response.raise_for_status()
    data = response.json()["data"]
    return data["dm_conversation_id"], data["dm_event_id"]


# ------------------------------------------------------------------------------- what the council sent
def council_copies(sim, platform: str, text: str) -> list[str]:
    """Platform ids of everything the council's account holds whose text is (or ends with) `text`."""
    state = sim.state()
    if platform == "facebook":
        graph = state["graph"]
        found = [c["id"] for c in graph["comments"].values()
                 if c["author_id"] == graph_sim.COUNCIL_PAGE_ID and not c["deleted"] and c["message"] == text]
        return found + [m["id"] for m in graph["messages"].values()
                        if m["from_id"] == graph_sim.COUNCIL_PAGE_ID and m["text"] == text]
    if platform == "instagram":
        graph = state["graph"]
        found = [c["id"] for c in graph["ig_comments"].values()
                 if c["author_id"] == graph_sim.COUNCIL_IG_ID and not c["deleted"] and c["text"] == text]
        return found + [m["id"] for m in graph["messages"].values()
                        if m["from_id"] == graph_sim.COUNCIL_IG_ID and m["text"] == text]
    if platform == "mastodon":
        return [s["id"] for s in state["mastodon"]["statuses"].values()
                if s["account_id"] == MASTODON_COUNCIL["account_id"] and s["text"].endswith(text)]
    if platform == "bluesky":
        bsky = state["bsky"]
        found = [r["uri"] for r in bsky["records"].values()
                 if r["did"] == bsky_sim.COUNCIL_DID and (r["value"].get("text") or "") == text]
        return found + [m["id"] for convo in bsky["convos"].values() for m in convo["messages"]
                        if m["sender"]["did"] == bsky_sim.COUNCIL_DID and m["text"] == text]
    x = state["x"]
    found = [t["id"] for t in x["tweets"].values() if t["author_id"] == x_sim.COUNCIL_ID and t["text"].endswith(text)]
    return found + [e["id"] for e in x["dm_events"].values() if e["sender_id"] == x_sim.COUNCIL_ID and e["text"] == text]


# -------------------------------------------------------------------------------------- conversations
CITIZEN_IDS = {
    "facebook": graph_sim.CITIZEN_ID, "instagram": graph_sim.CITIZEN_IG_ID, "mastodon": MASTODON_CITIZEN_ID,
    "bluesky": bsky_sim.CITIZEN_DID, "x": x_sim.CITIZEN_ID,
}


def conversation_on(org, channel, *, key: str, message_id: str, kind: str) -> Conversation:
    """A conversation holding the citizen's real message on the simulator, as ingestion would store it."""
    contact, _ = Contact.objects.get_or_create(
        organisation=org.organisation, platform=channel.platform, platform_user_id=CITIZEN_IDS[channel.platform],
        defaults={"handle": "citizen", "name": "A Citizen"},
    )
    conversation = make_conversation(org, channel=channel, contact=contact, kind=kind, messages=0)
    Conversation.objects.filter(pk=conversation.pk).update(key=key)
    Message.objects.create(
        organisation=org.organisation, channel=channel, conversation=conversation, platform_message_id=message_id,
        kind="dm" if kind == ConversationKind.PRIVATE else "comment", text="Where is my bin?", author=contact,
        created_at=timezone.now() - timedelta(minutes=5),
    )
    conversation.refresh_from_db()
    return conversation


@dataclass(frozen=True)
class Case:
    """One way a citizen starts a conversation, and which request of ours sends the answer."""

    platform: str
    start: str  # comment | nested | mention | dm
    mode: str  # public | dm
    fault_path: str  # the POST that carries the reply, inside the platform's prefix

    @property
    def id(self) -> str:
        return f"{self.platform}-{self.start}-{self.mode}"


def start_conversation(org, sim, channel, start: str) -> Conversation:
    key, message_id, kind = citizen_starts(sim, channel.platform, start)
    return conversation_on(org, channel, key=key, message_id=message_id, kind=kind)


def citizen_starts(sim, platform: str, start: str) -> tuple[str, str, str]:
    """The citizen writes on the simulator: (thread key, message id, conversation kind), as ingestion keys them."""
    public, private = ConversationKind.PUBLIC, ConversationKind.PRIVATE
    if platform == "facebook":
        if start == "dm":
            key, message_id = citizen_messages_graph(sim, "facebook", "Is the tip open on Sunday?")
            return key, message_id, private
        if start == "mention":
            # A post of the citizen's that tags the Page: our answer is a comment on it.
            graph_page_action(sim, action="mention", target=graph_sim.COUNCIL_PAGE_ID, text="Thanks for the new bins")
            post = max((p for p in graph_state(sim)["posts"].values() if p["author_id"] == graph_sim.CITIZEN_ID),
                       key=lambda p: (p["created"], p["id"]))["id"]
            return post, post, public
        post = newest_council_post(sim)
        comment = graph_citizen(sim, "POST", f"{post}/comments", data={"message": "My bin was missed"})["id"]
        if start == "nested":
            # A follow-up in the thread: Facebook threads one level deep, so our answer joins the first comment.
            comment = graph_citizen(sim, "POST", f"{comment}/comments", data={"message": "Still missed today"})["id"]
        return post, comment, public
    if platform == "instagram":
        if start == "dm":
            key, message_id = citizen_messages_graph(sim, "instagram", "Can I volunteer in the park?")
            return key, message_id, private
        if start == "mention":
            graph_page_action(sim, action="mention", target=graph_sim.COUNCIL_IG_ID, text="Look at the park")
            media = max((m for m in graph_state(sim)["ig_media"].values() if m["ig_id"] == graph_sim.CITIZEN_IG_ID),
                        key=lambda m: (m["created"], int(m["id"])))["id"]
            return media, media, public
        media = newest_council_media(sim)
        comment = graph_citizen(sim, "POST", f"{media}/comments", data={"message": "Which park is this?"})["id"]
        if start == "nested":
            comment = graph_citizen(sim, "POST", f"{comment}/replies", data={"message": "Is it Victoria Park?"})["id"]
        return media, comment, public
    if platform == "mastodon":
        if start == "dm":
            status = mastodon_citizen_posts(sim, "@democouncil my bin was missed", visibility="direct")
            key = sim.state()["mastodon"]["statuses"][str(status["id"])]["conversation_id"]
            return key, str(status["id"]), private
        status = mastodon_citizen_posts(sim, "@democouncil my bin was missed")
        return str(status["id"]), str(status["id"]), public
    if platform == "bluesky":
        if start == "dm":
            key, message_id = bsky_citizen_messages(sim, "My address is 4 Elm Road")
            return key, message_id, private
        uri = bsky_citizen_mentions(sim, "my bin was missed")
        return uri, uri, public
    if start == "dm":
        key, message_id = x_citizen_messages(sim, "Can I ask about my council tax?")
        return key, message_id, private
    tweet = x_citizen_mentions(sim, "my bin was missed")
    return tweet, tweet, public


GRAPH_POST = f"{GRAPH}/"
CASES = [
    Case("facebook", "comment", "public", GRAPH_POST),
    Case("facebook", "nested", "public", GRAPH_POST),
    Case("facebook", "mention", "public", GRAPH_POST),
    Case("facebook", "dm", "dm", f"{GRAPH}/{graph_sim.COUNCIL_PAGE_ID}/messages"),
    Case("instagram", "comment", "public", GRAPH_POST),
    Case("instagram", "nested", "public", GRAPH_POST),
    Case("instagram", "mention", "public", f"{GRAPH}/{graph_sim.COUNCIL_IG_ID}/mentions"),
    Case("instagram", "dm", "dm", f"{GRAPH}/{graph_sim.COUNCIL_PAGE_ID}/messages"),
    Case("mastodon", "mention", "public", "/api/v1/statuses"),
    Case("mastodon", "mention", "dm", "/api/v1/statuses"),
    Case("mastodon", "dm", "dm", "/api/v1/statuses"),
    Case("bluesky", "mention", "public", "/xrpc/com.atproto.repo.createRecord"),
    Case("bluesky", "mention", "dm", "/xrpc/chat.bsky.convo.sendMessage"),
    Case("bluesky", "dm", "dm", "/xrpc/chat.bsky.convo.sendMessage"),
    Case("x", "mention", "dm", "/2/dm_conversations"),
    Case("x", "dm", "dm", "/2/dm_conversations"),
]


# ============================================================================ (1) the connectors read back
@pytest.mark.parametrize("case", [c for c in CASES if c.mode == "public"], ids=lambda c: c.id)
def test_find_reply_finds_the_posted_reply_and_nothing_else(personas, sim, case):
    a = personas.a
    channel = connect(a, sim, case.platform)
    conversation = start_conversation(a, sim, channel, case.start)
    in_reply_to = Message.objects.get(conversation=conversation).platform_message_id
    _key, elsewhere, _kind = citizen_starts(sim, case.platform, case.start)
    connector = get_connector(channel)
    text = f"Thanks, a crew is on its way ({case.id})."

    assert connector.find_reply(in_reply_to=in_reply_to, text=text) is None
    posted = connector.reply(in_reply_to=in_reply_to, text=text)
    assert posted.platform_id in council_copies(sim, case.platform, text)

    found = get_connector(channel).find_reply(in_reply_to=in_reply_to, text=text)
    assert found is not None and found.platform_id == posted.platform_id
    assert connector.find_reply(in_reply_to=in_reply_to, text="Words we never sent.") is None
    assert connector.find_reply(in_reply_to=in_reply_to, text=text[:-1]) is None
    # The same words in another thread are another reply, not this one.
    assert connector.find_reply(in_reply_to=elsewhere, text=text) is None


@pytest.mark.parametrize("case", [c for c in CASES if c.mode == "dm"], ids=lambda c: c.id)
def test_find_dm_finds_the_sent_message_and_nothing_else(personas, sim, case):
    a = personas.a
    channel = connect(a, sim, case.platform)
    conversation = start_conversation(a, sim, channel, case.start)
    key = conversation.key if conversation.kind == ConversationKind.PRIVATE else ""
    recipient = conversation.contact.platform_user_id
    connector = get_connector(channel)
    text = f"Yes, ask away ({case.id})."

    assert connector.find_dm(conversation_key=key, recipient_id=recipient, text=text) is None
    sent = connector.send_dm(conversation_key=key, recipient_id=recipient, text=text)
    assert sent.platform_id in council_copies(sim, case.platform, text)

    found = get_connector(channel).find_dm(conversation_key=key, recipient_id=recipient, text=text)
    assert found is not None and found.platform_id == sent.platform_id
    assert connector.find_dm(conversation_key=key, recipient_id=recipient, text="Words we never sent.") is None


def test_mastodon_reply_and_message_carry_the_mention_in_front_and_still_match(personas, sim):
    a = personas.a
    channel = connect(a, sim, "mastodon")
    public = start_conversation(a, sim, channel, "mention")
    connector = get_connector(channel)

    posted = connector.reply(in_reply_to=public.key, text="On Tuesdays.")
    assert sim.state()["mastodon"]["statuses"][posted.platform_id]["text"] == "@citizen On Tuesdays."
    assert connector.find_reply(in_reply_to=public.key, text="On Tuesdays.").platform_id == posted.platform_id
    # A mention in front is the platform's; words in front are another post.
    assert connector.find_reply(in_reply_to=public.key, text="Tuesdays.") is None

    sent = connector.send_dm(conversation_key="", recipient_id=MASTODON_CITIZEN_ID, text="Your permit is ready.")
    assert sim.state()["mastodon"]["statuses"][sent.platform_id]["text"] == "@citizen Your permit is ready."
    found = connector.find_dm(conversation_key="", recipient_id=MASTODON_CITIZEN_ID, text="Your permit is ready.")
    assert found is not None and found.platform_id == sent.platform_id


def test_x_reply_with_the_mention_in_front_still_matches(personas, sim):
    a = personas.a
    channel = connect(a, sim, "x")
    conversation = start_conversation(a, sim, channel, "mention")
    connector = get_connector(channel)
    posted = connector.reply(in_reply_to=conversation.key, text="A crew is on its way.")
    assert sim.state()["x"]["tweets"][posted.platform_id]["text"] == "@citizen A crew is on its way."
    assert connector.find_reply(in_reply_to=conversation.key, text="A crew is on its way.").platform_id == posted.platform_id


def test_a_direct_message_with_the_same_words_to_someone_else_is_not_ours(personas, sim):
    """The out-of-hours reply sends the same words to everyone: finding it for one person must not settle another's."""
    a = personas.a
    words = "We are closed now and will answer on Monday."
    # Mastodon: the council writes to the citizen; a message to another account with these words is not found for them.
    mastodon = get_connector(connect(a, sim, "mastodon"))
    other_account = next(acc["account_id"] for acc in mastodon_sim.DEMO_ACCOUNTS[1:])
    mastodon.send_dm(conversation_key="", recipient_id=other_account, text=words)
    assert mastodon.find_dm(conversation_key="", recipient_id=MASTODON_CITIZEN_ID, text=words) is None
    assert mastodon.find_dm(conversation_key="", recipient_id=other_account, text=words) is not None
    # Bluesky: the same, through the conversation with each member.
    bluesky = get_connector(connect(a, sim, "bluesky"))
    bluesky.send_dm(conversation_key="", recipient_id=bsky_sim.NEIGHBOUR_DID, text=words)
    assert bluesky.find_dm(conversation_key="", recipient_id=bsky_sim.CITIZEN_DID, text=words) is None
    assert bluesky.find_dm(conversation_key="", recipient_id=bsky_sim.NEIGHBOUR_DID, text=words) is not None
    # X: by conversation, and by participant.
    x = get_connector(connect(a, sim, "x"))
    key, _ = x_citizen_messages(sim, "Hello")
    x.send_dm(conversation_key="", recipient_id=x_sim.NEIGHBOUR_ID, text=words)
    assert x.find_dm(conversation_key=key, recipient_id=x_sim.CITIZEN_ID, text=words) is None
    assert x.find_dm(conversation_key="", recipient_id=x_sim.CITIZEN_ID, text=words) is None
    assert x.find_dm(conversation_key="", recipient_id=x_sim.NEIGHBOUR_ID, text=words) is not None


# ======================================================================= (2) end to end: unknown → sent once
# A read timeout after the platform stored the post, once per kind of HTTP client (Graph, Mastodon.py, XRPC).
SLOW = {"facebook-dm-dm", "instagram-comment-public", "mastodon-mention-public", "bluesky-dm-dm"}


@pytest.mark.parametrize(
    ("case", "fault"),
    [(c, "accept_then_error") for c in CASES]
    + [(c, "accept_then_slow") for c in CASES if c.id in SLOW],
    ids=lambda v: v.id if isinstance(v, Case) else v,
)
def test_a_reply_the_platform_stored_before_failing_is_found_and_never_sent_twice(personas, sim, settings, case, fault):
    a = personas.a
    channel = connect(a, sim, case.platform)
    conversation = start_conversation(a, sim, channel, case.start)
    text = f"We have logged it: ref 4471 ({case.id})."
    reply = reply_create(actor=a.members["agent"], conversation_id=conversation.pk, text=text, mode=case.mode)
    assert reply.mode == case.mode
    # accept_then_slow: the answer comes after we stopped waiting (a read timeout) although the post is stored.
    settings.PLATFORM_TIMEOUT_SECONDS = 1
    sim.fault(SIM_NAMES[case.platform], fault, path=case.fault_path, method="POST", delay=2.5)

    assert send_reply(reply.pk) == "unknown"
    reply.refresh_from_db()
    assert reply.state == ReplyState.UNKNOWN and reply.platform_id == ""
    [copy] = council_copies(sim, case.platform, text)
    assert send_reply(reply.pk) == "not claimed"

    assert reconcile_reply(reply.pk) == "sent"
    reply.refresh_from_db()
    assert reply.state == ReplyState.SENT and reply.platform_id == copy
    assert council_copies(sim, case.platform, text) == [copy]
    outbound = Message.objects.get(conversation=conversation, direction=MessageDirection.OUTBOUND)
    assert outbound.platform_message_id == copy
    # Settled: nothing more to send or read.
    assert send_reply(reply.pk) == "not claimed"
    assert reconcile_reply(reply.pk) == "nothing to do"
    assert Reply.objects.get(pk=reply.pk).attempts == 1
