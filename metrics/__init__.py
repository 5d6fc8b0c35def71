"""Snapshots, rollups and KPI dashboards (issue 7)."""
