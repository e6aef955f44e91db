"""PayER's legacy level-1 "Buffer" protocol (hub.checkout.legacy_buffer): a portal written for PayER
starts a payment (RID), sends the browser, gets a PID back and exchanges it for PaymentData,
unchanged; wrong hashes, stale buffers, other portals and portals without the switch are
refused."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import xml.etree.ElementTree as ET
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from hub import payments
from hub.checkout import legacy_buffer, level1
from hub.models import CheckoutCart, Ente, PaymentOption
from tests.factories import make_receipt

IV, KEY, CODE = "iv-0123", "chiave-segreta", "PORTALE01"
SANP_NOTICE = "311111111112222222"


def request_xml(
    operation: str = "OP-1",
    *,
    ente: str = "00112233445",
    amount: str = "1600",
    document: str = "DOC-9",
    service: str = "GENER",
    back: str = "https://portale.example/ritorno",
) -> str:
    return (
        f"<PaymentRequest><PortaleID>{CODE}</PortaleID><Funzione>PAGAMENTO</Funzione>"
        f"<URLDiRitorno>{back}</URLDiRitorno>"
        "<URLDiNotifica>https://portale.example/notifica</URLDiNotifica>"
        "<URLBack>https://portale.example/annulla</URLBack>"
        "<CommitNotifica>N</CommitNotifica>"
        "<UserData><IdentificativoUtente>RSSMRA80A01H501U</IdentificativoUtente>"
        "<Denominazione>Mario Rossi</Denominazione><EmailUtente>m@example.it</EmailUtente>"
        "</UserData><ServiceData><CodiceUtente>000TO</CodiceUtente>"
        f"<CodiceEnte>{ente}</CodiceEnte><TipoUfficio/><CodiceUfficio/>"
        f"<TipologiaServizio>{service}</TipologiaServizio>"
        f"<NumeroOperazione>{operation}</NumeroOperazione>"
        f"<NumeroDocumento>{document}</NumeroDocumento><AnnoDocumento>2026</AnnoDocumento>"
        f"<Valuta>EUR</Valuta><Importo>{amount}</Importo><DatiSpecifici/></ServiceData>"
        "</PaymentRequest>"
    )


def portal_buffer(
    xml: str, *, iv: str = IV, key: str = KEY, code: str = CODE, now: dt.datetime | None = None
) -> str:
    """What a PayER portal sends, written from the protocol description (not our helper)."""
    rome = legacy_buffer.ROME
    tag = (now or dt.datetime.now(dt.UTC)).astimezone(rome).strftime("%Y%m%d%H%M")
    digest = hashlib.md5((iv + xml + key + tag).encode()).hexdigest()
    data = base64.b64encode(xml.encode()).decode()
    return (
        f"<Buffer><TagOrario>{tag}</TagOrario><CodicePortale>{code}</CodicePortale>"
        f"<BufferDati>{data}</BufferDati><Hash>{digest}</Hash></Buffer>"
    )


def read_answer(text: str) -> ET.Element:
    """A portal checks our answer's hash with its IV and Key, then reads the XML."""
    root = ET.fromstring(text)
    xml = base64.b64decode(root.findtext("BufferDati")).decode()
    tag = root.findtext("TagOrario")
    assert root.findtext("Hash") == hashlib.md5((IV + xml + KEY + tag).encode()).hexdigest()
    return ET.fromstring(xml)


@pytest.fixture
def legacy(shop):
    """Registered as an operator does (``payhub admin portal create --legacy-buffer ...``):
    the administration's portal is the one the PayER protocol serves."""
    from hub.admin import inputs as i
    from hub.admin import service as svc

    with shop.factory.begin() as session:
        svc.create_portal(
            session,
            svc.CLI,
            i.PortalInput(
                name="Portale PayER",
                enti=["00112233445", "77777777777"],
                return_url_prefix="https://portale.example/",
                legacy_buffer=True,
                legacy_code=CODE,
                legacy_iv=IV,
                legacy_key=KEY,
            ),
        )


def rid(shop, xml: str, status: int | str = 200, **kwargs) -> object:
    return shop.app.post(
        "/payer/cart/extS2SRID.do", {"buffer": portal_buffer(xml, **kwargs)}, status=status
    )


