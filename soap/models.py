"""Spyne models mirroring the official paForNode.xsd and sac-common-types-1.0.xsd.

They exist for the WSDL we publish and for the schema inbound requests are validated against
(soap.schema builds both from these classes); the hot path never instantiates them. Element
order, occurrences, patterns and named simple types follow the official files; the few places
where we are deliberately more lenient are marked "lenient:".
"""

from __future__ import annotations

import decimal

from spyne import ByteArray, ComplexModel, Date, DateTime, Unicode
from spyne.model.primitive import Boolean, Int
from spyne.model.primitive import Decimal as SpyneDecimal

PAFN = "http://pagopa-api.pagopa.gov.it/pa/paForNode.xsd"
COMMON = "http://pagopa-api.pagopa.gov.it/xsd/common-types/v1.0.0/"
WSDL_TNS = "http://pagopa-api.pagopa.gov.it/paForNode"


def _simple(base, name: str, ns: str, **restrictions):
    """A named simple type; used as-is it is a mandatory, non-nillable element."""
    return base.customize(
        type_name=name, __namespace__=ns, min_occurs=1, nillable=False, **restrictions
    )


def opt(cls, **kw):
    """``cls`` as an optional element (minOccurs=0), keeping its type name."""
    return cls.customize(min_occurs=0, nillable=False, type_name=cls.get_type_name(), **kw)


def many(cls, max_occurs: int, min_occurs: int = 1):
    return cls.customize(
        min_occurs=min_occurs, max_occurs=max_occurs, type_name=cls.get_type_name()
    )


def _text(n: int, ns: str = COMMON):
    return _simple(Unicode, f"stText{n}", ns, min_len=1, max_len=n)


# --- sac-common-types-1.0.xsd --------------------------------------------------------------
stText16, stText35, stText70, stText140 = (_text(n) for n in (16, 35, 70, 140))
stFiscalCodePA = _simple(
    Unicode, "stFiscalCodePA", COMMON, min_len=11, max_len=11, pattern="[0-9]{11}"
)
stNoticeNumber = _simple(Unicode, "stNoticeNumber", COMMON, pattern="[0-9]{18}")
stOutcome = _simple(Unicode, "stOutcome", COMMON, values={"OK", "KO"})
stAmount = _simple(
    SpyneDecimal, "stAmount", COMMON, pattern=r"\d+\.\d{2}", le=decimal.Decimal("999999999.99")
)
stISODate = _simple(Date, "stISODate", COMMON)
stISODateTime = _simple(DateTime, "stISODateTime", COMMON)
stEMail = _simple(
    Unicode,
    "stEMail",
    COMMON,
    max_len=256,
    pattern=r"[a-zA-Z0-9_\.\+\-]+@[a-zA-Z0-9\-]+(\.[a-zA-Z0-9\-]+)*",
)
stNazioneProvincia = _simple(Unicode, "stNazioneProvincia", COMMON, pattern="[A-Z]{2,2}")
stBase64Binary72 = _simple(ByteArray, "stBase64Binary72", COMMON)
stTipoBolloDigitale = _simple(Unicode, "stTipoBolloDigitale", COMMON, values={"01"})
stFaultCode = _simple(Unicode, "stFaultCode", COMMON)
xsString = Unicode.customize(min_occurs=1, nillable=False)
xsInt = Int.customize(min_occurs=1, nillable=False)
xsBoolean = Boolean.customize(min_occurs=1, nillable=False)
xsBase64 = ByteArray.customize(min_occurs=1, nillable=False)
xsDateTime = DateTime.customize(min_occurs=1, nillable=False)


class _Common(ComplexModel):
    __namespace__ = COMMON
    __type_name__ = None  # abstract helper: each subclass names itself

    class Attributes(ComplexModel.Attributes):
        min_occurs = 1
        nillable = False


class ctMapEntry(_Common):
    _type_info = [("key", stText140), ("value", stText140)]


class ctMetadata(_Common):
    _type_info = [("mapEntry", many(ctMapEntry, 15))]


