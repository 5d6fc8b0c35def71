"""The `sim` fixture: a real simulator server on a free local port, reset for each test, with every
platform base URL in settings pointed at it (exactly what production configuration does with the
real hosts).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import pytest
import requests
from werkzeug.serving import make_server

from simulator.app import create_app


@dataclass
class Sim:
    url: str

    def reset(self) -> None:
        requests.post(f"{self.url}/_sim/reset", timeout=5).raise_for_status()

    def fault(self, platform: str, kind: str, **options) -> None:
        requests.post(f"{self.url}/_sim/faults", json={"platform": platform, "kind": kind, **options}, timeout=5).raise_for_status()

    def state(self) -> dict:
        return requests.get(f"{self.url}/_sim/state", timeout=5).json()["data"]

    def calls(self, platform: str = "", path: str = "") -> list[dict]:
        return requests.get(f"{self.url}/_sim/calls", params={"platform": platform, "path": path}, timeout=5).json()["calls"]

    def advance_clock(self, seconds: float) -> None:
        requests.post(f"{self.url}/_sim/clock", json={"advance": seconds}, timeout=5).raise_for_status()


@pytest.fixture(scope="session")
def sim_server():
    app = create_app()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture
def sim(sim_server, settings) -> Sim:
    handle = Sim(sim_server)
    handle.reset()
    settings.SIM_URL = sim_server
    settings.X_API_URL = f"{sim_server}/x"
    settings.X_AUTHORIZE_URL = f"{sim_server}/x/i/oauth2/authorize"
    settings.GRAPH_API_URL = f"{sim_server}/graph"
    settings.FACEBOOK_LOGIN_URL = f"{sim_server}/graph/dialog/oauth"
    settings.BLUESKY_SERVICE_URL = f"{sim_server}/bsky"
    settings.MASTODON_SIM_INSTANCE_URL = f"{sim_server}/mastodon"
    return handle
