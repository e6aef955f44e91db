"""Reconciliation in /ops: support's "recover this receipt" (Ente, IUV, IUR) against the fake
receipts service chosen in settings, a flow downloaded as XML (original or rebuilt and valid)
and CSV, bank credits filtered and exported."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa

from hub.models import AuditEvent, BankCredit, Ente, PaymentOption, StateTransition
from hub.reconciliation import flows
from hub.reconciliation.pagopa_rest import FakeReceipts, ServiceUnavailable
from hub.seed import DEMO_SUPPORT
from nodesim import psps
from nodesim.fdr3 import receipt_json
from nodesim.receipts import Payment
from tests.factories import entry, flow_bytes, make_position, paid_option
from tests.hub.reconciliation.test_fdr3 import pay, published
from tests.web.ops.conftest import A, B, Ops, build_ops_app

FAKE = "ops-recover"
FDR3_FLOW = "2026-12-07BCITITMM-0042"
NOW = dt.datetime(2026, 12, 8, 9, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def recon_app(pg_url):
    return build_ops_app(
        {
            "sqlalchemy.url": pg_url,
            "payhub.receipts_client_factory": (
                "hub.reconciliation.pagopa_rest:FakeReceipts.from_settings"
            ),
            "payhub.receipts_fake_name": FAKE,
        }
    )


@pytest.fixture
def recon(recon_app, committed_factory) -> Ops:
    from hub.seed import seed_demo

    with committed_factory.begin() as session:
        seed_demo(session)
    recon_app.reset()
    FakeReceipts.instances.pop(FAKE, None)
    return Ops(recon_app, committed_factory)


def _ente(session, ec: str = A) -> Ente:
    return session.scalar(sa.select(Ente).where(Ente.fiscal_code == ec))


def _receipt(ec: str, option: PaymentOption, receipt_id: str) -> dict:
    amount = Decimal(option.amount_cents) / 100
    return receipt_json(
        Payment(
            receipt_id=receipt_id,
            ec=ec,
            notice_number=option.notice_number,
            iuv=option.iuv,
            amount=amount,
            description="Tassa",
            company_name="Ente",
            office_name=None,
            debtor=None,
            transfers=[
                {
                    "idTransfer": 1,
                    "amount": amount,
                    "fiscalCodePA": ec,
                    "IBAN": "IT60X0542811101000000123456",
                }
            ],
            metadata=None,
            psp=psps.find("BCITITMM"),
            method="creditCard",
            fee=Decimal("1.00"),
            payer=None,
            paid_at=NOW - dt.timedelta(hours=3),
        )
    )


def _actions(ops) -> list[tuple[str, dict]]:
    with ops.factory() as session:
        return [
            (a.action, a.detail)
            for a in session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id))
        ]


# --- recover this receipt --------------------------------------------------------------------


def test_support_recovers_a_receipt_from_the_payment_page_and_it_is_audited(recon):
    with recon.factory.begin() as session:
        option = make_position(session, _ente(session), amount="25.00").options[0]
        option_id, iuv = option.id, option.iuv
        FakeReceipts.instances.setdefault(FAKE, FakeReceipts()).receipts[(A, "iur-lost-1")] = (
            _receipt(A, option, "iur-lost-1")
        )
    recon.login(DEMO_SUPPORT)
    page = recon.app.get(f"/ops/enti/{A}/payments/{option_id}")
    form = page.forms["recover-form"]
    assert (form["ec"].value, form["iuv"].value, form["option"].value) == (
        A,
        iuv,
        str(option_id),
    )
    recover = form.submit()
    assert "Recover a receipt" in recover.text
    post = recover.forms[1]  # [0] is log out
    assert (post["ec"].value, post["iuv"].value) == (A, iuv)
    post["iur"] = "iur-lost-1"
    done = post.submit(headers={"Referer": "https://payhub.test/ops/"})
    assert 'data-status="recovered"' in done.text
    assert "receipts service and stored" in done.text
    assert f"/ops/enti/{A}/payments/{option_id}" in done.text  # back to the payment
    with recon.factory() as session:
        assert session.get(PaymentOption, option_id).status == "paid"
        causes = session.scalars(
            sa.select(StateTransition.cause).where(StateTransition.option_id == option_id)
        ).all()
        assert "recovered:bizevents" in causes
    recovered = [d for a, d in _actions(recon) if a == "ops.receipt_recover"]
    assert [d["status"] for d in recovered] == ["recovered"]
    # asked again: already here, nothing stored twice
    again = recon.post(
        "/ops/support/recover", {"ec": A, "iuv": iuv, "iur": "iur-lost-1"}, status=200
    )
    assert 'data-status="already_here"' in again.text


def test_recover_not_found_unavailable_bad_input_csrf_and_operators(recon, monkeypatch):
    with recon.factory.begin() as session:
        option = make_position(session, _ente(session)).options[0]
        iuv = option.iuv
    recon.login(DEMO_SUPPORT)
    fields = {"ec": A, "iuv": iuv, "iur": "nowhere-1"}
    missing = recon.post("/ops/support/recover", fields, status=200)
    assert 'data-status="not_found"' in missing.text

    fake = FakeReceipts.instances.setdefault(FAKE, FakeReceipts())

    def down(*args, **kwargs):
        raise ServiceUnavailable("503 from the receipts service", 503)

    monkeypatch.setattr(fake, "by_iuv", down)
    unavailable = recon.post("/ops/support/recover", {**fields, "iur": "nowhere-2"}, status=200)
    assert 'data-status="unavailable"' in unavailable.text
    assert "unavailable" in unavailable.text

    bad = recon.post("/ops/support/recover", {"ec": "123", "iuv": "", "iur": "x"}, status=400)
    assert "No body with this fiscal code" in bad.text and "Write the IUV" in bad.text
    recon.app.post("/ops/support/recover", fields, status=400)  # no CSRF token
    assert [d["status"] for a, d in _actions(recon) if a == "ops.receipt_recover"] == [
        "not_found",
        "unavailable",
    ]

    # Italian
    it = recon.app.get("/ops/support/recover", headers={"Accept-Language": "it"}, params={"ec": A})
    assert "Recupera la ricevuta" in it.text and "Codice fiscale dell" in it.text

    recon.app.reset()
    recon.login()  # an Ente operator: no button, no action
    with recon.factory() as session:
        option_id = session.scalar(sa.select(PaymentOption.id).where(PaymentOption.iuv == iuv))
    assert "recover-form" not in recon.app.get(f"/ops/enti/{A}/payments/{option_id}").text
    recon.app.get("/ops/support/recover", status=403)
    recon.post("/ops/support/recover", fields, status=403)


# --- flows as XML and CSV --------------------------------------------------------------------


def _fdr3_flow(session, ente, option, rid: str, status: str = "EXECUTED"):
    """Revision 2 of an FdR 3 flow reporting ``option`` (the FdR 3 tests' JSON)."""
    amount = f"{option.amount_cents / 100:.2f}"
    item = published(
        ente.fiscal_code, FDR3_FLOW, [pay(1, option.iuv, rid, amount, status)], revision=2
    )
    return flows.store_fdr3_flow(
        session, item.flow, item.payments, revision=2, published_at=item.published
    ).flow


@pytest.mark.parametrize(("status", "version"), [("EXECUTED", "1.0.4"), ("STAND_IN", "1.0.5")])
def test_fdr3_flow_rebuilt_as_valid_flusso_riversamento_and_as_csv(recon, status, version):
    with recon.factory.begin() as session:
        ente = _ente(session)
        option, rid = paid_option(session, ente)
        flow_pk = _fdr3_flow(session, ente, option, rid, status).id
        iuv = option.iuv
    recon.login()
    page = recon.app.get(f"/ops/enti/{A}/flows/{flow_pk}")
    xml = page.click("Download XML")
    assert xml.content_type == "application/xml"
    assert f"{FDR3_FLOW}-r2.xml" in xml.headers["Content-Disposition"]
    schema = flows.schemas([flows.DEFAULT_XSD[0 if version == "1.0.4" else 1]])
    parsed = flows.parse_flow(xml.body, schema)  # valid against that version's XSD
    assert (parsed.flow_id, parsed.ec_fiscal_code, len(parsed.entries)) == (
        FDR3_FLOW,
        A,
        1,
    )
    assert parsed.entries[0].iuv == iuv and parsed.entries[0].iur == rid
    csv = page.click("Download CSV")
    assert csv.content_type == "text/csv"
    lines = csv.body.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("flow_id;revision;flow_datetime")
    assert lines[1].startswith(f"{FDR3_FLOW};2;")
    assert f";{iuv};{rid};1;30,00;" in lines[1] and lines[1].endswith(f";{option.notice_number}")
    recon.app.get(f"/ops/enti/{B}/flows/{flow_pk}.xml", status=404)
    recon.app.get(f"/ops/enti/{B}/flows/{flow_pk}.csv", status=404)


def test_soap_flow_downloads_the_original_xml(recon):
    with recon.factory.begin() as session:
        ente = _ente(session)
        option, rid = paid_option(session, ente)
        original = flow_bytes(ente, [entry(option, rid)])
        flow_pk = flows.store_flow(session, original).flow.id
    recon.login()
    xml = recon.app.get(f"/ops/enti/{A}/flows/{flow_pk}.xml")
    assert xml.body.strip() == original.strip()


# --- bank credits ----------------------------------------------------------------------------


def _credit(session, ente, n: int, cents: int, status: str, flow_id: str | None, day: int):
    session.add(
        BankCredit(
            ente_id=ente.id,
            fingerprint=f"fp-{n}",
            value_date=dt.date(2026, 11, day),
            booking_date=dt.date(2026, 11, day),
            amount_cents=cents,
            description=f"/PUR/LGPE-RIVERSAMENTO/URI/{flow_id or '-'}",
            counterparty='=HYPERLINK("http://evil")' if n == 3 else "Banca di prova",
            flow_id=flow_id,
            source_file="test.csv",
            source_line=n,
            status=status,
        )
    )


def test_bank_credits_filtered_and_exported_as_safe_csv(recon):
    with recon.factory.begin() as session:
        ente = _ente(session)
        _credit(session, ente, 1, 3000, "matched", "FLOW-A", 10)
        _credit(session, ente, 2, 12550, "unknown_flow", "FLOW-B", 12)
        _credit(session, ente, 3, 99900, "no_flow_id", None, 20)
    recon.login()
    base = f"/ops/enti/{A}/credits"
    everything = recon.app.get(base)
    assert "FLOW-A" in everything.text and "FLOW-B" in everything.text
    unmatched = recon.app.get(base, params={"matched": "no"})
    assert "FLOW-B" in unmatched.text and ">FLOW-A<" not in unmatched.text
    by_amount = recon.app.get(base, params={"amount_min": "100,00", "amount_max": "200"})
    assert "125.50" in by_amount.text and "30.00" not in by_amount.text
    by_date = recon.app.get(base, params={"date_from": "2026-11-11", "date_to": "2026-11-15"})
    assert "2026-11-12" in by_date.text and "2026-11-10" not in by_date.text
    by_flow = recon.app.get(base, params={"flow_id": "FLOW-A"})
    assert "2026-11-10" in by_flow.text and "2026-11-12" not in by_flow.text
    bad = recon.app.get(base, params={"amount_min": "lots", "date_from": "yesterday"})
    assert "Write the amount as 123,45." in bad.text and "YYYY-MM-DD" in bad.text

    csv = recon.app.get(f"{base}.csv", params={"matched": "no"})
    assert csv.content_type == "text/csv"
    lines = csv.body.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("value_date;booking_date;amount")
    assert len(lines) == 3  # header and the two unmatched credits, newest first
    assert lines[1].startswith("2026-11-20;2026-11-20;999,00;")
    assert "\"'=HYPERLINK(" in lines[1]  # a formula reaches the spreadsheet as text
    assert lines[2].startswith("2026-11-12;2026-11-12;125,50;")
    assert [a for a, _ in _actions(recon)].count("ops.view_personal_data") >= 1
    recon.app.get(f"/ops/enti/{B}/credits.csv", status=404)
