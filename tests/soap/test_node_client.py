"""The Node's reporting client: requests valid against the official nodeForPa.xsd, the real
nodesim served by waitress on loopback, and the stored answers of the real Node replayed."""

from __future__ import annotations

import base64
import datetime as dt
import socket

import pytest
import requests
from lxml import etree
from webtest.http import StopableWSGIServer

from nodesim.app import make_app
from nodesim.clock import SimClock
from nodesim.node import Node
from nodesim.station import StationClient, StationConfig
from soap import node_client
from soap.node_client import (
    BAD_RESPONSE,
    FDR,
    TIMEOUT,
    UNREACHABLE,
    FlowRef,
    NodeClient,
    NodeError,
    UnknownFlow,
    parse_flow,
    parse_flow_list,
)
from tests.conftest import shared_path, shared_schema
from tests.nodesim.fakestation import EC, FakeStation

BROKER, STATION, PASSWORD = "77777777777", "77777777777_01", "password01"
REAL = ("peer-material", "reporting", "fdr-nodo-dei-pagamenti")
START = dt.datetime(2026, 11, 27, 10, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def node_for_pa_xsd() -> etree.XMLSchema:
    return shared_schema("pagopa", "wsdl", "xsd", "nodeForPa.xsd")


@pytest.fixture(scope="module")
def fdr_xsd() -> etree.XMLSchema:
    return shared_schema("pagopa", "xsd-common", "FlussoRiversamento_1_0_4.xsd")


@pytest.fixture
def sent(monkeypatch, node_for_pa_xsd):
    """Every request the client posts, each checked against nodeForPa.xsd at teardown."""
    posted: list[tuple[bytes, dict[str, str]]] = []
    real_post = requests.post

    def spy(url, **kwargs):
        if "SOAPAction" in kwargs.get("headers", {}):  # the client's; not the test's own posts
            posted.append((kwargs["data"], kwargs["headers"]))
        return real_post(url, **kwargs)

    monkeypatch.setattr(requests, "post", spy)
    yield posted
    assert posted
    for payload, headers in posted:
        _assert_valid_request(node_for_pa_xsd, payload, headers)


def _assert_valid_request(xsd, payload: bytes, headers: dict[str, str]) -> None:
    env = etree.fromstring(payload)
    assert env.tag == f"{{{node_client.SOAP11}}}Envelope"
    [body] = env.findall(f"{{{node_client.SOAP11}}}Body")
    [request] = list(body)
    assert xsd.validate(request), xsd.error_log.last_error
    assert headers["SOAPAction"] == f'"{etree.QName(request).localname}"'
    assert headers["Content-Type"].startswith("text/xml")


@pytest.fixture
def sim():
    """nodesim from its own factory, on a frozen clock, paying through a fake station; served
    by waitress in a thread on a free loopback port. Yields (nodeForPa URL, base URL)."""
    station = FakeStation(shared_schema("pagopa", "wsdl", "xsd", "paForNode.xsd"))
    config = StationConfig(url="http://station.invalid/soap")
    node = Node(config, clock=SimClock(frozen_at=START), client=StationClient(config, station))
    app = make_app({"nodesim.background": "false", "nodesim.password": PASSWORD}, node=node)
    server = StopableWSGIServer.create(app, host="127.0.0.1")
    base = server.application_url.rstrip("/")
    yield base + "/nodeForPa", base
    server.shutdown()


def _client(url: str, **kwargs) -> NodeClient:
    return NodeClient(url, EC, BROKER, STATION, kwargs.pop("password", PASSWORD), **kwargs)


def _close_a_paid_day(base: str) -> list[dict]:
    paid = requests.post(
        f"{base}/psp/pay", json={"fiscalCode": EC, "noticeNumber": "301000000000000245"}, timeout=10
    )
    assert paid.status_code == 200, paid.text
    closed = requests.post(
        f"{base}/api/days/close", json={"date": START.date().isoformat()}, timeout=10
    )
    assert closed.status_code == 200, closed.text
    return closed.json()["flows"]


# -- requests ---------------------------------------------------------------------------------


def test_requests_validate_against_the_official_xsd_with_unqualified_children(node_for_pa_xsd):
    client = _client("http://node.invalid/nodeForPa")
    for operation, extra in (
        (node_client.LIST, {}),
        (node_client.LIST, {"psp": "BCITITMM"}),
        (node_client.FLOW, {"flow_id": "2026-11-27BCITITMM-0001"}),
        (node_client.FLOW, {"flow_id": "x", "psp": "BCITITMM", "ec_fiscal_code": "00112233445"}),
    ):
        payload = client.build_request(operation, **extra)
        _assert_valid_request(
            node_for_pa_xsd, payload, {"SOAPAction": f'"{operation}"', "Content-Type": "text/xml"}
        )
        request = etree.fromstring(payload)[0][0]
        assert request.tag == f"{{{node_client.NODE_FOR_PA}}}{operation}"
        assert all(etree.QName(child).namespace is None for child in request)
    no_ec = NodeClient("http://node.invalid", None, BROKER, STATION, PASSWORD)
    request = etree.fromstring(no_ec.build_request(node_client.LIST))[0][0]
    assert request.find("identificativoDominio") is None
    assert node_for_pa_xsd.validate(request)


def test_construction_refuses_what_the_xsd_would():
    with pytest.raises(ValueError, match="password"):
        NodeClient("http://node.invalid", EC, BROKER, STATION)
    with pytest.raises(ValueError, match="password"):
        NodeClient("http://node.invalid", EC, BROKER, STATION, "short")
    with pytest.raises(ValueError, match="id_station"):
        NodeClient("http://node.invalid", EC, BROKER, "x" * 36, PASSWORD)


def test_from_settings_reads_the_documented_names_and_the_nodes_timeouts():
    settings = {
        "payhub.node_url": "http://127.0.0.1:6543/sim/nodeForPa",
        "payhub.node_id_pa": EC,
        "payhub.node_id_broker_pa": BROKER,
        "payhub.node_id_station": STATION,
        "payhub.node_password": PASSWORD,
    }
    client = NodeClient.from_settings(settings)
    assert (client.url, client.id_pa, client.id_broker_pa, client.id_station) == (
        settings["payhub.node_url"],
        EC,
        BROKER,
        STATION,
    )
    assert (client.list_timeout, client.flow_timeout) == (15.0, 60.0)
    tuned = NodeClient.from_settings(
        {
            **settings,
            "payhub.node_list_timeout_seconds": "3",
            "payhub.node_flow_timeout_seconds": "9",
            "payhub.node_id_pa": "",
        }
    )
    assert (tuned.list_timeout, tuned.flow_timeout, tuned.id_pa) == (3.0, 9.0, None)
    with pytest.raises(ValueError, match=r"payhub\.node_password"):
        NodeClient.from_settings({k: v for k, v in settings.items() if "password" not in k})


def test_development_ini_points_at_the_mounted_simulator():
    from pathlib import Path

    from pyramid.paster import get_appsettings

    ini = Path(__file__).resolve().parents[2] / "development.ini"
    client = NodeClient.from_settings(get_appsettings(str(ini)))
    assert client.url == "http://127.0.0.1:6543/sim/nodeForPa"
    assert (client.id_pa, client.id_broker_pa, client.id_station) == (EC, BROKER, STATION)


# -- against nodesim over HTTP ----------------------------------------------------------------


def test_list_then_get_returns_a_valid_flussoriversamento(sim, sent, fdr_xsd):
    url, base = sim
    flows = _close_a_paid_day(base)
    client = _client(url)
    refs = client.list_flows()
    assert [r.flow_id for r in refs] == [f["id"] for f in flows if f["fiscalCode"] == EC]
    assert refs[0].date == dt.datetime.fromisoformat(flows[0]["dataOraFlusso"])
    assert refs[0].psp is None
    assert client.list_flows(psp="BCITITMM") == [FlowRef(refs[0].flow_id, refs[0].date, "BCITITMM")]
    assert client.list_flows(psp="PTSPITR1") == []
    xml = client.get_flow(refs[0].flow_id)
    doc = etree.fromstring(xml)
    assert fdr_xsd.validate(doc), fdr_xsd.error_log.last_error
    assert doc.findtext(f"{{{FDR}}}identificativoFlusso") == refs[0].flow_id
    assert doc.findtext(f"{{{FDR}}}importoTotalePagamenti") == "41.50"
    assert xml == requests.get(f"{base}/api/flows/{refs[0].flow_id}.xml", timeout=10).content


def test_an_empty_day_lists_nothing(sim, sent):
    assert _client(sim[0]).list_flows() == []


def test_node_ko_raises_node_error_with_its_code(sim, sent):
    url, _ = sim
    with pytest.raises(UnknownFlow) as unknown:
        _client(url).get_flow("2026-11-27NOSUCHPSP-0001")
    assert unknown.value.fault_code == "PPT_ID_FLUSSO_SCONOSCIUTO"
    assert unknown.value.description == "2026-11-27NOSUCHPSP-0001"
    with pytest.raises(NodeError) as auth:
        _client(url, password="wrongpass1").list_flows()
    assert auth.value.fault_code == "PPT_AUTENTICAZIONE"
    with pytest.raises(NodeError) as station:
        NodeClient(url, EC, BROKER, "77777777777_99", PASSWORD).list_flows()
    assert station.value.fault_code == "PPT_STAZIONE_INT_PA_SCONOSCIUTA"


def test_a_slow_node_times_out(sim, sent):
    url, base = sim
    requests.put(f"{base}/api/faults", json={"slow_seconds": 1}, timeout=10).raise_for_status()
    with pytest.raises(NodeError) as slow:
        _client(url, timeout=0.2).list_flows()
    assert slow.value.fault_code == TIMEOUT


def test_an_unreachable_node_and_a_non_soap_answer(sim, sent):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connection refused
        with pytest.raises(NodeError) as down:
            _client(f"http://127.0.0.1:{port}/nodeForPa", timeout=2).list_flows()
    assert down.value.fault_code == UNREACHABLE
    _, base = sim
    with pytest.raises(NodeError) as html:  # nodesim's home page: 404 for a POST
        _client(base + "/", timeout=5).list_flows()
    assert html.value.fault_code == UNREACHABLE and "HTTP 404" in html.value.description


def test_a_soap_fault_with_http_500_is_the_nodes_error(sent):
    fault = (
        f'<s:Envelope xmlns:s="{node_client.SOAP11}"><s:Body><s:Fault>'
        "<faultcode>s:Client</faultcode><faultstring>PPT_SINTASSI_XSD</faultstring>"
        "</s:Fault></s:Body></s:Envelope>"
    ).encode()

    def node(environ, start_response):
        start_response("500 Internal Server Error", [("Content-Type", "text/xml")])
        return [fault]

    server = StopableWSGIServer.create(node, host="127.0.0.1")
    try:
        with pytest.raises(NodeError) as err:
            _client(server.application_url + "nodeForPa").get_flow("x")
    finally:
        server.shutdown()
    assert (err.value.fault_code, err.value.description) == ("Client", "PPT_SINTASSI_XSD")


# -- the real Node's stored answers, replayed through the parser ------------------------------


def _real(name: str) -> bytes:
    return shared_path(*REAL, name).read_bytes()


def test_real_list_ok():
    refs = parse_flow_list(_real("mocks__nodoChiediElencoFlussiRendicontazione__OK.xml"))
    # the stored answer lists the same flow twice (and says totRestituiti=1): one FlowRef
    assert refs == [
        FlowRef("2023-04-01nodo-doc-dev-16818090899", dt.datetime(2023, 4, 1, 0, 0), None)
    ]


def test_real_list_ko_is_a_node_error():
    # an elencoFlussiRendicontazione with no totRestituiti: not what nodeForPa.xsd allows
    with pytest.raises(NodeError) as ko:
        parse_flow_list(_real("mocks__nodoChiediElencoFlussiRendicontazione__KO_nexi.xml"))
    assert ko.value.fault_code == BAD_RESPONSE and "totRestituiti" in ko.value.description


def test_real_flow_ok_decodes_to_the_valid_flussoriversamento(fdr_xsd):
    xml = parse_flow(_real("mocks__nodoChiediFlussoRendicontazione__OK.xml"))
    decoded = (
        "peer-material",
        "reporting",
        "decoded",
        "fdr-nodo-dei-pagamenti__mocks__nodoChiediFlussoRendicontazione__OK__"
        "FlussoRiversamento.xml",
    )
    assert xml == shared_path(*decoded).read_bytes()
    assert fdr_xsd.validate(etree.fromstring(xml)), fdr_xsd.error_log.last_error


def test_real_flow_ko_raises_its_fault():
    with pytest.raises(UnknownFlow) as ko:
        parse_flow(_real("mocks__nodoChiediFlussoRendicontazione__KO_nexi.xml"))
    assert ko.value.fault_code == "PPT_ID_FLUSSO_SCONOSCIUTO"
    assert ko.value.description == "Rendicontazione sconosciuta o presente in SFTP"


# -- malformed and hostile answers ------------------------------------------------------------


def _answer(operation: str, inner: str) -> bytes:
    return (
        f'<s:Envelope xmlns:s="{node_client.SOAP11}" xmlns:ws="{node_client.NODE_FOR_PA}">'
        f"<s:Body><ws:{operation}Risposta>{inner}</ws:{operation}Risposta></s:Body>"
        "</s:Envelope>"
    ).encode()


FLOW_OK = base64.b64encode(f'<FlussoRiversamento xmlns="{FDR}"/>'.encode()).decode()


@pytest.mark.parametrize(
    ("payload", "parse"),
    [
        (b"", parse_flow_list),
        (b"<html>Service Unavailable", parse_flow_list),
        (
            b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
            + _answer(
                node_client.LIST,
                "<elencoFlussiRendicontazione><totRestituiti>&e;"
                "</totRestituiti></elencoFlussiRendicontazione>",
            ),
            parse_flow_list,
        ),
        (b"<Envelope/>", parse_flow_list),
        (_answer(node_client.FLOW, ""), parse_flow_list),  # another operation's answer
        (
            _answer(
                node_client.LIST,
                "<elencoFlussiRendicontazione><totRestituiti>x"
                "</totRestituiti></elencoFlussiRendicontazione>",
            ),
            parse_flow_list,
        ),
        (
            _answer(
                node_client.LIST,
                "<elencoFlussiRendicontazione><totRestituiti>1</totRestituiti>"
                "<idRendicontazione><identificativoFlusso>a</identificativoFlusso>"
                "<dataOraFlusso>yesterday</dataOraFlusso></idRendicontazione>"
                "</elencoFlussiRendicontazione>",
            ),
            parse_flow_list,
        ),
        (
            _answer(
                node_client.LIST,
                "<ws:elencoFlussiRendicontazione><totRestituiti>0"
                "</totRestituiti></ws:elencoFlussiRendicontazione>",
            ),
            parse_flow_list,
        ),
        (_answer(node_client.FLOW, ""), parse_flow),
        (
            _answer(node_client.FLOW, "<xmlRendicontazione>not base64!</xmlRendicontazione>"),
            parse_flow,
        ),
        (
            _answer(
                node_client.FLOW,
                "<xmlRendicontazione>"
                + base64.b64encode(b"<other/>").decode()
                + "</xmlRendicontazione>",
            ),
            parse_flow,
        ),
        (
            _answer(
                node_client.FLOW,
                "<xmlRendicontazione>"
                + base64.b64encode(
                    b'<!DOCTYPE x [<!ENTITY a "aaaa">]><FlussoRiversamento xmlns="'
                    + FDR.encode()
                    + b'">&a;</FlussoRiversamento>'
                ).decode()
                + "</xmlRendicontazione>",
            ),
            parse_flow,
        ),
        (
            _answer(
                node_client.FLOW,
                f"<xmlRendicontazione>{FLOW_OK}</xmlRendicontazione>"
                f"<xmlRendicontazione>{FLOW_OK}</xmlRendicontazione>",
            ),
            parse_flow,
        ),
    ],
)
def test_malformed_answers_are_node_errors(payload, parse):
    with pytest.raises(NodeError) as bad:
        parse(payload)
    assert bad.value.fault_code == BAD_RESPONSE


def test_entities_are_never_expanded():
    payload = b'<?xml version="1.0"?><!DOCTYPE s:Envelope [<!ENTITY e "PPT_X">]>' + _answer(
        node_client.FLOW,
        "<fault><faultCode>&e;</faultCode><faultString>s</faultString><id>n</id></fault>",
    )
    with pytest.raises(NodeError) as bad:
        parse_flow(payload)
    assert bad.value.fault_code == BAD_RESPONSE and "DTD" in bad.value.description


def test_a_soap_fault_and_a_well_formed_minimal_flow():
    fault = (
        f'<s:Envelope xmlns:s="{node_client.SOAP11}"><s:Body><s:Fault>'
        "<faultcode>s:Server</faultcode><faultstring>boom</faultstring>"
        "</s:Fault></s:Body></s:Envelope>"
    ).encode()
    with pytest.raises(NodeError) as server:
        parse_flow_list(fault)
    assert (server.value.fault_code, server.value.description) == ("Server", "boom")
    assert parse_flow(
        _answer(node_client.FLOW, f"<xmlRendicontazione>\n{FLOW_OK}\n</xmlRendicontazione>")
    ).startswith(b"<FlussoRiversamento")
