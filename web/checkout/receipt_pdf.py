"""The payer's receipt for a cart, as a one-page PDF (reportlab), in the page's language.

Every text goes through ``hub.printing.markup.paragraph``: names, descriptions and PSP names
are shown as text, never read as ReportLab markup."""

from __future__ import annotations

import io
from typing import Any

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import SimpleDocTemplate, Spacer, Table, TableStyle

from hub import clock
from hub.checkout import CartOutcome
from hub.models import CheckoutCart, Ente
from hub.printing.markup import paragraph
from hub.values.money import format_cents
from web.checkout.i18n import _


def _euro(cents: int | None) -> str:
    return "—" if cents is None else "€ " + format_cents(cents).replace(".", ",")


def transaction_fees(result: CartOutcome) -> dict[tuple[str, str, int], int]:
    """One fee per PSP transaction: {(PSP, payment method, fee): notices paid with it}.

    Checkout pays a whole cart in one transaction and the Node writes that transaction's fee on
    the receipt of every notice in it, so the receipts of one cart with the same PSP, method
    and fee are one transaction, charged once (not once per notice)."""
    fees: dict[tuple[str, str, int], int] = {}
    for io_ in result.items:
        r = io_.receipt
        if r is None or not r.fee_cents:
            continue
        method = getattr(r, "payment_method", None) or ""
        key = (r.psp_company_name or r.id_psp or "—", method, r.fee_cents)
        fees[key] = fees.get(key, 0) + 1
    return fees


def render_receipt(
    localizer: Any, cart: CheckoutCart, result: CartOutcome, enti: dict[int, Ente]
) -> bytes:
    """A PDF listing each paid notice with its pagoPA receipt (id, PSP, Italian time), the
    fee of each PSP transaction once, and the totals without and with the fees."""
    t = localizer.translate
    styles = getSampleStyleSheet()
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        title=t(_("Payment receipt")),
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        invariant=1,
    )
    story: list[Any] = [
        paragraph(t(_("Payment receipt")), styles["Title"]),
        paragraph(t(_("Cart ${id}", mapping={"id": cart.public_id})), styles["Normal"]),
        Spacer(1, 6 * mm),
    ]
    rows = [[t(_("Body")), t(_("Reason")), t(_("Notice number")), t(_("Amount")), t(_("Outcome"))]]
    for io_ in result.items:
        ente = enti.get(io_.item.ente_id)
        rows.append(
            [
                paragraph(ente.name if ente else "", styles["BodyText"]),
                paragraph(io_.item.description, styles["BodyText"]),
                io_.option.notice_number if io_.option else "—",
                _euro(io_.item.amount_cents),
                t(_("Paid")) if io_.paid else t(_("Not paid")),
            ]
        )
    table = Table(rows, colWidths=[40 * mm, 50 * mm, 40 * mm, 24 * mm, 20 * mm])
    table.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#0066CC")),
                ("TEXTCOLOR", (0, 0), (-1, 0), colors.white),
                ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#5C6F82")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("FONTSIZE", (0, 0), (-1, -1), 8),
            ]
        )
    )
    story += [table, Spacer(1, 6 * mm)]
    for io_ in result.items:
        r = io_.receipt
        if r is None:
            continue
        story.append(
            paragraph(
                t(
                    _(
                        "Notice ${notice}: pagoPA receipt ${receipt}, paid on ${date} (Italian "
                        "time) through ${psp}.",
                        mapping={
                            "notice": r.notice_number,
                            "receipt": r.receipt_id,
                            "date": clock.show(r.payment_date_time or r.received_at, zone=True),
                            "psp": r.psp_company_name or r.id_psp or "—",
                        },
                    )
                ),
                styles["BodyText"],
            )
        )
    paid = sum(i.item.amount_cents for i in result.items if i.paid)
    fees = transaction_fees(result)
    story.append(Spacer(1, 4 * mm))
    for (psp, _method, fee), notices in fees.items():
        story.append(
            paragraph(
                t(
                    _(
                        "Fee charged by ${psp}: ${fee}, once for the payment of ${n} notices.",
                        mapping={"psp": psp, "fee": _euro(fee), "n": notices},
                    )
                    if notices > 1
                    else _(
                        "Fee charged by ${psp}: ${fee}.", mapping={"psp": psp, "fee": _euro(fee)}
                    )
                ),
                styles["BodyText"],
            )
        )
    total_fees = sum(fee for _psp, _m, fee in fees)
    story += [
        Spacer(1, 4 * mm),
        paragraph(
            t(_("Total paid to the bodies: ${total}", mapping={"total": _euro(paid)})),
            styles["Heading3"],
        ),
        paragraph(t(_("Fees: ${fees}", mapping={"fees": _euro(total_fees)})), styles["BodyText"]),
        paragraph(
            t(
                _(
                    "Total charged, fees included: ${total}",
                    mapping={"total": _euro(paid + total_fees)},
                )
            ),
            styles["Heading3"],
        ),
        paragraph(
            t(_("The pagoPA receipt is the proof of payment; the body has received it.")),
            styles["BodyText"],
        ),
    ]
    doc.build(story)
    return out.getvalue()