class ctRichiestaMarcaDaBollo(_Common):
    _type_info = [
        ("hashDocumento", stBase64Binary72),
        ("tipoBollo", stTipoBolloDigitale),
        ("provinciaResidenza", stNazioneProvincia),
    ]


class ctFaultBean(_Common):
    _type_info = [
        ("faultCode", stFaultCode),
        ("faultString", xsString),
        ("id", xsString),
        ("description", opt(Unicode)),
        ("serial", opt(Int)),
        ("originalFaultCode", opt(Unicode)),
        ("originalFaultString", opt(Unicode)),
        ("originalDescription", opt(Unicode)),
    ]


class ctResponse(_Common):
    _type_info = [("outcome", stOutcome), ("fault", opt(ctFaultBean))]


# --- paForNode.xsd: simple types ------------------------------------------------------------
stText20 = _text(20, PAFN)
stText210 = _text(210, PAFN)
stIdentificativoServizio = _simple(Unicode, "stIdentificativoServizio", PAFN, min_len=5, max_len=5)
stIdentificativoSoggettoServizio = _simple(
    Unicode, "stIdentificativoSoggettoServizio", PAFN, min_len=5, max_len=5
)
stAmountNotZero = _simple(
    SpyneDecimal,
    "stAmountNotZero",
    PAFN,
    pattern=r"\d+\.\d{2}",
    ge=decimal.Decimal("0.01"),
    le=decimal.Decimal("999999999.99"),
)
stIBAN = _simple(Unicode, "stIBAN", PAFN, min_len=1, max_len=35)
stIdTransfer = _simple(Int, "stIdTransfer", PAFN, values={1, 2, 3, 4, 5})
stEntityUniqueIdentifierValue = _simple(
    Unicode, "stEntityUniqueIdentifierValue", PAFN, min_len=2, max_len=16
)
stEntityUniqueIdentifierType = _simple(
    Unicode, "stEntityUniqueIdentifierType", PAFN, values={"F", "G"}
)
stAmountOption = _simple(Unicode, "stAmountOption", PAFN, values={"EQ", "LS", "GT", "ANY"})
stTransferType = _simple(Unicode, "stTransferType", PAFN, values={"POSTAL", "PAGOPA"})


class _Pa(ComplexModel):
    __namespace__ = PAFN
    __type_name__ = None

    class Attributes(ComplexModel.Attributes):
        min_occurs = 1
        nillable = False


class ctEntityUniqueIdentifier(_Pa):
    _type_info = [
        ("entityUniqueIdentifierType", stEntityUniqueIdentifierType),
        ("entityUniqueIdentifierValue", stEntityUniqueIdentifierValue),
    ]


class ctPaymentOptionDescriptionPA(_Pa):
    _type_info = [
        ("amount", stAmountNotZero),
        ("options", stAmountOption),
        ("dueDate", opt(stISODate)),
        ("detailDescription", opt(stText140)),
        ("allCCP", xsBoolean),
    ]


class ctPaymentOptionsDescriptionListPA(_Pa):
    _type_info = [("paymentOptionDescription", ctPaymentOptionDescriptionPA)]


class ctTransferPA(_Pa):
    _type_info = [
        ("idTransfer", stIdTransfer),
        ("transferAmount", stAmountNotZero),
        ("fiscalCodePA", stFiscalCodePA),
        ("IBAN", stIBAN),
        ("remittanceInformation", stText140),
        ("transferCategory", stText140),
        ("metadata", opt(ctMetadata)),
    ]


class ctTransferListPA(_Pa):
    _type_info = [("transfer", many(ctTransferPA, 5))]


class ctQrCode(_Pa):
    _type_info = [("fiscalCode", stFiscalCodePA), ("noticeNumber", stNoticeNumber)]


class ctSubject(_Pa):
    _type_info = [
        ("uniqueIdentifier", ctEntityUniqueIdentifier),
        ("fullName", stText70),
        ("streetName", opt(stText70)),
        ("civicNumber", opt(stText16)),
        ("postalCode", opt(stText16)),
        ("city", opt(stText35)),
        ("stateProvinceRegion", opt(stText35)),
        ("country", opt(stNazioneProvincia)),
        ("e-mail", opt(stEMail)),
    ]


