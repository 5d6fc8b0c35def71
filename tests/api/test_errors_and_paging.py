"""The API's shared behaviour: JSON errors (never HTML, never a 500), keyset paging, the schema, docs and health."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from rest_framework.test import APIClient

from accounts import services
from accounts.models import Department
from tests.conftest import PASSWORD, Org, add_member

DEPARTMENTS_URL = "/api/v1/departments/"
MEMBERS_URL = "/api/v1/members/"
API_GETS = ["/api/v1/me/", "/api/v1/organisation/", DEPARTMENTS_URL, MEMBERS_URL]


def _is_json(response) -> bool:
    return response["Content-Type"].startswith("application/json")


def _cursor(payload) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()


# -------------------------------------------------------------------------------------- malformed bodies
@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("post", "/api/v1/auth/token/"),
        ("patch", "/api/v1/organisation/"),
        ("post", DEPARTMENTS_URL),
        ("patch", "department"),
        ("patch", "member"),
    ],
)
@pytest.mark.parametrize("body", ['{"name": ', "not json at all", "{'name': 'single quotes'}", "\xff\xfe"])
def test_malformed_json_is_400_json_never_500(personas, api_for, method, url, body):
    url = {
        "department": f"{DEPARTMENTS_URL}{personas.a.departments['Communications'].pk}/",
        "member": f"{MEMBERS_URL}{personas.a.members['viewer'].pk}/",
    }.get(url, url)
    api = api_for(personas.a.members["admin"])

    response = getattr(api, method)(url, data=body.encode("latin-1"), content_type="application/json")

    assert response.status_code == 400
    assert _is_json(response)
    assert "detail" in response.json()
    assert Department.objects.filter(organisation=personas.a.organisation).count() == 2
    assert Department.objects.get(pk=personas.a.departments["Communications"].pk).name == "Communications"


@pytest.mark.parametrize("body", ["[]", '["name"]', "null", '"Housing"', "42"])
def test_json_that_is_not_an_object_is_400(personas, api_for, body):
    response = api_for(personas.a.members["admin"]).post(DEPARTMENTS_URL, data=body, content_type="application/json")

    assert response.status_code == 400
    assert _is_json(response)
    assert "detail" in response.json()
    assert personas.a.organisation.departments.count() == 2


def test_form_encoded_body_is_refused_as_unsupported(personas, api_for):
    response = api_for(personas.a.members["admin"]).post(DEPARTMENTS_URL, {"name": "Housing"})

    assert response.status_code == 415
    assert "detail" in response.json()
    assert not Department.objects.filter(name="Housing").exists()


# ---------------------------------------------------------------------------------------- no credentials
@pytest.mark.parametrize("url", API_GETS)
def test_unauthenticated_call_is_401_json(db, url):
    response = APIClient().get(url)

    assert response.status_code == 401
    assert _is_json(response)
    assert "detail" in response.json()
    assert response["WWW-Authenticate"] == "Token"


@pytest.mark.parametrize("header", ["Token not-a-real-token", "Token", "Token a b", "Bearer whatever"])
def test_a_bad_or_malformed_token_is_401_json(db, header):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=header)

    response = api.get("/api/v1/me/")

    assert response.status_code == 401
    assert "detail" in response.json()


def test_unauthenticated_write_is_refused_and_changes_nothing(personas):
    response = APIClient().post(DEPARTMENTS_URL, {"name": "Housing"}, format="json")

    assert response.status_code == 401
    assert not Department.objects.filter(name="Housing").exists()


def test_a_token_of_a_deactivated_user_is_401(personas, api_for):
    api = api_for(personas.a.members["viewer"])
    user = personas.a.user("viewer")
    user.is_active = False
    user.save(update_fields=["is_active"])

    assert api.get("/api/v1/me/").status_code == 401


def test_a_signed_in_browser_with_no_organisation_gets_401_json(personas, client, login):
    login(personas.a.members["viewer"])
    personas.a.members["viewer"].is_active = False
    personas.a.members["viewer"].save(update_fields=["is_active"])

    response = client.get("/api/v1/me/")

    assert response.status_code == 401
    assert _is_json(response)
    assert "detail" in response.json()


# ---------------------------------------------------------------------------------------------- not found
@pytest.mark.parametrize("path", ["999999999", "99999999999999999999999", "abc", "-1"])
@pytest.mark.parametrize("collection", [DEPARTMENTS_URL, MEMBERS_URL])
def test_unknown_id_is_404_json_with_detail(personas, api_for, collection, path):
    response = api_for(personas.a.members["admin"]).get(f"{collection}{path}/")

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_unknown_id_on_a_write_is_404_json(personas, api_for):
    response = api_for(personas.a.members["admin"]).patch(f"{DEPARTMENTS_URL}999999999/", {"name": "X"}, format="json")

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_unknown_api_path_is_404_json(personas, api_for):
    response = api_for(personas.a.members["admin"]).get("/api/v1/no-such-thing/")

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


# ------------------------------------------------------------------------------------------------ paging
def _walk(api: APIClient, url: str) -> tuple[list[int], int]:
    """Follows `next` links from url; returns every id seen in order and how many pages there were."""
    seen, pages = [], 0
    while url:
        response = api.get(url)
        assert response.status_code == 200, response.content
        body = response.json()
        assert len(body["results"]) <= 2
        seen += [item["id"] for item in body["results"]]
        pages += 1
        url = body["next"]
        assert pages < 50, "paging does not end"
    return seen, pages


@pytest.fixture
def many_departments(personas):
    admin = personas.a.members["admin"]
    for name in ["Housing", "Parks", "Libraries", "Planning", "Waste", "Leisure", "Schools"]:
        services.department_create(actor=admin, name=name)
    return list(Department.objects.filter(organisation=personas.a.organisation).order_by("-created_at", "-id"))


def test_walking_next_links_returns_every_department_exactly_once_newest_first(personas, api_for, many_departments):
    api = api_for(personas.a.members["viewer"])

    seen, pages = _walk(api, f"{DEPARTMENTS_URL}?page_size=2")

    assert len(many_departments) == 9
    assert seen == [d.pk for d in many_departments]
    assert len(seen) == len(set(seen))
    assert pages == 5


def test_next_link_is_absolute_and_keeps_the_page_size(personas, api_for, many_departments):
    body = api_for(personas.a.members["viewer"]).get(f"{DEPARTMENTS_URL}?page_size=2").json()

    parts = urlsplit(body["next"])
    assert (parts.scheme, parts.netloc, parts.path) == ("http", "testserver", DEPARTMENTS_URL)
    query = parse_qs(parts.query)
    assert query["page_size"] == ["2"]
    assert query["cursor"]


def test_a_page_exactly_full_at_the_end_has_no_next(personas, api_for):
    # Two departments, page size two: one page and no empty page after it.
    body = api_for(personas.a.members["viewer"]).get(f"{DEPARTMENTS_URL}?page_size=2").json()

    assert len(body["results"]) == 2
    assert body["next"] is None


def test_departments_created_while_walking_do_not_repeat_or_shift_items(personas, api_for, many_departments):
    api = api_for(personas.a.members["viewer"])
    first = api.get(f"{DEPARTMENTS_URL}?page_size=2").json()
    for name in ["Roads", "Museums", "Cemeteries"]:
        services.department_create(actor=personas.a.members["admin"], name=name)

    rest, _ = _walk(api, first["next"])

    seen = [d["id"] for d in first["results"]] + rest
    assert seen == [d.pk for d in many_departments]


def test_departments_with_the_same_created_at_are_each_listed_once(personas, api_for):
    same_moment = Department.objects.get(pk=personas.a.departments["Communications"].pk).created_at
    for name in ["Housing", "Parks", "Libraries", "Planning", "Waste"]:
        Department.objects.create(organisation=personas.a.organisation, name=name, created_at=same_moment)

    seen, _ = _walk(api_for(personas.a.members["viewer"]), f"{DEPARTMENTS_URL}?page_size=2")

    expected = Department.objects.filter(organisation=personas.a.organisation).values_list("pk", flat=True)
    assert sorted(seen) == sorted(expected)
    assert len(seen) == len(set(seen)) == 7


def test_walking_members_returns_each_once(personas, api_for):
    org = Org(personas.a.organisation, personas.a.departments)
    for i in range(5):
        add_member(org, "viewer", f"paged{i}@alpha.example", [])

    seen, _ = _walk(api_for(personas.a.members["admin"]), f"{MEMBERS_URL}?page_size=2")

    expected = personas.a.organisation.memberships.values_list("pk", flat=True)
    assert sorted(seen) == sorted(expected)
    assert len(seen) == len(set(seen)) == 11


def test_a_cursor_does_not_leak_another_organisations_rows(personas, api_for, many_departments):
    alpha_next = api_for(personas.a.members["viewer"]).get(f"{DEPARTMENTS_URL}?page_size=2").json()["next"]

    body = api_for(personas.outsider).get(alpha_next).json()

    assert [d["name"] for d in body["results"]] == ["Digital Desk"]


def test_default_page_size_is_fifty(personas, api_for):
    admin = personas.a.members["admin"]
    Department.objects.bulk_create(
        [Department(organisation=personas.a.organisation, name=f"Team {i:02d}") for i in range(55)]
    )

    body = api_for(admin).get(DEPARTMENTS_URL).json()

    assert len(body["results"]) == 50
    assert body["next"] is not None


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "!!!!",
        "%00",
        _cursor("just a string"),
        _cursor(["2024-01-01T00:00:00+00:00"]),
        _cursor(["2024-01-01T00:00:00+00:00", 1, 2]),
        _cursor({"at": "2024-01-01T00:00:00+00:00", "id": 1}),
        _cursor(["not a date", 1]),
        _cursor(["2024-01-01T00:00:00+00:00", "abc"]),
        _cursor(["2024-01-01T00:00:00+00:00", None]),
        _cursor([20240101, 1]),
        _cursor(None),
        base64.urlsafe_b64encode(b"\xff\xfe\xfd").decode(),
        base64.urlsafe_b64encode(b"[1,").decode(),
    ],
)
def test_a_tampered_cursor_is_400_json(personas, api_for, cursor):
    response = api_for(personas.a.members["viewer"]).get(f"{DEPARTMENTS_URL}?page_size=2&cursor={cursor}")

    assert response.status_code == 400
    assert _is_json(response)
    assert "cursor" in response.json()["errors"]


def test_a_real_cursor_with_a_changed_character_is_400_or_a_valid_page(personas, api_for, many_departments):
    api = api_for(personas.a.members["viewer"])
    cursor = parse_qs(urlsplit(api.get(f"{DEPARTMENTS_URL}?page_size=2").json()["next"]).query)["cursor"][0]

    for position in range(0, len(cursor), 3):
        flipped = cursor[:position] + ("A" if cursor[position] != "A" else "B") + cursor[position + 1 :]
        response = api.get(DEPARTMENTS_URL, {"page_size": 2, "cursor": flipped})
        assert response.status_code in (200, 400), (flipped, response.status_code)
        assert _is_json(response)


@pytest.mark.parametrize("size", ["0", "1000", "-1", "201", "abc", "", "1.5"])
def test_page_size_out_of_range_or_not_a_number_is_400(personas, api_for, size):
    response = api_for(personas.a.members["viewer"]).get(DEPARTMENTS_URL, {"page_size": size})

    assert response.status_code == 400
    assert _is_json(response)
    assert "page_size" in response.json()["errors"]


@pytest.mark.parametrize("size", ["1", "200"])
def test_page_size_at_the_ends_of_its_range_is_accepted(personas, api_for, size):
    response = api_for(personas.a.members["viewer"]).get(DEPARTMENTS_URL, {"page_size": size})

    assert response.status_code == 200
    assert len(response.json()["results"]) == min(int(size), 2)


# ----------------------------------------------------------------------------------- schema, docs, health
def test_schema_is_an_openapi_3_document_with_the_v1_paths(db, client):
    response = client.get("/api/schema/")

    assert response.status_code == 200
    document = yaml.safe_load(response.content)
    assert document["openapi"].startswith("3.")
    for path in [
        "/api/v1/auth/token/",
        "/api/v1/me/",
        "/api/v1/organisation/",
        "/api/v1/departments/",
        "/api/v1/departments/{id}/",
        "/api/v1/members/",
        "/api/v1/members/{id}/",
    ]:
        assert path in document["paths"], path
    assert set(document["paths"]["/api/v1/auth/token/"]) >= {"post", "delete"}
    assert "patch" in document["paths"]["/api/v1/members/{id}/"]
    assert "delete" not in document["paths"]["/api/v1/members/{id}/"]


def test_schema_is_available_as_json(db, client):
    response = client.get("/api/schema/?format=json")

    assert response.status_code == 200
    assert "/api/v1/me/" in json.loads(response.content)["paths"]


def test_docs_page_is_html(db, client):
    response = client.get("/api/docs/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert b"swagger" in response.content.lower()


def test_healthz_reports_database_and_broker_ok(db, client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert _is_json(response)
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}


def test_token_issued_over_the_api_works_for_the_whole_flow(personas):
    """One end-to-end walk: sign in for a token, read, write, revoke."""
    api = APIClient()
    token = api.post("/api/v1/auth/token/", {"email": "admin@alpha.example", "password": PASSWORD}, format="json").json()["token"]
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")

    created = api.post(DEPARTMENTS_URL, {"name": "Housing"}, format="json")
    assert created.status_code == 201
    assert api.delete("/api/v1/auth/token/").status_code == 204
    assert api.get(DEPARTMENTS_URL).status_code == 401
