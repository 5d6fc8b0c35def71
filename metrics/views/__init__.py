"""The metrics app's HTML pages: the KPI dashboards (pages.py, built by content.py from metrics.kpis; filters.py is
their filter form; tables.py the tables, charts and CSV) and the channel-shift data entry (channel_shift_data.py)."""