class ctPaymentPA(_Pa):
    _type_info = [
        ("creditorReferenceId", stText35),
        ("paymentAmount", stAmountNotZero),
        ("dueDate", stISODate),
        ("retentionDate", opt(DateTime)),
        ("lastPayment", opt(Boolean)),
        ("description", stText140),
        ("companyName", opt(stText140)),
        ("officeName", opt(stText140)),
        ("debtor", ctSubject),
        ("transferList", ctTransferListPA),
        ("metadata", opt(ctMetadata)),
    ]


_RECEIPT_HEAD = [
    ("receiptId", xsString),
    ("noticeNumber", stNoticeNumber),
    ("fiscalCode", stFiscalCodePA),
    ("outcome", stOutcome),
    ("creditorReferenceId", stText35),
    ("paymentAmount", stAmount),
    ("description", stText140),
    ("companyName", stText140),
    ("officeName", opt(stText140)),
    ("debtor", ctSubject),
]
_RECEIPT_PSP = [
    ("idPSP", stText35),
    ("pspFiscalCode", opt(stText70)),
    ("pspPartitaIVA", opt(stText20)),
    ("PSPCompanyName", stText70),
    ("idChannel", stText35),
    ("channelDescription", stText35),
    ("payer", opt(ctSubject)),
    ("paymentMethod", opt(stText35)),
]
_RECEIPT_TAIL = [
    ("paymentDateTime", opt(stISODateTime)),
    ("applicationDate", opt(stISODate)),
    ("transferDate", opt(stISODate)),
    ("metadata", opt(ctMetadata)),
    ("standIn", opt(Boolean)),
    # lenient: the SANP prose writes <standin>; a receipt is never refused for its spelling
    ("standin", opt(Boolean)),
]


class ctReceipt(_Pa):
    _type_info = [
        *_RECEIPT_HEAD,
        ("transferList", ctTransferListPA),
        *_RECEIPT_PSP,
        ("fee", opt(stAmount)),
        *_RECEIPT_TAIL,
    ]


class ctTransferPAV2(_Pa):
    # IBAN | richiestaMarcaDaBollo: soap.schema turns this pair into the official xs:choice
    _type_info = [
        ("idTransfer", stIdTransfer),
        ("transferAmount", stAmountNotZero),
        ("fiscalCodePA", stFiscalCodePA),
        ("companyName", opt(stText140)),
        ("IBAN", opt(stIBAN)),
        ("richiestaMarcaDaBollo", opt(ctRichiestaMarcaDaBollo)),
        ("remittanceInformation", stText140),
        ("transferCategory", stText140),
        ("metadata", opt(ctMetadata)),
    ]


class ctTransferPAReceiptV2(_Pa):
    # IBAN | MBDAttachment: made an xs:choice by soap.schema
    _type_info = [
        ("idTransfer", stIdTransfer),
        ("transferAmount", stAmountNotZero),
        ("fiscalCodePA", stFiscalCodePA),
        ("companyName", opt(stText140)),
        ("IBAN", opt(stIBAN)),
        ("MBDAttachment", opt(ByteArray)),
        ("remittanceInformation", stText140),
        ("transferCategory", stText140),
        ("metadata", opt(ctMetadata)),
    ]


class ctTransferListPAReceiptV2(_Pa):
    _type_info = [("transfer", many(ctTransferPAReceiptV2, 5))]


class ctTransferListPAV2(_Pa):
    _type_info = [("transfer", many(ctTransferPAV2, 5))]


class ctReceiptV2(_Pa):
    _type_info = [
        *_RECEIPT_HEAD,
        ("transferList", ctTransferListPAReceiptV2),
        *_RECEIPT_PSP,
        ("paymentNote", opt(stText210)),
        ("fee", opt(stAmount)),
        ("primaryCiIncurredFee", opt(stAmount)),
        ("idBundle", opt(stText70)),
        ("idCiBundle", opt(stText70)),
        *_RECEIPT_TAIL,
    ]


