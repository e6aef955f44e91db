"""The data model; importing this package registers every table on ``Base.metadata``."""

from hub.models.api import ApiKey, AuditEvent, IdempotencyRecord, api_key_ente
from hub.models.bulk import BulkLoad, BulkLoadError, BulkLoadStatus  # noqa: F401
from hub.models.checkout import CartItem, CheckoutCart, Level1Nonce, Level1Portal  # noqa: F401
from hub.models.history import Anomaly, StateTransition
from hub.models.operators import OperatorAccount, OperatorRole, operator_ente
from hub.models.outbox import OutboxMessage, ProcessedMessage
from hub.models.positions import DebtPosition, PaymentOption, Transfer
from hub.models.printing import BatchStatus, NoticeBatch, NoticeBatchItem
from hub.models.receipts import PaymentAttempt, Receipt
from hub.models.refunds import RefundCase  # refund cases (issue 16)
from hub.models.reporting import (
    BankCredit,
    FdrCheckpoint,
    ReceiptRecovery,
    ReceiptRecoveryBudget,
    ReportingEntry,
    ReportingFlow,
)
from hub.models.sla import SlaBreach, SlaMinute, SlaProbe, SlaTicket
from hub.models.tenants import (
    Ente,
    Intermediary,
    IuvCounter,
    PaymentService,
    PrimitiveVersion,
    ServiceKind,
    StandInProbe,
    Station,
    station_ente,
)
from hub.models.webhooks import WebhookAttempt, WebhookDelivery, WebhookEndpoint  # noqa: F401

__all__ = [
    "Anomaly",
    "ApiKey",
    "AuditEvent",
    "BankCredit",
    "BatchStatus",
    "DebtPosition",
    "Ente",
    "FdrCheckpoint",
    "IdempotencyRecord",
    "Intermediary",
    "IuvCounter",
    "NoticeBatch",
    "NoticeBatchItem",
    "OperatorAccount",
    "OperatorRole",
    "OutboxMessage",
    "PaymentAttempt",
    "PaymentOption",
    "PaymentService",
    "PrimitiveVersion",
    "ProcessedMessage",
    "Receipt",
    "ReceiptRecovery",
    "ReceiptRecoveryBudget",
    "RefundCase",
    "ReportingEntry",
    "ReportingFlow",
    "ServiceKind",
    "SlaBreach",
    "SlaMinute",
    "SlaProbe",
    "SlaTicket",
    "StandInProbe",
    "StateTransition",
    "Station",
    "Transfer",
    "api_key_ente",
    "operator_ente",
    "station_ente",
]
