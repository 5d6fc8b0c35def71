"""How long a send to a platform waits before its next attempt after a transient failure (a reply in
inbox.replies, a post's target in approvals.publishing): exponential with jitter, capped."""

from __future__ import annotations

import random

MAX_BACKOFF_SECONDS = 600


def backoff(attempts: int) -> float:
    """Exponential with jitter: about 10 s, 20 s, 40 s … at most ten minutes."""
    base = min(MAX_BACKOFF_SECONDS, 10 * 2 ** max(0, attempts - 1))
    # The cap holds after the jitter too (jitter above a capped base reached twelve minutes).
    return min(MAX_BACKOFF_SECONDS, base * random.uniform(0.8, 1.2))  # noqa: S311 (jitter, not security)
