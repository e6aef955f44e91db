"""The data model; importing this package registers every table on ``Base.metadata``."""

from hub.models.api import ApiKey, AuditEvent, IdempotencyRecord, api_key_ente
from hub.models.history import Anomaly, StateTransition
from hub.models.outbox import OutboxMessage, ProcessedMessage
from hub.models.positions import DebtPosition, PaymentOption, Transfer
from hub.models.receipts import PaymentAttempt, Receipt
from hub.models.tenants import (
    Ente,
    Intermediary,
    IuvCounter,
    PaymentService,
    PrimitiveVersion,
    ServiceKind,
    Station,
    station_ente,
)

__all__ = [
    "Anomaly",
    "ApiKey",
    "AuditEvent",
    "DebtPosition",
    "Ente",
    "IdempotencyRecord",
    "Intermediary",
    "IuvCounter",
    "OutboxMessage",
    "PaymentAttempt",
    "PaymentOption",
    "PaymentService",
    "PrimitiveVersion",
    "ProcessedMessage",
    "Receipt",
    "ServiceKind",
    "StateTransition",
    "Station",
    "Transfer",
    "api_key_ente",
    "station_ente",
]
