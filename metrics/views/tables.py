"""The dashboards' tables and charts as data: one Table feeds the HTML table, the chart's data table alternative and
the CSV download, so the three always show the same numbers.

A Column knows how to show a value to a person (durations as hours and minutes, percentages with a % sign) and how
to write it into a CSV (plain numbers: seconds, percent without the sign, ISO dates), with the unit in the header.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.http import HttpResponse
from django.utils.text import slugify

from metrics.definitions import KPIS

# A spreadsheet runs a text cell starting with one of these as a formula (CSV injection): such a cell gets a
# leading apostrophe (audit/export.py does the same).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "'")
UNITS = {"seconds": "seconds", "percent": "%", "money": "GBP"}
# Figures without an entry in metrics.definitions.KPIS (to be moved there).
METHODS = {"impressions": "per impressions", "followers": "per followers", "": "no denominator"}


def kpi_text(key: str) -> tuple[str, str]:
    """(label, definition) of a figure: metrics.definitions.KPIS, the one source of the wording."""
    return KPIS[key].label, KPIS[key].definition


def duration(seconds: float | None) -> str:
    """A duration as a person reads it: "45 s", "12 min", "3 h 05 min", "2 d 4 h"."""
    if seconds is None:
        return "–"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def number(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.1f}" if value % 1 else f"{int(value):,}"
    return f"{value:,}"


def change(value: float | None) -> str:
    """A percentage change, signed: "+12.5 %", "−3.0 %", "–" when there is nothing to compare with."""
    if value is None:
        return "–"
    return f"{'+' if value > 0 else '−' if value < 0 else '±'}{abs(value):.1f} %"


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    kind: str = "text"  # text, int, seconds, percent, money, date, month, method, change, hour

    def show(self, value: Any) -> str:
        if self.kind == "seconds":
            return duration(value)
        if value is None or value == "":
            return "–"
        if self.kind == "percent":
            return f"{value:.1f} %" if isinstance(value, float) else f"{value} %"
        if self.kind == "money":
            return f"£{value:,.2f}"
        if self.kind == "change":
            return change(value)
        if self.kind == "date":
            return value.strftime("%a %-d %b %Y")
        if self.kind == "month":
            return value.strftime("%B %Y")
        if self.kind == "method":
            return METHODS.get(value, value)
        if self.kind == "hour":
            return f"{value:02d}:00–{value:02d}:59"
        if self.kind == "int":
            return number(value)
        return str(value)

    def header(self) -> str:
        unit = UNITS.get(self.kind)
        return f"{self.label} ({unit})" if unit else self.label

    def cell(self, value: Any) -> Any:
        """The value as written into the CSV: numbers as numbers, dates in ISO 8601, nothing as empty."""
        if value is None:
            return ""
        if self.kind == "seconds":
            return round(value)
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, Decimal):
            return f"{value:.2f}"
        if isinstance(value, str) and value.startswith(_FORMULA_START):
            return "'" + value
        return value


@dataclass
class Table:
    """One table of a dashboard page: its CSV name, its caption and its rows (dicts keyed by column key)."""

    name: str
    caption: str
    columns: list[Column]
    rows: list[dict]
    # Keys into metrics.definitions.KPIS: the definitions shown beside the table.
    kpis: tuple[str, ...] = ()
    empty: str = "Nothing in this period."

    @property
    def definitions(self) -> list[tuple[str, str]]:
        return [kpi_text(key) for key in self.kpis]

    @property
    def display_rows(self) -> list[list[str]]:
        return [[column.show(row.get(column.key)) for column in self.columns] for row in self.rows]

    @property
    def headers(self) -> list[str]:
        return [column.label for column in self.columns]

    def csv_rows(self) -> list[list[Any]]:
        return [[column.header() for column in self.columns]] + [
            [column.cell(row.get(column.key)) for column in self.columns] for row in self.rows
        ]


@dataclass
class Chart:
    """A line or bar chart drawn by static/metrics/charts.js from `data` (passed with json_script), with the one or
    two sentences a screen reader user gets instead (`summary`) and the table holding the same figures."""

    id: str
    kind: str  # "line" or "bar"
    title: str
    labels: list[str]
    datasets: list[dict]
    summary: str
    table: Table
    y_label: str = ""
    options: dict = field(default_factory=dict)

    @property
    def data(self) -> dict:
        return {"type": self.kind, "labels": self.labels, "datasets": self.datasets, "yLabel": self.y_label,
                **self.options}

    @property
    def data_id(self) -> str:
        return f"{self.id}-data"

    @property
    def aria_label(self) -> str:
        return f"{self.title}. {self.summary} The figures are in the table below the chart."


def csv_response(table: Table, *, organisation_slug: str, page: str, start: date, end: date) -> HttpResponse:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerows(table.csv_rows())
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    filename = slugify(f"{organisation_slug}-{page}-{table.name}-{start.isoformat()}-to-{end.isoformat()}")
    response["Content-Disposition"] = f'attachment; filename="{filename}.csv"'
    response["Cache-Control"] = "no-store"
    return response
