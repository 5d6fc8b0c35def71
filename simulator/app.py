"""The simulator's WSGI app: platform routes under their prefixes, the control API and the public page."""

from __future__ import annotations

import html
import time
from dataclasses import asdict
from importlib import import_module

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule, Submount
from werkzeug.wrappers import Request, Response

from simulator.platforms.base import PlatformSim, json_response, request_json
from simulator.store import Call, Fault, Store

# name -> module path; each module defines a PlatformSim subclass called Sim.
PLATFORM_MODULES = {
    "x": "simulator.platforms.x",
    "graph": "simulator.platforms.graph",
    "mastodon": "simulator.platforms.mastodon",
    "bsky": "simulator.platforms.bluesky",
}
FAULT_KINDS = {"rate_limit", "server_error", "slow", "expired_token", "duplicate", "accept_then_error", "accept_then_slow"}
# Faults after the platform has done the work: the request is handled (a post is created) and then the answer is
# lost, as when a connection drops or a gateway times out after the platform accepted a write.
AFTER_ACCEPT_KINDS = {"accept_then_error", "accept_then_slow"}


def load_platforms(store: Store) -> dict[str, PlatformSim]:
    platforms = {}
    for name, module_path in PLATFORM_MODULES.items():
        try:
            module = import_module(module_path)
        except ModuleNotFoundError as exc:
            if exc.name == module_path:
                continue  # not built yet
            raise
        platforms[name] = module.Sim(store)
    return platforms


