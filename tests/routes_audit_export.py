"""Audit export routes for tests/routes.py (see tests/routes.py for Route): the CSV and JSON Lines downloads."""

from accounts.roles import Capability as C
from tests.routes import Route

ROUTES: dict = {
    "audit:export_csv": Route(methods={"GET": C.VIEW_AUDIT}),
    "audit:export_jsonl": Route(methods={"GET": C.VIEW_AUDIT}),
}
