"""Reply tasks: send exactly once, reconcile unknown outcomes (issue 4 §3)."""

__all__: list[str] = []
