"""Every KPI figure on the four dashboard pages has its definition beside it (issue 7 §2: "Every KPI has its
definition shown beside it"), word for word from metrics.definitions.KPIS (the words the API and docs use).

The pages attach definitions in three ways, and each figure is checked where it is shown:
- an overview card (li#figure-<key>) holds a <details class="dash-card__definition"> with the definition;
- a table (table#table-<name>, from templates/metrics/_table.html) is followed, before the next table, by a
  <details class="dash-definitions"> listing <dt>label</dt><dd>definition</dd> for the figures of its columns
  (and of its rows, for a table of figures);
- a summary of figures at the top of a page (the engagement totals, the channel-shift totals) has such a
  <details> in its own section.
Which KPI each column, row or summary shows is written out by hand below (the test's own reading of the page,
not the code's list), and a column the test does not know fails it, so a new figure needs its definition.
"""

from __future__ import annotations

from datetime import date, timedelta
from html.parser import HTMLParser

import pytest

from metrics import rollups
from metrics.definitions import KPIS
from metrics.models import OfflineContactVolume
from tests.inbox_factories import make_channel
from tests.metrics.factories import published, snapshot, thread, utc

pytestmark = pytest.mark.django_db

PERIOD = {"preset": "custom", "from": "2026-03-01", "to": "2026-03-31", "compare": "1"}

# The overview's cards: card key → the KPI it shows.
CARDS = {
    "conversations_opened": "conversations_opened", "inbound_messages": "inbound_messages",
    "outbound_messages": "outbound_messages", "conversations_closed": "conversations_closed",
    "first_response_p50": "first_response_time", "first_response_office_p50": "first_response_time",
    "first_response_p90": "first_response_time", "resolution_p50": "resolution_time",
    "first_response_sla_percent": "first_response_sla", "resolution_sla_percent": "resolution_sla",
    "posts": "posts", "engagements": "engagements", "follower_growth": "follower_growth",
}
# Table headings (columns, and the rows of a table of figures) → the KPI they show; None: not a KPI (a name, a
# date, a platform's own number such as impressions, or the count the times are taken over).
HEADINGS = {
    "Contacts (conversations opened)": "conversations_opened",
    "Inbound messages": "inbound_messages",
    "Replies sent": "outbound_messages",
    "Conversations closed": "conversations_closed",
    "Automatic replies (part of replies sent)": "automatic_replies",
    "Conversations replied to": "agent_replies",
    "First responses": "first_response_time",
    "First response, median (clock)": "first_response_time",
    "First response, median (office hours)": "first_response_time",
    "First response, 90th percentile (clock)": "first_response_time",
    "First response, 90th percentile (office hours)": "first_response_time",
    "Resolution, median (clock)": "resolution_time",
    "Resolution, median (office hours)": "resolution_time",
    "Resolution, 90th percentile (clock)": "resolution_time",
    "Resolution, 90th percentile (office hours)": "resolution_time",
    "First-response target met": "first_response_sla",
    "Resolution target met": "resolution_sla",
    "Posts": "posts",
    "Engagements": "engagements",
    "Engagement rate": "engagement_rate",
    "Rate method": "engagement_rate",
    "Followers at start": "follower_growth",
    "Followers at end": "follower_growth",
    "Follower growth": "follower_growth",
    "Hour (organisation time)": "best_hours",
    "Average engagement rate": "best_hours",
    "Digital contacts (Civic Desk)": "digital_share",
    "Phone": "digital_share", "E-mail": "digital_share", "Face to face": "digital_share", "Web forms": "digital_share",
    "Offline contacts": "digital_share",
    "Digital share": "digital_share",
    "Offline cost per contact": "cost_avoided",
    "Cost based on": "cost_avoided",
    "Cost avoided": "cost_avoided",
    "Cost per contact": "cost_avoided",
    **dict.fromkeys(["Figure", "This period", "Previous period", "Change", "Day", "Week starting", "Month",
                     "Channel", "Platform", "Department", "Agent", "Conversations of", "Conversations", "Answered",
                     "Post", "Published", "Impressions", "Followers", "Contact channel", "Whose figure", "Source"]),
}
# In the per-agent table "Replies sent" are that person's replies.
TABLE_HEADINGS = {"per_agent": {"Replies sent": "agent_replies"}}
# The summaries of figures above the tables: element id → the KPIs it shows.
SUMMARIES = {
    "engagement": {"engagement-totals": {"posts", "engagements"}},
    "channel_shift": {"shift-totals": {"digital_share", "cost_avoided"}},
}
PAGES = {
    "overview": ("/dashboards/", {"contacts_per_day"}),
    "inbox": ("/dashboards/inbox/", {"totals", "contacts_per_day", "contacts_per_day_by_channel", "per_channel",
                                     "per_platform", "per_department", "response_times", "per_agent"}),
    "engagement": ("/dashboards/engagement/", {"channels", "top_posts", "bottom_posts", "best_hours"}),
    "channel_shift": ("/dashboards/channel-shift/", {"months", "costs"}),
}


