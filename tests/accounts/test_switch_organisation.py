"""A person in two organisations works in one at a time and switches between them."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.conftest import add_member


def test_member_of_two_organisations_sees_the_switcher_and_acts_in_the_chosen_one(personas, login, client):
    alpha_admin = personas.a.members["admin"]
    # The same person is also an admin of Bravo.
    add_member(personas.b, "admin", alpha_admin.user.email, [])
    login(alpha_admin)

    page = client.get(reverse("accounts:department_list")).content.decode()
    assert 'name="organisation"' in page and "Bravo Police" in page
    assert "Communications" in page and "Digital Desk" not in page

    response = client.post(reverse("accounts:switch_organisation"), {"organisation": personas.b.organisation.pk})
    assert response.status_code == 302

    page = client.get(reverse("accounts:department_list")).content.decode()
    assert "Digital Desk" in page and "Communications" not in page
    assert client.get(reverse("api:me")).json()["organisation"]["slug"] == "bravo"


def test_switching_to_an_organisation_one_is_not_in_changes_nothing(personas, login, client):
    login(personas.a.members["admin"])
    response = client.post(
        reverse("accounts:switch_organisation"), {"organisation": personas.b.organisation.pk}, follow=True
    )
    assert "Choose one of your organisations." in response.content.decode()
    assert client.get(reverse("api:me")).json()["organisation"]["slug"] == "alpha"


def test_single_organisation_member_sees_no_switcher(personas, login, client):
    login(personas.a.members["agent"])
    assert 'name="organisation"' not in client.get(reverse("home")).content.decode()


@pytest.mark.parametrize("value", ["²", "١", "1²", "", " 1", "1.0", "9" * 19, "-1", "abc"])
def test_a_malformed_organisation_is_refused_with_a_message_not_a_500(personas, login, client, value):
    # "²".isdigit() is True but int("²") fails: only ASCII digits are an id.
    login(personas.a.members["admin"])

    response = client.post(reverse("accounts:switch_organisation"), {"organisation": value}, follow=True)

    assert response.status_code == 200
    assert "Choose one of your organisations." in response.content.decode()
    assert client.get(reverse("api:me")).json()["organisation"]["slug"] == "alpha"