def test_a_payer_portal_pays_through_payhub_unchanged(shop, legacy):
    answer = rid(shop, request_xml())
    assert answer.content_type == "text/xml"
    payment_id = read_answer(answer.text).text
    # the browser arrives with Buffer(RID), confirms and goes to Checkout
    entered = shop.app.get(
        "/payer/cart/extCart.do", {"buffer": portal_buffer(f"<RID>{payment_id}</RID>")}
    )
    assert entered.location.endswith(f"/pay/l1/{payment_id}")
    confirm = entered.follow()
    assert "16.00" in confirm and "Portale PayER" in confirm
    confirm.forms[0].submit()
    [sent] = shop.checkout.carts
    with shop.factory.begin() as session:
        for notice in sent.notices:
            option = session.scalars(
                sa.select(PaymentOption).where(PaymentOption.notice_number == notice.notice_number)
            ).one()
            ec = session.get(Ente, option.ente_id)
            payments.activate(
                session, ec, notice.notice_number, requested_cents=1600, primitive="paGetPaymentV2"
            )
            payments.store_receipt(
                session, make_receipt(option, ec.fiscal_code, receipt_id="r-legacy-1")
            )
    # back at URLDiRitorno with Buffer(PID), which the portal exchanges for PaymentData
    back = shop.app.get(urlsplit(sent.return_ok).path)
    assert back.location.startswith("https://portale.example/ritorno?buffer=")
    pid_buffer = parse_qs(urlsplit(back.location).query)["buffer"][0]
    pid = read_answer(pid_buffer).text
    assert pid == payment_id
    data = read_answer(
        shop.app.post(
            "/payer/cart/extS2SPID.do", {"buffer": portal_buffer(f"<PID>{pid}</PID>")}
        ).text
    )
    assert data.tag == "PaymentData"
    assert {c.tag: c.text for c in data} == {
        **{c.tag: c.text for c in data},
        "PortaleID": CODE,
        "NumeroOperazione": "OP-1",
        "IDOrdine": payment_id,
        "Esito": "OK",
        "ImportoTransato": "1600",
        "IDTransazione": "r-legacy-1",
    }


def test_a_notice_of_our_archive_and_the_same_operation_twice(shop, legacy):
    first = read_answer(
        rid(shop, request_xml("OP-2", ente="77777777777", document=SANP_NOTICE)).text
    ).text
    again = read_answer(
        rid(shop, request_xml("OP-2", ente="77777777777", document=SANP_NOTICE)).text
    ).text
    assert first == again
    with shop.factory() as session:
        cart = session.scalars(sa.select(CheckoutCart).where(CheckoutCart.public_id == first)).one()
        assert [i.amount_cents for i in cart.items] == [3000]
    data = read_answer(
        shop.app.post(
            "/payer/cart/extS2SPID.do", {"buffer": portal_buffer(f"<PID>{first}</PID>")}
        ).text
    )
    assert data.findtext("Esito") == "OP"  # pending: nothing paid yet


@pytest.mark.parametrize("trouble", ["hash", "stale", "future", "key", "code", "garbage", "dtd"])
def test_bad_buffers_are_refused(shop, legacy, trouble):
    xml = request_xml()
    kwargs: dict = {}
    if trouble == "stale":
        kwargs["now"] = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=11)
    elif trouble == "future":
        kwargs["now"] = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=11)
    elif trouble == "key":
        kwargs["key"] = "another key"
    elif trouble == "code":
        kwargs["code"] = "ALTRO"
    buffer = portal_buffer(xml, **kwargs)
    if trouble == "hash":
        buffer = buffer.replace(
            base64.b64encode(xml.encode()).decode(),
            base64.b64encode(xml.replace("1600", "1").encode()).decode(),
        )
    elif trouble == "garbage":
        buffer = "<Buffer><TagOrario>x"
    elif trouble == "dtd":
        buffer = '<!DOCTYPE x [<!ENTITY a "b">]>' + buffer
    answer = shop.app.post("/payer/cart/extS2SRID.do", {"buffer": buffer}, status="*")
    assert answer.status_int == 401
    with shop.factory() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(CheckoutCart)) == 0


def test_the_switch_is_per_portal(shop, legacy):
    with shop.factory.begin() as session:
        modern = level1.register_portal(
            session, "Moderno", ["00112233445"], "https://portale.example/"
        ).portal
        modern.key_id = legacy_buffer.KEY_PREFIX + "MODERNO"
        modern.secret = '{"iv":"' + IV + '","key":"' + KEY + '"}'
    answer = shop.app.post(
        "/payer/cart/extS2SRID.do",
        {"buffer": portal_buffer(request_xml(), code="MODERNO")},
        status="*",
    )
    assert answer.status_int == 401 and "unknown_portal" in answer.text


def test_invalid_requests_say_which_field_and_leave_nothing(shop, legacy):
    answer = rid(shop, request_xml(back="https://evil.example/"), status=422)
    assert "returnUrl" in answer.text
    answer = rid(shop, request_xml(amount="16,00"), status=422)
    assert "Importo" in answer.text
    with shop.factory() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(CheckoutCart)) == 0


def test_another_portal_cannot_read_the_outcome(shop, legacy):
    payment_id = read_answer(rid(shop, request_xml()).text).text
    with shop.factory.begin() as session:
        legacy_buffer.register_legacy(
            session,
            "Altro",
            ["00112233445"],
            "https://altro.example/",
            code="ALTRO",
            iv="a",
            key="b",
        )
    answer = shop.app.post(
        "/payer/cart/extS2SPID.do",
        {"buffer": portal_buffer(f"<PID>{payment_id}</PID>", code="ALTRO", iv="a", key="b")},
        status="*",
    )
    assert answer.status_int == 404
