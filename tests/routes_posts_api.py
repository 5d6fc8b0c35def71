"""Posts routes of this area for tests/routes.py (see tests/routes.py for Route)."""

from tests.routes import Route  # noqa: F401

ROUTES: dict = {}
