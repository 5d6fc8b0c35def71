"""Inbox routes for tests/routes.py, gathered from one file per area."""

from tests.routes_inbox_api import ROUTES as API
from tests.routes_inbox_conversation import ROUTES as CONVERSATION
from tests.routes_inbox_list import ROUTES as LIST
from tests.routes_inbox_settings import ROUTES as SETTINGS
from tests.routes_inbox_webhooks import ROUTES as WEBHOOKS
from tests.routes_posts import ROUTES as POSTS

ROUTES = {**LIST, **CONVERSATION, **SETTINGS, **WEBHOOKS, **API, **POSTS}
