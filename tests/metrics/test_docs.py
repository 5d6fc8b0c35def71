"""docs/kpis.md says what the code does: every KPI's definition word for word (metrics.definitions), the default
costs with their sources, the API's endpoints and parameters, and a worked channel-shift example whose figures
metrics.kpis.channel_shift reproduces."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.http import QueryDict

from metrics import kpis
from metrics.definitions import KPIS
from metrics.models import DEFAULT_COSTS, ContactDaily, OfflineContactVolume
from tests.inbox_factories import make_channel

DOC = Path(settings.BASE_DIR) / "docs" / "kpis.md"


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_every_kpi_definition_appears_word_for_word_under_its_label():
    doc = _flat(DOC.read_text())
    missing = [key for key, kpi in KPIS.items() if _flat(kpi.definition) not in doc]
    assert not missing, f"definitions not in docs/kpis.md (copy them from metrics/definitions.py): {missing}"
    headings = set(re.findall(r"^### (.+)$", DOC.read_text(), flags=re.MULTILINE))
    assert {kpi.label for kpi in KPIS.values()} <= headings


def test_every_default_cost_is_listed_with_its_source():
    doc = DOC.read_text()
    for channel, (cost, source) in DEFAULT_COSTS.items():
        row = next((line for line in doc.splitlines() if f"`{channel}`" in line and line.startswith("|")), "")
        assert f"£{cost}" in row and source in row, channel


def test_every_api_endpoint_and_parameter_is_documented():
    doc = DOC.read_text()
    for path in ("overview", "inbox", "engagement", "channel-shift"):
        assert f"/api/v1/kpis/{path}/" in doc
    parameter_rows = "\n".join(line.split("|")[1] for line in doc.splitlines() if line.startswith("| `"))
    for parameter in ("from", "to", "preset", "department", "channel", "platform", "compare", "grain"):
        assert f"`{parameter}`" in parameter_rows, parameter
    for preset in kpis.PRESETS:
        assert f"`{preset}`" in doc


def test_the_worked_channel_shift_example_is_what_the_code_computes(personas):
    org = personas.a
    channel = make_channel(org, department="Customer Services")
    department = org.departments["Customer Services"]
    for day, opened in ((date(2026, 4, 14), 1000), (date(2026, 5, 12), 800)):
        ContactDaily.objects.create(organisation=org.organisation, day=day, channel=channel, department=department,
                                    platform=channel.platform, conversations_opened=opened)
    for name, volume in (("phone", 3000), ("email", 500), ("face_to_face", 400), ("web_form", 1100)):
        OfflineContactVolume.objects.create(organisation=org.organisation, department=department,
                                            month=date(2026, 4, 1), channel=name, volume=volume)

    shift = kpis.channel_shift(kpis.kpi_filter(org.members["admin"], QueryDict("from=2026-04-01&to=2026-05-31")))

    april, may = shift["months"]
    assert april["digital_share"] == 16.7
    assert april["alternative_cost"] == Decimal("2.70")
    assert april["cost_avoided"] == Decimal("2553.60")
    assert may["alternative_basis"].startswith("phone") and may["cost_avoided"] == Decimal("2144.00")
    assert shift["cost_avoided"] == Decimal("4697.60")
    doc = DOC.read_text()
    for figure in ("16.7%", "£2.7036", "£2,553.60", "£2,144.00", "£4,697.60"):
        assert figure in doc, figure