class ctPaymentPAV2(_Pa):
    _type_info = [
        ("creditorReferenceId", stText35),
        ("paymentAmount", stAmountNotZero),
        ("dueDate", stISODate),
        ("retentionDate", opt(DateTime)),
        ("lastPayment", opt(Boolean)),
        ("description", stText140),
        ("companyName", stText140),
        ("officeName", opt(stText140)),
        ("debtor", ctSubject),
        ("transferList", ctTransferListPAV2),
        ("metadata", opt(ctMetadata)),
    ]


# --- request and response wrappers (element name == type name, as in the official XSD) ------
_CALLER = [("idPA", stText35), ("idBrokerPA", stText35), ("idStation", stText35)]
_GET_PAYMENT = [
    *_CALLER,
    ("qrCode", ctQrCode),
    ("amount", opt(stAmount)),
    ("paymentNote", opt(stText210)),
    ("transferType", opt(stTransferType)),
    ("dueDate", opt(stISODate)),
]


class paVerifyPaymentNoticeReq(_Pa):
    _type_info = [*_CALLER, ("qrCode", ctQrCode)]


class paVerifyPaymentNoticeRes(ctResponse):
    __namespace__ = PAFN
    _type_info = [
        ("paymentList", opt(ctPaymentOptionsDescriptionListPA)),
        ("paymentDescription", opt(stText140)),
        ("fiscalCodePA", opt(stFiscalCodePA)),
        ("companyName", opt(stText140)),
        ("officeName", opt(stText140)),
    ]


class paGetPaymentReq(_Pa):
    _type_info = list(_GET_PAYMENT)


class paGetPaymentRes(ctResponse):
    __namespace__ = PAFN
    _type_info = [("data", opt(ctPaymentPA))]


class paSendRTReq(_Pa):
    _type_info = [*_CALLER, ("receipt", ctReceipt)]


class paSendRTRes(ctResponse):
    __namespace__ = PAFN
    _type_info = []


class paDemandPaymentNoticeRequest(_Pa):
    _type_info = [
        *_CALLER,
        ("idServizio", stIdentificativoServizio),
        ("idSoggettoServizio", stIdentificativoSoggettoServizio),
        ("datiSpecificiServizioRequest", xsBase64),
    ]


class paDemandPaymentNoticeResponse(ctResponse):
    __namespace__ = PAFN
    _type_info = [
        ("qrCode", opt(ctQrCode)),
        ("paymentList", opt(ctPaymentOptionsDescriptionListPA)),
        ("paymentDescription", opt(stText140)),
        ("fiscalCodePA", opt(stFiscalCodePA)),
        ("companyName", opt(stText140)),
        ("officeName", opt(stText140)),
    ]


class paGetPaymentV2Request(_Pa):
    _type_info = list(_GET_PAYMENT)


class paGetPaymentV2Response(ctResponse):
    __namespace__ = PAFN
    _type_info = [("data", opt(ctPaymentPAV2))]


class paSendRTV2Request(_Pa):
    _type_info = [*_CALLER, ("receipt", ctReceiptV2)]


class paSendRTV2Response(ctResponse):
    __namespace__ = PAFN
    _type_info = []


# operation -> (request model, response model); the order of the official WSDL
OPERATIONS = {
    "paDemandPaymentNotice": (paDemandPaymentNoticeRequest, paDemandPaymentNoticeResponse),
    "paVerifyPaymentNotice": (paVerifyPaymentNoticeReq, paVerifyPaymentNoticeRes),
    "paGetPayment": (paGetPaymentReq, paGetPaymentRes),
    "paGetPaymentV2": (paGetPaymentV2Request, paGetPaymentV2Response),
    "paSendRT": (paSendRTReq, paSendRTRes),
    "paSendRTV2": (paSendRTV2Request, paSendRTV2Response),
}