# --------------------------------------------------------------------------------------- a small DOM
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Node:
    def __init__(self, tag: str, attrs: dict, parent: Node | None):
        self.tag, self.attrs, self.parent, self.children = tag, attrs, parent, []

    @property
    def classes(self) -> set[str]:
        return set((self.attrs.get("class") or "").split())

    def text(self) -> str:
        return " ".join(" ".join(c if isinstance(c, str) else c.text() for c in self.children).split())

    def elements(self):
        for child in self.children:
            if isinstance(child, Node):
                yield child
                yield from child.elements()

    def find_all(self, tag: str, cls: str = "") -> list[Node]:
        return [n for n in self.elements() if n.tag == tag and (not cls or cls in n.classes)]

    def by_id(self, ident: str) -> Node | None:
        return next((n for n in self.elements() if n.attrs.get("id") == ident), None)

    def ancestor(self, tag: str) -> Node | None:
        node = self.parent
        while node is not None and node.tag != tag:
            node = node.parent
        return node


class _Tree(HTMLParser):
    def __init__(self):
        super().__init__()
        self.root = self.node = Node("#document", {}, None)

    def handle_starttag(self, tag, attrs):
        node = Node(tag, dict(attrs), self.node)
        self.node.children.append(node)
        if tag not in VOID:
            self.node = node

    def handle_endtag(self, tag):
        node = self.node
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.node = node.parent

    def handle_data(self, data):
        self.node.children.append(data)


def parse(html: str) -> Node:
    tree = _Tree()
    tree.feed(html)
    tree.close()
    return tree.root


def listed(details: Node) -> dict[str, str]:
    """A definitions block's <dt> label → <dd> text."""
    pairs, label = {}, None
    for node in details.elements():
        if node.tag == "dt":
            label = node.text()
        elif node.tag == "dd" and label is not None:
            pairs[label] = node.text()
    return pairs


def definitions_after(table: Node) -> dict[str, str]:
    """The definitions block that follows a table's wrapper, before the next table (templates/metrics/_table.html)."""
    wrapper = table.ancestor("div")
    siblings = [c for c in wrapper.parent.children if isinstance(c, Node)]
    found: dict[str, str] = {}
    for node in siblings[siblings.index(wrapper) + 1:]:
        if "dash-table-wrap" in node.classes or "dash-empty" in node.classes:
            break
        if node.tag == "details" and "dash-definitions" in node.classes:
            found.update(listed(node))
    return found


def shown(key: str) -> tuple[str, str]:
    return KPIS[key].label, KPIS[key].definition


# ------------------------------------------------------------------------------------------- the data
@pytest.fixture
def month(personas):
    """March 2026: answered, closed and unanswered contacts in both departments, posts with impressions and with
    followers, follower snapshots and offline volumes, so that every table on every page has rows."""
    org = personas.a
    x = make_channel(org, "Customer Services", "x")
    mastodon = make_channel(org, "Communications", "mastodon")
    for day in (3, 10, 17):
        at = utc(2026, 3, day, 10)
        thread(org, x, [at], [(at + timedelta(minutes=40), org.user("agent"))], closed_at=at + timedelta(hours=5))
        thread(org, mastodon, [at + timedelta(hours=1)], [(at + timedelta(hours=1, minutes=1), None),
                                                         (at + timedelta(hours=2), org.user("manager"))])
        thread(org, x, [at + timedelta(hours=3)])
        published(org, x, at, likes=day, impressions=50 * day, rate=2.0, method="impressions")
        published(org, mastodon, at + timedelta(hours=4), likes=3, followers=300, rate=1.0, method="followers")
    snapshot(org, mastodon, date(2026, 3, 1), 300)
    snapshot(org, mastodon, date(2026, 3, 31), 312)
    OfflineContactVolume.objects.create(organisation=org.organisation, department=org.departments["Communications"],
                                        month=date(2026, 3, 1), channel="phone", volume=40)
    rollups.refresh(org.organisation.pk, now=utc(2026, 4, 1))
    return org


