"""Inbox routes of this area for tests/routes.py (see tests/routes.py for Route): the inbox settings pages."""

from accounts.roles import Capability as C
from tests.routes import Route


def _comms_channel(p):
    from tests.inbox_factories import make_channel

    return make_channel(p.a, department="Communications")


def _department(p):
    return {"pk": p.a.departments["Communications"].pk}


def _bank_holiday(p):
    from datetime import date

    from inbox.models import BankHoliday

    return {"pk": BankHoliday.objects.create(organisation=p.a.organisation, date=date(2030, 8, 26), name="Summer").pk}


def _risk_keyword(p):
    from inbox.models import RiskKeyword

    return {"pk": RiskKeyword.objects.create(organisation=p.a.organisation, phrase="threat").pk}


def _saved_reply(p):
    from inbox.models import SavedReply

    saved = SavedReply.objects.create(
        organisation=p.a.organisation,
        department=p.a.departments["Communications"],
        title="Thanks",
        body="Thank you {contact_name}.",
    )
    return {"pk": saved.pk}


def _channel(p):
    return {"pk": _comms_channel(p).pk}


def _quarantined(p):
    from inbox.models import QuarantinedItem

    item = QuarantinedItem.objects.create(
        organisation=p.a.organisation, channel=_comms_channel(p), source="poll", raw={"id": "1"}, error="bad"
    )
    return {"pk": item.pk}


ROUTES: dict = {
    "inbox:settings": Route(methods={"GET": None}),
    "inbox:settings_policy": Route(methods={"GET": C.MANAGE_INBOX, "POST": C.MANAGE_INBOX}, target=_department),
    "inbox:settings_bank_holidays": Route(methods={"GET": C.MANAGE_INBOX, "POST": C.MANAGE_ORGANISATION}),
    "inbox:settings_bank_holiday_delete": Route(methods={"POST": C.MANAGE_ORGANISATION}, target=_bank_holiday),
    "inbox:settings_risk_keywords": Route(methods={"GET": C.MANAGE_INBOX, "POST": C.MANAGE_INBOX}),
    "inbox:settings_risk_keyword_delete": Route(methods={"POST": C.MANAGE_INBOX}, target=_risk_keyword),
    "inbox:settings_saved_replies": Route(methods={"GET": None}),
    "inbox:settings_saved_reply_create": Route(methods={"GET": C.MANAGE_INBOX, "POST": C.MANAGE_INBOX}),
    "inbox:settings_saved_reply_edit": Route(
        methods={"GET": C.MANAGE_INBOX, "POST": C.MANAGE_INBOX}, target=_saved_reply
    ),
    "inbox:settings_saved_reply_delete": Route(methods={"POST": C.MANAGE_INBOX}, target=_saved_reply),
    "inbox:settings_out_of_hours": Route(methods={"GET": C.MANAGE_INBOX, "POST": C.MANAGE_INBOX}, target=_channel),
    "inbox:settings_quarantine": Route(methods={"GET": C.MANAGE_ORGANISATION}),
    "inbox:settings_quarantine_resolve": Route(methods={"POST": C.MANAGE_ORGANISATION}, target=_quarantined),
}
