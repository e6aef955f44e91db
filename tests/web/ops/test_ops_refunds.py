"""Refund cases on the dashboard: support opens one on a citizen's request and hands it over,
the Ente's operator decides, orders and confirms it; another Ente's operator cannot see it;
the payer's IBAN shown is audited."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from hub.models import AuditEvent, PaymentOption, RefundCase
from hub.seed import DEMO_SUPPORT
from tests.web.ops.conftest import A, B

pytestmark = pytest.mark.pg
IBAN = "IT60X0542811101000000123456"


def _paid_notice(ops) -> str:
    with ops.factory() as s:
        return s.scalars(
            sa.select(PaymentOption.notice_number).where(PaymentOption.status == "paid")
        ).first()


def _case_url(answer) -> str:
    return re.search(r"/ops/refunds/[0-9a-f-]{36}", answer.location).group(0)


def test_support_opens_and_hands_over_the_operator_decides_orders_and_confirms(ops):
    notice = _paid_notice(ops)
    ops.login(DEMO_SUPPORT)
    bad = ops.post(
        "/ops/support/refunds/new", {"ente": A, "notice_number": notice, "amount": "x", "note": ""}
    )
    assert bad.status_int == 422 and "Enter the amount to refund in euro" in bad
    opened = ops.post(
        "/ops/support/refunds/new",
        {"ente": A, "notice_number": notice, "amount": "10,00", "note": "paid at the counter"},
    )
    url = _case_url(opened)
    page = ops.app.get(url)
    assert "<dd>citizen's request</dd>" in page.text
    assert "Approve the refund" not in page  # support does not decide
    ops.post(url + "/step", {"event": "submit"})
    assert "<td>awaiting the body's decision</td>" in ops.app.get("/ops/refunds").text

    ops.app.reset()  # a new browser
    ops.login()  # the demo Ente's operator
    page = ops.app.get(url)
    assert "Approve the refund" in page and "Hand to the body" not in page
    ops.post(url + "/step", {"event": "approve"})
    refused = ops.post(url + "/step", {"event": "order", "payer_iban": "IT00", "amount": "10,00"})
    assert "IBAN is not valid" in refused.follow()
    ops.post(url + "/step", {"event": "order", "payer_iban": IBAN, "amount": "9,50"})
    ops.post(url + "/step", {"event": "confirm", "bank_reference": "CRO 77"})
    page = ops.app.get(url)
    assert "Refund case: refunded" in page and "CRO 77" in page and IBAN in page
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d CES?T", page.text)  # Italian time, zone named
    with ops.factory() as s:
        case = s.scalars(sa.select(RefundCase)).one()
        assert (case.status, case.amount_cents, case.ordered_by) == (
            "refunded",
            950,
            "ops:demo-operator",
        )
        seen = s.scalars(
            sa.select(AuditEvent.detail).where(AuditEvent.action == "ops.view_personal_data")
        ).all()
        assert {"view": "refund_case"} in seen


def test_an_operator_of_another_ente_does_not_see_the_case(ops):
    from hub import refunds
    from hub.models import Ente
    from hub.tenants import operators

    notice = _paid_notice(ops)
    with ops.factory() as s:
        ente = s.scalars(sa.select(Ente).where(Ente.fiscal_code == A)).one()
        case = refunds.open_on_request(s, ente, notice, amount_cents=100, note="x", by="ops:s")
        public_id = case.public_id
        operators.create_account(s, "other-op", "other-op-password", role="operator", enti=[B])
        s.commit()
    ops.login(DEMO_SUPPORT)
    assert public_id in ops.app.get("/ops/refunds").text
    ops.app.reset()  # a new browser
    ops.login("other-op", "other-op-password")
    assert ops.app.get(f"/ops/refunds/{public_id}", status="*").status_int in (303, 404)
