"""The data model; importing this package registers every table on ``Base.metadata``."""

from hub.models.activation import ActivationRequest, ActivationStep  # issue 15: activation

# administration (issue 15)
from hub.models.administration import EnteIban
from hub.models.api import ApiKey, AuditEvent, IdempotencyRecord, api_key_ente
from hub.models.bulk import BulkLoad, BulkLoadError, BulkLoadStatus  # noqa: F401
from hub.models.checkout import CartItem, CheckoutCart, Level1Nonce, Level1Portal  # noqa: F401
from hub.models.counters import StateCount  # issue 21: dashboard counters
from hub.models.dailyfiles import (  # issue 18: daily files
    DailyFile,
    DailyFileAttempt,
    DailyFileDelivery,
    DailyFileTarget,
)
from hub.models.gpd import (  # GPD API, ACA feed, notification fees (issue 20)
    AcaEnte,
    AcaSync,
    AcaUpload,
    GpdPosition,
    NotificationFee,
)
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
from hub.models.reporting_stream import ReportingFlowPage  # FdR 3 streaming (issue 14)
from hub.models.sla import (
    SlaBreach,
    SlaMinute,
    SlaOutcomeMinute,
    SlaProbe,
    SlaProbeDay,
    SlaTicket,
)
from hub.models.sla_contract import SlaAlert, SlaMail, SlaMaintenance, SlaTicketEvent  # issue 19
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
    "AcaEnte",
    "AcaSync",
    "AcaUpload",
    "ActivationRequest",  # issue 15: activation
    "ActivationStep",
    "Anomaly",
    "ApiKey",
    "AuditEvent",
    "BankCredit",
    "BatchStatus",
    "DailyFile",  # issue 18: daily files
    "DailyFileAttempt",
    "DailyFileDelivery",
    "DailyFileTarget",
    "DebtPosition",
    "Ente",
    "EnteIban",
    "FdrCheckpoint",
    "GpdPosition",
    "IdempotencyRecord",
    "Intermediary",
    "IuvCounter",
    "NoticeBatch",
    "NoticeBatchItem",
    "NotificationFee",
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
    "ReportingFlowPage",  # FdR 3 streaming (issue 14)
    "ServiceKind",
    "SlaAlert",  # the SLA contract (issue 19)
    "SlaBreach",
    "SlaMail",  # issue 19
    "SlaMaintenance",  # issue 19
    "SlaMinute",
    "SlaOutcomeMinute",
    "SlaProbe",
    "SlaProbeDay",
    "SlaTicket",
    "SlaTicketEvent",  # issue 19
    "StandInProbe",
    "StateCount",
    "StateTransition",
    "Station",
    "Transfer",
    "api_key_ente",
    "operator_ente",
    "station_ente",
]
