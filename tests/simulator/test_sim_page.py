"""The simulator's own page: a person acts as the public and makes a platform misbehave."""

from __future__ import annotations

import re

import requests


def test_page_lists_every_platform_with_public_and_organisation_accounts(sim):
    page = requests.get(f"{sim.url}/", timeout=10).text
    for name in ("x", "graph", "mastodon", "bsky"):
        assert f'id="h-{name}"' in page
    assert "citizen" in page and "democouncil" in page.lower()


def test_a_person_mentions_the_council_on_x_from_the_page(sim):
    from simulator.platforms.x import DEMO_ACCOUNTS

    council = next(a for a in DEMO_ACCOUNTS if a["handle"] == "democouncil")
    page = requests.get(f"{sim.url}/", timeout=10).text
    # The "Write as" list of the X section offers the public accounts, citizen first.
    author_select = re.search(r'<select id="author-x" name="author">(.*?)</select>', page, re.S).group(1)
    citizen_id, citizen_handle = re.search(r'<option value="([^"]+)">([^<]+)</option>', author_select).groups()
    assert "citizen" in citizen_handle
    answer = requests.post(
        f"{sim.url}/",
        data={"platform": "x", "action": "mention", "author": citizen_id, "target": council["account_id"],
              "text": "Bin collection missed on Elm Street"},
        timeout=10,
    )
    assert "Sent (mention" in answer.text
    mentions = requests.get(
        f"{sim.url}/x/2/users/{council['account_id']}/mentions",
        headers={"Authorization": f"Bearer {council['credentials']['access_token']}"},
        timeout=10,
    ).json()
    assert any("Elm Street" in tweet["text"] for tweet in mentions["data"])


def test_a_fault_injected_on_the_page_answers_the_next_call_with_429(sim):
    from simulator.platforms.x import DEMO_ACCOUNTS

    council = DEMO_ACCOUNTS[0]
    answer = requests.post(
        f"{sim.url}/", data={"platform": "x", "action": "fault", "kind": "rate_limit", "times": "1", "reset_in": "120"},
        timeout=10,
    )
    assert "rate_limit" in answer.text
    headers = {"Authorization": f"Bearer {council['credentials']['access_token']}"}
    limited = requests.get(f"{sim.url}/x/2/users/me", headers=headers, timeout=10)
    assert limited.status_code == 429 and int(limited.headers["x-rate-limit-reset"]) > 0
    assert requests.get(f"{sim.url}/x/2/users/me", headers=headers, timeout=10).status_code == 200
    cleared = requests.post(f"{sim.url}/", data={"action": "clear_faults"}, timeout=10)
    assert "No more injected faults" in cleared.text