class SimulatorApp:
    def __init__(self, store: Store | None = None):
        self.store = store or Store()
        self.platforms = load_platforms(self.store)
        rules = [
            Rule("/", endpoint="page", methods=["GET", "POST"]),
            Rule("/_sim/reset", endpoint="reset", methods=["POST"]),
            Rule("/_sim/state", endpoint="state", methods=["GET"]),
            Rule("/_sim/faults", endpoint="faults", methods=["GET", "POST", "DELETE"]),
            Rule("/_sim/calls", endpoint="calls", methods=["GET", "DELETE"]),
            Rule("/_sim/clock", endpoint="clock", methods=["POST"]),
        ]
        for name, platform in self.platforms.items():
            rules.append(
                Submount(platform.prefix, [_prefixed(rule, name) for rule in platform.rules()])
            )
        self.url_map = Map(rules, strict_slashes=False, merge_slashes=False)
        if not self.store.load():
            self.reset()

    def reset(self) -> None:
        with self.store.lock:
            self.store.data.clear()
            self.store.faults.clear()
            self.store.calls.clear()
            self.store.clock_offset = 0.0
            for platform in self.platforms.values():
                platform.seed()
            self.store.save()

    # ------------------------------------------------------------------------------------ dispatch
    def __call__(self, environ, start_response):
        request = Request(environ)
        response = self.dispatch(request)
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        adapter = self.url_map.bind_to_environ(request.environ)
        try:
            endpoint, values = adapter.match()
        except (NotFound, MethodNotAllowed) as exc:
            return json_response({"error": "not_found", "message": f"No such route: {request.method} {request.path}"}, exc.code)
        except HTTPException as exc:  # redirects for slashes and the like
            return exc.get_response(request.environ)
        if "." not in endpoint:
            return getattr(self, f"control_{endpoint}")(request)
        name, handler = endpoint.split(".", 1)
        platform = self.platforms[name]
        inner_path = request.path[len(platform.prefix) :] or "/"
        with self.store.lock:
            fault = self.store.take_fault(name, request.method, inner_path)
        if fault is not None and fault.kind == "slow":
            time.sleep(fault.delay)
            fault = None
        after_accept = fault if fault is not None and fault.kind in AFTER_ACCEPT_KINDS else None
        if after_accept is not None:
            fault = None
        with self.store.lock:
            if fault is not None:
                if fault.kind == "server_error":
                    response = json_response({"error": "simulated server error"}, 503)
                else:
                    response = platform.fault_response(fault.kind, reset_at=int(self.store.now()) + fault.reset_in)
            else:
                try:
                    response = getattr(platform, handler)(request, **values)
                except HTTPException as exc:
                    response = exc.get_response(request.environ)
                if request.method != "GET":
                    self.store.save()
            self.store.log(
                Call(name, request.method, inner_path, request.query_string.decode(), response.status_code, self.store.now())
            )
        if after_accept is not None:
            if after_accept.kind == "accept_then_slow":
                # Longer than the client waits: it gives up (a read timeout) although the work is done.
                time.sleep(after_accept.delay)
            else:
                response = json_response({"error": "simulated failure after the request was accepted"}, 500)
        return response

    # ------------------------------------------------------------------------------- control API
    def control_reset(self, request: Request) -> Response:
        self.reset()
        return json_response({"reset": True})

    def control_state(self, request: Request) -> Response:
        with self.store.lock:
            return json_response(self.store.describe())

    def control_faults(self, request: Request) -> Response:
        with self.store.lock:
            if request.method == "DELETE":
                self.store.faults.clear()
            elif request.method == "POST":
                body = request_json(request)
                if body.get("platform") not in self.platforms or body.get("kind") not in FAULT_KINDS:
                    return json_response(
                        {"error": f"platform must be one of {sorted(self.platforms)}, kind one of {sorted(FAULT_KINDS)}"},
                        400,
                    )
                allowed = {k: body[k] for k in ("platform", "kind", "path", "method", "times", "reset_in", "delay") if k in body}
                self.store.faults.append(Fault(**allowed))
            return json_response({"faults": [asdict(f) for f in self.store.faults]})

    def control_calls(self, request: Request) -> Response:
        with self.store.lock:
            if request.method == "DELETE":
                self.store.calls.clear()
            platform = request.args.get("platform", "")
            path = request.args.get("path", "")
            calls = [
                asdict(c)
                for c in self.store.calls
                if (not platform or c.platform == platform) and c.path.startswith(path)
            ]
            return json_response({"calls": calls})

    def control_clock(self, request: Request) -> Response:
        body = request_json(request)
        try:
            advance = float(body.get("advance", 0))
        except (TypeError, ValueError):
            return json_response({"error": "advance must be a number of seconds"}, 400)
        with self.store.lock:
            self.store.clock_offset += advance
            return json_response({"now": self.store.now()})

    # ------------------------------------------------------------------------------ public page
    def control_page(self, request: Request) -> Response:
        message = ""
        if request.method == "POST":
            message = self._public_action(request)
        with self.store.lock:
            return Response(_page(self.platforms, message), mimetype="text/html")

    def _public_action(self, request: Request) -> str:
        form = request.form
        action = form.get("action", "")
        if action == "clear_faults":
            with self.store.lock:
                self.store.faults.clear()
            return "No more injected faults."
        platform = self.platforms.get(form.get("platform", ""))
        if platform is None:
            return "Choose a platform."
        if action == "fault":
            kind = form.get("kind", "")
            if kind not in FAULT_KINDS:
                return "Choose what should go wrong."
            try:
                times = max(0, int(form.get("times") or 1))
                reset_in = max(1, int(form.get("reset_in") or 60))
            except ValueError:
                return "Times and reset must be whole numbers."
            with self.store.lock:
                self.store.faults.append(
                    Fault(platform=form["platform"], kind=kind, path=form.get("path", ""), times=times, reset_in=reset_in)
                )
            return f"The next {times or 'all'} matching request(s) to {form['platform']} will get: {kind}."
        with self.store.lock:
            try:
                if action in ("mention", "comment", "dm"):
                    text = form.get("text", "").strip()
                    if not text:
                        return "Write something first."
                    new_id = platform.public_write(
                        kind=action,
                        author_id=form.get("author", ""),
                        target_account_id=form.get("target", ""),
                        text=text,
                        in_reply_to=form.get("post", ""),
                    )
                    self.store.save()
                    return f"Sent ({action}, id {new_id})."
                if action in ("like", "repost"):
                    platform.public_react(kind=action, author_id=form.get("author", ""), post_id=form.get("post", ""))
                    self.store.save()
                    return f"Done ({action})."
            except (KeyError, ValueError) as exc:
                return f"Could not do that: {exc}"
        return "Choose an action."


