"""Walks every URL route: registered, another organisation's object is a 404, a missing role is a 403."""

from __future__ import annotations

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts.roles import MATRIX, Role
from tests.routes import ROUTES

# HEAD and OPTIONS too: an OPTIONS answer that describes another organisation's object is a leak.
ALL_METHODS = ["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"]


def _walk(patterns, namespace: str = ""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _walk(entry.url_patterns, inner)
        elif isinstance(entry, URLPattern):
            yield f"{namespace}{entry.name}" if entry.name else None, entry


def url_routes() -> dict[str, URLPattern]:
    found = {}
    for name, pattern in _walk(get_resolver().url_patterns):
        assert name is not None, f"URL pattern {pattern.pattern} has no name; every route needs one to be tested"
        found[name] = pattern
    return found


def takes_object(pattern: URLPattern) -> bool:
    # Named groups, not only path converters: DRF's router writes regexes such as (?P<pk>[^/.]+).
    return bool(pattern.pattern.regex.groupindex)


def test_every_route_has_a_registered_case():
    routes = url_routes()
    missing = sorted(set(routes) - set(ROUTES))
    assert not missing, f"routes with no case in tests/routes.py (add one): {missing}"
    stale = sorted(set(ROUTES) - set(routes))
    assert not stale, f"cases in tests/routes.py for routes that no longer exist: {stale}"
    for name, pattern in routes.items():
        if takes_object(pattern):
            assert ROUTES[name].target is not None, f"{name} takes an object id but its case has no target"


def _request(the_client, method: str, url: str, api: bool):
    call = getattr(the_client, method.lower())
    if method in ("GET", "HEAD", "OPTIONS"):
        return call(url)
    if api:
        return call(url, {}, format="json") if method != "GET" else call(url)
    return call(url, {}) if method != "GET" else call(url)


OBJECT_ROUTES = sorted(
    name
    for name, pattern in url_routes().items()
    if takes_object(pattern) and name in ROUTES and not ROUTES[name].not_tenant_scoped
)


@pytest.mark.parametrize("name", OBJECT_ROUTES)
def test_other_organisations_admin_gets_404_for_every_method(name, personas, login, client, api_for):
    case = ROUTES[name]
    url = reverse(name, kwargs=case.target(personas))
    is_api = name.startswith("api:")
    outsider = personas.outsider
    the_client = api_for(outsider) if is_api else login(outsider)
    statuses = {method: _request(the_client, method, url, is_api).status_code for method in ALL_METHODS}
    assert set(statuses.values()) <= {404, 405}, f"{name} {url}: {statuses}"
    accepted = {m for m, s in statuses.items() if s == 404}
    assert accepted >= set(case.methods), f"{name}: methods {set(case.methods) - accepted} did not answer 404"


ROLE_CASES = sorted(
    (name, method, role.value)
    for name, case in ROUTES.items()
    if not case.public
    for method in case.methods
    for role in Role
)


@pytest.mark.parametrize(("name", "method", "role"), ROLE_CASES)
def test_role_matrix_is_enforced_on_every_route(name, method, role, personas, login, api_for):
    case = ROUTES[name]
    capability = case.methods[method]
    kwargs = case.target(personas) if case.target else {}
    url = reverse(name, kwargs=kwargs)
    member = personas.a.members[role]
    # Every target lives in Communications; put the member there too, so this test is about the role
    # alone (department scoping has its own tests: another department's object is a 404).
    member.departments.add(personas.a.departments["Communications"])
    is_api = name.startswith("api:")
    the_client = api_for(member) if is_api else login(member)
    status = _request(the_client, method, url, is_api).status_code
    allowed = capability is None or Role(role) in MATRIX[capability]
    if allowed:
        assert status not in (401, 403, 404) and status < 500, f"{role} {method} {name}: {status}"
    else:
        assert status == 403, f"{role} {method} {name}: expected 403, got {status}"


def test_object_routes_outside_tenant_scoping_are_public_and_say_why():
    for name, pattern in url_routes().items():
        case = ROUTES.get(name)
        if case and case.not_tenant_scoped:
            assert takes_object(pattern), name
            assert len(case.not_tenant_scoped.split()) >= 5, f"{name}: give the reason in a sentence"


@pytest.mark.django_db
def test_anonymous_visitors_are_sent_to_sign_in_or_refused():
    for name, case in ROUTES.items():
        if case.public or case.target:
            continue
        response = _anonymous(name)
        assert response.status_code in (302, 401, 403, 405), f"{name}: {response.status_code}"
        if response.status_code == 302:
            assert response.url.startswith(reverse("accounts:login")), name


def _anonymous(name):
    from django.test import Client

    return Client().get(reverse(name))
