"""The Node's nodeForPa reporting operations, as a station calls them over SOAP.

nodoChiediElencoFlussiRendicontazione lists the flows for the station's Enti (optionally one
Ente, one PSP); nodoChiediFlussoRendicontazione returns one flow, base64, in xmlRendicontazione.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

from lxml import etree

from nodesim import soapwire
from nodesim.soapwire import NODE_FOR_PA, sub

if TYPE_CHECKING:
    from nodesim.reporting import Ledger

FAULTS = {
    "PPT_SINTASSI_EXTRAXSD": "Errore di sintassi extra XSD",
    "PPT_AUTENTICAZIONE": "Errore di autenticazione",
    "PPT_INTERMEDIARIO_PA_SCONOSCIUTO": "Identificativo intermediario sconosciuto",
    "PPT_STAZIONE_INT_PA_SCONOSCIUTA": "Identificativo stazione sconosciuto",
    "PPT_ID_FLUSSO_SCONOSCIUTO": "Identificativo flusso sconosciuto",
    "PPT_SYSTEM_ERROR": "Errore generico",
}
OPERATIONS = ("nodoChiediElencoFlussiRendicontazione", "nodoChiediFlussoRendicontazione")


class NodeForPa:
    def __init__(
        self, ledger: Ledger, broker: str, station: str, password: str | None = None
    ) -> None:
        self.ledger, self.broker, self.station, self.password = ledger, broker, station, password

    def handle(self, payload: bytes) -> bytes:
        """Answer one SOAP request (always an answer element; faults inside, as the Node)."""
        try:
            req = soapwire.body_element(payload)
        except soapwire.BadResponse as exc:
            return self._fault(
                "nodoChiediElencoFlussiRendicontazione", "PPT_SINTASSI_EXTRAXSD", str(exc)
            )
        name = soapwire.local(req)
        if etree.QName(req).namespace != NODE_FOR_PA or name not in OPERATIONS:
            return self._fault(OPERATIONS[0], "PPT_SINTASSI_EXTRAXSD", f"unknown {name}")
        fault = self._check_caller(req)
        if fault:
            return self._fault(name, *fault)
        ec = req.findtext("identificativoDominio")
        psp = req.findtext("identificativoPSP")
        if name == OPERATIONS[0]:
            return self._list(ec, psp)
        return self._one(req.findtext("identificativoFlusso") or "", ec)

    def _check_caller(self, req: etree._Element) -> tuple[str, str] | None:
        password = req.findtext("password") or ""
        if not 8 <= len(password) <= 15 or (self.password and password != self.password):
            return "PPT_AUTENTICAZIONE", "wrong password"
        if req.findtext("identificativoIntermediarioPA") != self.broker:
            return "PPT_INTERMEDIARIO_PA_SCONOSCIUTO", "unknown broker"
        if req.findtext("identificativoStazioneIntermediarioPA") != self.station:
            return "PPT_STAZIONE_INT_PA_SCONOSCIUTA", "unknown station"
        return None

    def _list(self, ec: str | None, psp: str | None) -> bytes:
        flows = [
            f
            for f in self.ledger.flows.values()
            if (ec is None or f.ec == ec) and (psp is None or f.psp_id == psp)
        ]
        res = soapwire.wrapper(NODE_FOR_PA, OPERATIONS[0] + "Risposta")
        elenco = sub(res, "elencoFlussiRendicontazione")
        sub(elenco, "totRestituiti", len(flows))
        for flow in sorted(flows, key=lambda f: f.id):
            item = sub(elenco, "idRendicontazione")
            sub(item, "identificativoFlusso", flow.id)
            sub(item, "dataOraFlusso", flow.as_dict()["dataOraFlusso"])
        return soapwire.envelope(res)

    def _one(self, flow_id: str, ec: str | None) -> bytes:
        flow = self.ledger.flows.get(flow_id)
        if flow is None or (ec is not None and flow.ec != ec):
            return self._fault(OPERATIONS[1], "PPT_ID_FLUSSO_SCONOSCIUTO", flow_id)
        res = soapwire.wrapper(NODE_FOR_PA, OPERATIONS[1] + "Risposta")
        sub(res, "xmlRendicontazione", base64.b64encode(flow.xml()).decode())
        return soapwire.envelope(res)

    def _fault(self, operation: str, code: str, description: str) -> bytes:
        res = soapwire.wrapper(NODE_FOR_PA, operation + "Risposta")
        fault = sub(res, "fault")
        sub(fault, "faultCode", code)
        sub(fault, "faultString", FAULTS[code])
        sub(fault, "id", "NodoDeiPagamentiSPC")
        sub(fault, "description", description[:200])
        return soapwire.envelope(res)
