"""nodesim's home page: the PSP desk form, the deliveries and the flows, for demos."""

from __future__ import annotations

import html
from typing import Any

from nodesim import psps
from nodesim.checkout import _page
from nodesim.node import Node


def home_page(node: Node, request: Any) -> str:
    e = html.escape
    options = "".join(
        f"<option value='{e(o['psp'])}:{e(o['method'])}'>{e(o['name'])} — "
        f"{e(o['method_name'])} (€ {e(o['fee'])})</option>"
        for o in psps.offers()
    )
    rows = "".join(
        f"<tr><td>{e(d.receipt_id)}</td><td>{e(d.notice_number)}</td><td>{e(d.status)}</td>"
        f"<td>{len(d.attempts)}</td></tr>"
        for d in node.deliverer.all()
    )
    flows = "".join(
        f"<li><a href='{e(request.route_url('flow.xml', id=f.id))}'>{e(f.id)}</a> "
        f"{len(f.entries)} pagamenti</li>"
        for f in node.ledger.flows.values()
    )
    standin = node.standin.as_dict()
    probes = "".join(
        f"<tr><td>{e(p['at'])}</td><td>{e(p['trigger'])}</td><td>{e(str(p['httpStatus']))}</td>"
        f"<td>{e(p['faultCode'] or p['result'])}</td><td>{'sì' if p['success'] else 'no'}</td>"
        f"</tr>"
        for p in standin["probes"][-10:]
    )
    state = (
        f"in Stand-In dal {e(standin['since'])} ({e(standin['reason'] or '')}), "
        f"prossima sonda {e(standin['nextProbeAt'] or '-')}"
        if standin["active"]
        else "operativa"
    )
    toggle = "false" if standin["active"] else "true"
    label = "Togli dallo Stand-In" if standin["active"] else "Metti in Stand-In"
    body = (
        f"<p>Ora simulata: {e(node.clock.now().isoformat())} · "
        f"stazione {e(node.client.config.url)}</p>"
        f"<h2>Stand-In</h2><p id='standin'>Stazione {state}</p>"
        f"<form method='post' action='{e(request.route_url('standin'))}'>"
        f"<input type='hidden' name='active' value='{toggle}'><button>{label}</button>"
        f"</form><form method='post' action='{e(request.route_url('standin.probe'))}'>"
        f"<button>Invia la sonda ora</button></form>"
        f"<table><tr><th>sonda</th><th>origine</th><th>HTTP</th><th>esito</th>"
        f"<th>successo</th></tr>{probes}</table>"
        f"<h2>Sportello PSP (modello 3)</h2>"
        f"<form method='post' action='{e(request.route_url('desk.pay'))}'>"
        f"Ente <input name='fiscalCode' value='77777777777' size='11'> "
        f"Avviso <input name='noticeNumber' size='18'> "
        f"<select name='offer'>{options}</select> <button>Paga</button></form>"
        f"<h2>Ricevute (paSendRT)</h2><table><tr><th>receiptId</th><th>avviso</th>"
        f"<th>stato</th><th>tentativi</th></tr>{rows}</table>"
        f"<h2>Flussi di rendicontazione</h2><ul>{flows}</ul>"
    )
    return _page("Nodo pagoPA (simulatore)", body)
