"""The simulator's state: one dict per platform, a clock, a call log and the faults to inject.

Every request runs under one lock, so handlers can read-modify-write without races; the
simulator serves tests and demos, not production traffic.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Fault:
    platform: str
    kind: str  # rate_limit | server_error | slow | expired_token | duplicate | accept_then_error | accept_then_slow
    path: str = ""  # prefix of the path inside the platform, e.g. "/2/tweets"; empty matches all
    method: str = ""  # e.g. "POST"; empty matches all
    times: int = 1  # how many matching requests it applies to; 0 = until cleared
    reset_in: int = 60  # rate_limit: seconds until the window resets
    delay: float = 2.0  # slow: seconds to wait before answering normally
    used: int = 0

    def matches(self, platform: str, method: str, path: str) -> bool:
        return (
            self.platform == platform
            and (not self.method or self.method.upper() == method.upper())
            and path.startswith(self.path)
            and (self.times == 0 or self.used < self.times)
        )


@dataclass
class Call:
    platform: str
    method: str
    path: str
    query: str
    status: int
    at: float


@dataclass
class Store:
    data: dict[str, dict[str, Any]] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    clock_offset: float = 0.0
    path: Path | None = None

    def __post_init__(self):
        self.lock = threading.RLock()
        self._ids = itertools.count(int(time.time() * 1000) * 1000)

    def now(self) -> float:
        return time.time() + self.clock_offset

    def next_id(self) -> str:
        """Snowflake-like increasing numeric ids, shared by every platform."""
        return str(next(self._ids))

    def platform(self, name: str) -> dict[str, Any]:
        return self.data.setdefault(name, {})

    def take_fault(self, platform: str, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.matches(platform, method, path):
                fault.used += 1
                return fault
        return None

    def log(self, call: Call) -> None:
        self.calls.append(call)
        del self.calls[:-5000]

    def save(self) -> None:
        if self.path is not None:
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps({"data": self.data, "clock_offset": self.clock_offset}, default=str))
            tmp.replace(self.path)

    def load(self) -> bool:
        if self.path is None or not self.path.exists():
            return False
        saved = json.loads(self.path.read_text())
        self.data = saved.get("data", {})
        self.clock_offset = saved.get("clock_offset", 0.0)
        return True

    def describe(self) -> dict[str, Any]:
        return {
            "data": self.data,
            "faults": [asdict(f) for f in self.faults],
            "clock_offset": self.clock_offset,
        }
