"""The platform simulator: X, the Graph API (Facebook, Instagram), Mastodon and Bluesky over HTTP.

A separate process on its own port (SIM_URL). It speaks the same paths, shapes, pagination,
rate-limit headers and error bodies as the real APIs (shared/platform-fixtures is the reference),
keeps its own in-memory state, and can be told to fail. Civic Desk's connectors reach it only
through their configured base URLs.
"""
