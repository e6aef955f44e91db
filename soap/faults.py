"""pagoPA fault codes (PAA_*) and the domain errors they stand for: the mapping is here only.

A business error is answered ``outcome=KO`` with a ``fault`` bean in an HTTP 200 response;
faultString is the official wording (the Node forwards it to the PSP), description says what
was wrong in this request.
"""

from __future__ import annotations

from hub.errors import (
    DomainError,
    DuplicateReceipt,
    InvalidAmount,
    OtherPlanInProgress,
    PaymentAlreadyPaid,
    PaymentCancelled,
    PaymentExpired,
    PaymentUnknown,
)
from hub.positions.demand import ServiceNotAvailable
from hub.tenants.stations import WrongBroker, WrongDomain, WrongStation

FAULT_STRINGS = {
    "PAA_PAGAMENTO_SCONOSCIUTO": "Pagamento in attesa risulta sconosciuto all'Ente Creditore",
    "PAA_PAGAMENTO_DUPLICATO": "Pagamento in attesa risulta concluso all'Ente Creditore",
    "PAA_PAGAMENTO_SCADUTO": "Pagamento in attesa risulta scaduto all'Ente Creditore",
    "PAA_PAGAMENTO_ANNULLATO": "Pagamento in attesa risulta annullato all'Ente Creditore",
    "PAA_PAGAMENTO_IN_CORSO": "Pagamento in attesa risulta in corso all'Ente Creditore",
    "PAA_ID_DOMINIO_ERRATO": "La PAA non corrisponde al Dominio indicato",
    "PAA_ID_INTERMEDIARIO_ERRATO": "Identificativo intermediario non corrispondente",
    "PAA_STAZIONE_INT_ERRATA": "Stazione intermediario non corrispondente",
    "PAA_SINTASSI_XSD": "Errore di sintassi XSD",
    "PAA_SINTASSI_EXTRAXSD": "Errore di sintassi extra XSD",
    "PAA_SEMANTICA": "Errore semantico",
    "PAA_SYSTEM_ERROR": "Errore generico",
    "PAA_RECEIPT_DUPLICATA": "Ricevuta già acquisita dall'Ente Creditore",
}

# most specific first: the first class an error is an instance of wins
DOMAIN_FAULTS: dict[type[DomainError], str] = {
    PaymentUnknown: "PAA_PAGAMENTO_SCONOSCIUTO",
    PaymentAlreadyPaid: "PAA_PAGAMENTO_DUPLICATO",
    PaymentExpired: "PAA_PAGAMENTO_SCADUTO",
    PaymentCancelled: "PAA_PAGAMENTO_ANNULLATO",
    # another plan of the debt (another IUV) is being paid: the case the contract keeps
    # PAA_PAGAMENTO_IN_CORSO for, as the Node cannot see it (an OtherPlanPaid is DUPLICATO)
    OtherPlanInProgress: "PAA_PAGAMENTO_IN_CORSO",
    DuplicateReceipt: "PAA_RECEIPT_DUPLICATA",
    WrongDomain: "PAA_ID_DOMINIO_ERRATO",
    WrongBroker: "PAA_ID_INTERMEDIARIO_ERRATO",
    WrongStation: "PAA_STAZIONE_INT_ERRATA",
    InvalidAmount: "PAA_SINTASSI_EXTRAXSD",
    ServiceNotAvailable: "PAA_SEMANTICA",
    DomainError: "PAA_SEMANTICA",
}


class Ko(Exception):
    """Answer ``outcome=KO`` with this fault code and description."""

    def __init__(self, fault_code: str, description: str) -> None:
        super().__init__(f"{fault_code}: {description}")
        self.fault_code = fault_code
        self.description = description

    @property
    def fault_string(self) -> str:
        return FAULT_STRINGS.get(self.fault_code, FAULT_STRINGS["PAA_SYSTEM_ERROR"])

    @classmethod
    def from_domain(cls, exc: DomainError) -> Ko:
        for error_class, code in DOMAIN_FAULTS.items():
            if isinstance(exc, error_class):
                return cls(code, str(exc))
        raise AssertionError("DomainError is mapped")  # pragma: no cover


def syntax(description: str) -> Ko:
    return Ko("PAA_SINTASSI_XSD", description)


def system_error() -> Ko:
    return Ko("PAA_SYSTEM_ERROR", "internal error, retry later")
