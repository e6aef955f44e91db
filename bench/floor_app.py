"""The floor: the least a paVerifyPaymentNotice answer can cost here (bench only).

Plain WSGI, one lxml parse, one SQL query on the same data, one lxml serialisation; no
framework, no validation, no caller checks. payhub's paVerify is measured against it.
"""

from __future__ import annotations

import os

import psycopg
from lxml import etree

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
PAFN = "http://pagopa-api.pagopa.gov.it/pa/paForNode.xsd"
_conn = None  # gunicorn sync worker: one request at a time per process
_SQL = (
    "SELECT o.amount_cents, o.due_date, e.name FROM payment_option o "
    "JOIN ente e ON e.id = o.ente_id WHERE e.fiscal_code = %s AND o.notice_number = %s"
)


def app(environ, start_response):
    global _conn
    if _conn is None:
        _conn = psycopg.connect(os.environ["BENCH_PG_DSN"], autocommit=True)
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    req = etree.fromstring(body, etree.XMLParser(resolve_entities=False, no_network=True))
    verify = req.find(f"{{{SOAP}}}Body")[0]
    fiscal_code = verify.findtext("qrCode/fiscalCode")
    notice = verify.findtext("qrCode/noticeNumber")
    row = _conn.execute(_SQL, (fiscal_code, notice)).fetchone()
    env = etree.Element(f"{{{SOAP}}}Envelope", nsmap={"soapenv": SOAP, "pafn": PAFN})
    body_elt = etree.SubElement(env, f"{{{SOAP}}}Body")
    res = etree.SubElement(body_elt, f"{{{PAFN}}}paVerifyPaymentNoticeRes")
    etree.SubElement(res, "outcome").text = "OK"
    pod = etree.SubElement(etree.SubElement(res, "paymentList"), "paymentOptionDescription")
    etree.SubElement(pod, "amount").text = f"{row[0] / 100:.2f}"
    etree.SubElement(pod, "options").text = "EQ"
    etree.SubElement(pod, "dueDate").text = row[1].isoformat()
    etree.SubElement(pod, "allCCP").text = "false"
    etree.SubElement(res, "fiscalCodePA").text = fiscal_code
    etree.SubElement(res, "companyName").text = row[2]
    out = etree.tostring(env, xml_declaration=True, encoding="UTF-8")
    start_response(
        "200 OK", [("Content-Type", "text/xml; charset=utf-8"), ("Content-Length", str(len(out)))]
    )
    return [out]
