"""e2e (issue 20): a position created through the GPD-compatible API is fed to ACA in nodesim
by the scheduler and the worker (as a bulk v2 file); payhub goes down and pagoPA puts the
station in Stand-In; nodesim pays the notice from its ACA copy; when payhub is back the
Stand-In receipt reaches it and the notice is paid, with both transfers as the Ente wrote
them."""

from __future__ import annotations

import json
import secrets
import time

import pytest
import requests

from hub import aca
from hub.models import Ente
from hub.seed import DEMO_IBAN as IBAN_E2E
from hub.values.notice_numbers import check_digits
from tests.e2e.conftest import EC, Proc, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.pg, pytest.mark.redis, pytest.mark.slow]
OTHER_EC = "00112233445"  # the second beneficiary


def test_a_gpd_position_fed_to_aca_is_paid_in_stand_in_and_the_receipt_arrives(stack):
    scheduler = Proc(
        "payhub-scheduler", [*stack.web.cmd[:5], "scheduler"], stack.web.env, stack.web.log.parent
    )
    scheduler.start()
    try:
        _run(stack)
    finally:
        scheduler.kill()


def _run(stack) -> None:
    body15 = "01" + "".join(secrets.choice("0123456789") for _ in range(13))
    iuv = body15 + check_digits(3, body15)
    notice = "3" + iuv
    iupd = "E2E-ACA-" + secrets.token_hex(4).upper()
    due = time.strftime("%Y-%m-%dT23:59:59+01:00", time.gmtime(time.time() + 20 * 86400))
    position = {
        "iupd": iupd,
        "type": "F",
        "fiscalCode": "RSSMRA80A01H501U",
        "fullName": "Mario Rossi",
        "switchToExpired": False,
        "companyName": "Comune di prova",
        "paymentOption": [
            {
                "iuv": iuv,
                "amount": 4500,
                "description": "TARI 2026 con TEFA",
                "isPartialPayment": False,
                "dueDate": due,
                "transfer": [
                    {
                        "idTransfer": "1",
                        "amount": 4000,
                        "remittanceInformation": "TARI",
                        "category": "9/0101101IM/",
                        "iban": IBAN_E2E,
                    },
                    {
                        "idTransfer": "2",
                        "amount": 500,
                        "organizationFiscalCode": OTHER_EC,
                        "remittanceInformation": "TEFA",
                        "category": "9/0101101IM/",
                        "iban": "IT40S0542811101000000123456",
                    },
                ],
            }
        ],
    }
    created = requests.post(
        f"{stack.payhub}/gpd/debt-positions-service/v1/organizations/{EC}/debtpositions",
        params={"toPublish": "true"},
        json=position,
        headers={"Ocp-Apim-Subscription-Key": stack.api_key()},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    with stack.sessions.begin() as session:
        aca.set_enabled(session, session.query(Ente).filter_by(fiscal_code=EC).one(), True)

    def held():
        state = stack.sim_api("GET", "/api/aca/positions").json()
        return next((p for p in state["positions"] if p["iupd"] == iupd), None)

    copy = wait_for(held, 30, "the position in nodesim's ACA")
    assert copy["status"] == "VALID"
    # a first load goes as a file (bulk v2; threshold 0 in the e2e settings), not one by one
    state = stack.sim_api("GET", "/api/aca/positions").json()
    assert state["files"] and not [c for c in state["calls"] if c["op"] == "create"]
    assert [t["amount"] for t in copy["paymentOption"][0]["transfer"]] == [4000, 500]

    # payhub goes down; pagoPA puts the station in Stand-In and collects from ACA's copy
    stack.web.kill()
    assert stack.sim_api("POST", "/api/standin", json={"active": True, "reason": "e2e"}).ok
    paid = stack.pay(notice)
    receipt_id = paid["payment"]["receiptId"]
    wait_for(
        lambda: len(stack.delivery(receipt_id)["attempts"]) >= 1,
        20,
        "nodesim to try the receipt against the dead station",
    )
    assert stack.delivery(receipt_id)["status"] == "retrying"
    stack.start_web()
    stack.wait_delivery(receipt_id)
    wait_for(lambda: stack.option(notice)["status"] == "paid", 15, "the notice paid")
    [receipt] = stack.receipts(notice)
    assert receipt["standin"] is True and receipt["payment_amount_cents"] == 4500
    transfers = receipt["transfers"]
    if isinstance(transfers, str):
        transfers = json.loads(transfers)
    shares = sorted((t.get("fiscalCodePA"), str(t.get("transferAmount"))) for t in transfers)
    assert shares == sorted([(EC, "40.00"), (OTHER_EC, "5.00")]), transfers
    stack.sim_api("POST", "/api/standin", json={"active": False})
