"""Posts (issue 5) routes for tests/routes.py, gathered from one file per area."""

from tests.routes_posts_api import ROUTES as API
from tests.routes_posts_calendar import ROUTES as CALENDAR
from tests.routes_posts_compose import ROUTES as COMPOSE
from tests.routes_posts_page import ROUTES as PAGE
from tests.routes_posts_queue import ROUTES as QUEUE
from tests.routes_posts_settings import ROUTES as SETTINGS

ROUTES = {**COMPOSE, **PAGE, **QUEUE, **CALENDAR, **SETTINGS, **API}
