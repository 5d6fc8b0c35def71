"""Inbox routes of this area for tests/routes.py (see tests/routes.py for Route)."""

from tests.routes import Route

ROUTES: dict = {
    # Platforms call these without a session: each delivery is authenticated by its HMAC signature instead.
    "inbox:webhook_facebook": Route(public=True),
    "inbox:webhook_x": Route(public=True),
}
