"""The simulated PSPs: who they are, their channels and their fee per payment method."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

# pagoPA payment method codes as they appear in receipts
METHODS = {"CP": "creditCard", "BBT": "bankTransfer", "APP": "app", "PO": "cash"}


@dataclasses.dataclass(frozen=True)
class Psp:
    id: str  # idPSP (a BIC-like code or the ABI)
    fiscal_code: str
    vat_number: str
    name: str
    bic: str
    channel: str  # idChannel
    channel_description: str
    fees: dict[str, Decimal]  # method code -> fee

    def fee(self, method: str) -> Decimal:
        if method not in self.fees:
            raise ValueError(
                f"PSP {self.id} does not offer method {method!r}; "
                f"it offers {', '.join(sorted(self.fees))}"
            )
        return self.fees[method]


CATALOGUE: tuple[Psp, ...] = (
    Psp(
        "BCITITMM",
        "00799960158",
        "10810700152",
        "Banca Intesa Demo",
        "BCITITMM",
        "00799960158_01",
        "online banking and cards",
        {"CP": Decimal("1.50"), "BBT": Decimal("0.80"), "APP": Decimal("1.00")},
    ),
    Psp(
        "UNCRITMM",
        "00348170101",
        "00348170101",
        "UniCredito Demo",
        "UNCRITMM",
        "00348170101_02",
        "app and cards",
        {"CP": Decimal("1.20"), "APP": Decimal("0.90")},
    ),
    Psp(
        "PTSPITR1",
        "97103880585",
        "01114601006",
        "Poste Demo",
        "BPPIITRR",
        "97103880585_03",
        "post offices and app",
        {"BBT": Decimal("1.00"), "APP": Decimal("1.00"), "PO": Decimal("2.00")},
    ),
    Psp(
        "SISLITM1",
        "05425630968",
        "05425630968",
        "Tabaccheria Demo (SisalPay)",
        "SISLITM1",
        "05425630968_04",
        "tobacconists desk",
        {"PO": Decimal("2.00")},
    ),
)


def find(psp_id: str) -> Psp:
    for psp in CATALOGUE:
        if psp.id == psp_id:
            return psp
    raise ValueError(f"unknown PSP {psp_id!r}; known: {', '.join(p.id for p in CATALOGUE)}")


def offers() -> list[dict[str, str]]:
    """Every (PSP, method, fee), cheapest first: what Checkout lists."""
    rows = [
        {"psp": p.id, "name": p.name, "method": m, "method_name": METHODS[m], "fee": f"{fee:.2f}"}
        for p in CATALOGUE
        for m, fee in p.fees.items()
    ]
    return sorted(rows, key=lambda r: (Decimal(r["fee"]), r["psp"], r["method"]))