def _page(client, page: str) -> Node:
    response = client.get(PAGES[page][0], PERIOD)
    assert response.status_code == 200
    return parse(response.content.decode())


# ------------------------------------------------------------------------------------------- the tests
def test_every_overview_card_has_its_definition_inside_it(personas, login, month):
    dom = _page(login(personas.a.members["manager"]), "overview")
    cards = {n.attrs["id"].removeprefix("figure-"): n for n in dom.find_all("li", "dash-card")}
    assert set(cards) == set(CARDS)
    for key, kpi in CARDS.items():
        card = cards[key]
        assert card.find_all("p", "dash-card__value"), key
        blocks = card.find_all("details", "dash-card__definition")
        assert len(blocks) == 1, key
        assert KPIS[kpi].definition in blocks[0].text(), (key, kpi)


@pytest.mark.parametrize("page", list(PAGES))
def test_every_table_has_the_definitions_of_its_figures_beside_it(personas, login, month, page):
    dom = _page(login(personas.a.members["manager"]), page)
    assert not dom.find_all("p", "dash-empty"), "every table should have rows, so that each is checked"
    tables = {n.attrs["id"].removeprefix("table-"): n for n in dom.find_all("table", "dash-table")}
    assert set(tables) == PAGES[page][1]
    for name, table in tables.items():
        headings = {**HEADINGS, **TABLE_HEADINGS.get(name, {})}
        labels = [th.text() for th in table.find_all("th") if th.attrs.get("scope") == "col"]
        if labels[0] == "Figure":  # a table of figures: each row is one
            labels += [th.text() for th in table.find_all("th") if th.attrs.get("scope") == "row"]
        unknown = [label for label in labels if label not in headings]
        assert not unknown, f"{page}/{name}: say which KPI these headings show: {unknown}"
        wanted = {headings[label] for label in labels} - {None}
        assert wanted, (page, name)
        beside = definitions_after(table)
        missing = sorted(kpi for kpi in wanted if beside.get(KPIS[kpi].label) != KPIS[kpi].definition)
        assert not missing, f"{page}/{name}: no definition beside the table for {missing}"


@pytest.mark.parametrize("page", sorted(SUMMARIES))
def test_summary_figures_have_their_definitions_in_their_section(personas, login, month, page):
    dom = _page(login(personas.a.members["admin"]), page)
    for ident, wanted in SUMMARIES[page].items():
        summary = dom.by_id(ident)
        assert summary is not None and summary.find_all("strong") + summary.find_all("dd"), ident
        beside = " | ".join(details.text() for details in summary.ancestor("section").find_all("details")
                            if "dash-definitions" in details.classes)
        missing = sorted(kpi for kpi in wanted if KPIS[kpi].definition not in beside)
        assert not missing, f"{page}: no definition beside #{ident} for {missing}"


def test_definitions_match_the_shared_wording(personas, login, month):
    """What the pages show is the text of metrics.definitions, not a copy that could drift: every definition on
    the four pages is one of KPIS, under its own label."""
    client = login(personas.a.members["admin"])
    by_label = {kpi.label: kpi.definition for kpi in KPIS.values()}
    texts = []
    for page in PAGES:
        dom = _page(client, page)
        for details in dom.find_all("details"):
            if details.classes & {"dash-definitions", "dash-card__definition"}:
                texts.append(details.text())
                for label, text in listed(details).items():
                    assert by_label.get(label) == text, (page, label)
    # Every KPI of metrics.definitions is shown on some page with its definition.
    undefined = sorted(key for key, kpi in KPIS.items() if not any(kpi.definition in text for text in texts))
    assert not undefined
