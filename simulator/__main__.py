"""python -m simulator [--host 127.0.0.1] [--port 8001] [--state var/simulator.json]"""

from __future__ import annotations

import argparse
from pathlib import Path

from werkzeug.serving import run_simple

from simulator.app import create_app
from simulator.store import Store


def main() -> None:
    parser = argparse.ArgumentParser(description="Civic Desk platform simulator (X, Graph API, Mastodon, Bluesky)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--state", default="", help="JSON file that keeps the state across restarts")
    args = parser.parse_args()
    store = Store(path=Path(args.state) if args.state else None)
    if store.path is not None:
        store.path.parent.mkdir(parents=True, exist_ok=True)
    print(f"Platform simulator on http://{args.host}:{args.port}/", flush=True)
    run_simple(args.host, args.port, create_app(store), threaded=True, use_reloader=False)


if __name__ == "__main__":
    main()
