"""Social channels, their encrypted credentials, per-platform connectors and the simulator (issue 3)."""