def _prefixed(rule: Rule, name: str) -> Rule:
    return Rule(rule.rule, endpoint=f"{name}.{rule.endpoint}", methods=rule.methods)


def _page(platforms: dict[str, PlatformSim], message: str) -> str:
    e = html.escape
    sections = []
    for name, platform in platforms.items():
        authors = "".join(f'<option value="{e(a["id"])}">{e(a["handle"])}</option>' for a in platform.public_accounts())
        targets = platform.organisation_accounts()
        target_options = "".join(f'<option value="{e(t["id"])}">{e(t["handle"])}</option>' for t in targets)
        activity = []
        for target in targets:
            for item in platform.recent_activity(target["id"], limit=5):
                activity.append(
                    f"<li><strong>{e(target['handle'])}</strong> ({e(item.get('kind', ''))}, id {e(item['id'])}): {e(item['text'])}</li>"
                )
        sections.append(
            f"""<section aria-labelledby="h-{name}"><h2 id="h-{name}">{e(name)}</h2>
<form method="post"><input type="hidden" name="platform" value="{e(name)}">
<p><label for="author-{name}">Write as</label> <select id="author-{name}" name="author">{authors}</select>
<label for="target-{name}">to</label> <select id="target-{name}" name="target">{target_options}</select></p>
<p><label for="action-{name}">Action</label> <select id="action-{name}" name="action">
<option value="mention">Mention</option><option value="comment">Comment on a post</option><option value="dm">Direct message</option>
<option value="like">Like a post</option><option value="repost">Repost a post</option></select>
<label for="post-{name}">Post id (for comment, like, repost)</label> <input id="post-{name}" name="post"></p>
<p><label for="text-{name}">Text</label><br><textarea id="text-{name}" name="text" rows="3" cols="60"></textarea></p>
<p><button type="submit">Send</button></p></form>
<h3>Recent posts and replies by the organisation</h3><ul>{"".join(activity) or "<li>Nothing yet.</li>"}</ul>
<h3>Make {e(name)} misbehave</h3>
<form method="post"><input type="hidden" name="platform" value="{e(name)}"><input type="hidden" name="action" value="fault">
<p><label for="kind-{name}">Answer with</label> <select id="kind-{name}" name="kind">
<option value="rate_limit">429 rate limited</option><option value="server_error">5xx server error</option>
<option value="slow">a slow answer</option><option value="expired_token">an expired token</option>
<option value="duplicate">a duplicate-post error</option>
<option value="accept_then_error">accept the write, then answer 500</option>
<option value="accept_then_slow">accept the write, then answer too late</option></select>
<label for="path-{name}">for paths starting with</label> <input id="path-{name}" name="path" placeholder="/2/tweets">
<label for="times-{name}">this many times (0 = until cleared)</label> <input id="times-{name}" name="times" value="1" inputmode="numeric" size="3">
<label for="reset-{name}">rate-limit reset in seconds</label> <input id="reset-{name}" name="reset_in" value="60" inputmode="numeric" size="4"></p>
<p><button type="submit">Inject</button></p></form></section>"""
        )
    status = f'<p role="status">{e(message)}</p>' if message else ""
    clear = '<form method="post"><input type="hidden" name="platform" value=""><input type="hidden" name="action" value="clear_faults"><button type="submit">Clear all injected faults</button></form>'
    return f"""<!doctype html><html lang="en-GB"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Platform simulator</title></head>
<body><main><h1>Platform simulator</h1><p>Act as a member of the public on each simulated platform.</p>
{status}{clear}{"".join(sections)}</main></body></html>"""


def create_app(store: Store | None = None) -> SimulatorApp:
    return SimulatorApp(store)
