"""Signed notifications to endpoints: where to send (endpoint), what (delivery), how it went
(attempt). Used by the REST API's webhooks and, later, by level-1 portal notifications."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hub.db import Base, JSONType, UTCDateTime, utcnow

UNFINISHED = ("pending", "retrying", "sending")
DUE = "status IN ('pending', 'retrying', 'sending')"


class WebhookEndpoint(Base):
    """An HTTPS endpoint of an Ente's application that receives signed notifications.

    ``secret`` signs every request, so it is kept in clear on the server (it is shown to the
    Ente once, at registration); ``key_id`` names it in the ``X-Payhub-Key-Id`` header.
    """

    __tablename__ = "webhook_endpoint"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(sa.String(36), unique=True)
    ente_id: Mapped[int] = mapped_column(sa.ForeignKey("ente.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(16), default="api")  # "api", "portal"
    api_key_id: Mapped[int | None] = mapped_column(sa.ForeignKey("api_key.id"))
    url: Mapped[str] = mapped_column(sa.String(500))
    description: Mapped[str | None] = mapped_column(sa.String(140))
    events: Mapped[list] = mapped_column(JSONType)  # event types subscribed
    key_id: Mapped[str] = mapped_column(sa.String(32), unique=True)
    secret: Mapped[str] = mapped_column(sa.String(100))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    @property
    def active(self) -> bool:
        return self.deleted_at is None


class WebhookDelivery(Base):
    """One event for one endpoint: sent once (unique endpoint + event id), retried, or dead.

    ``attempts`` counts the attempts of the current round (a replay starts a new round);
    every attempt ever made is a WebhookAttempt row. The due time of the next attempt lives
    here (``next_attempt_at``, or ``lease_until`` while one is being sent), so the scheduler
    finds every delivery that is due whatever Redis remembers. ``expired_claims`` counts the
    attempts whose outcome was never recorded (the sender died after claiming): each may have
    reached the endpoint, so each is at most one duplicate post (same event id).
    """

    __tablename__ = "webhook_delivery"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(sa.String(36), unique=True)
    endpoint_id: Mapped[int] = mapped_column(sa.ForeignKey("webhook_endpoint.id"))
    ente_id: Mapped[int] = mapped_column(sa.ForeignKey("ente.id"))
    event_id: Mapped[str] = mapped_column(sa.String(64))
    event_type: Mapped[str] = mapped_column(sa.String(64))
    payload: Mapped[dict] = mapped_column(JSONType)
    # pending (to send now) -> sending -> delivered | retrying (until next_attempt_at; then
    # pending again) -> ... -> dead; a replay puts any of them but delivered back to pending
    status: Mapped[str] = mapped_column(sa.String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    replays: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    expired_claims: Mapped[int] = mapped_column(default=0, server_default="0")
    last_status_code: Mapped[int | None] = mapped_column(sa.SmallInteger)
    last_error: Mapped[str | None] = mapped_column(sa.String(500))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    endpoint: Mapped[WebhookEndpoint] = relationship()
    attempt_log: Mapped[list[WebhookAttempt]] = relationship(
        back_populates="delivery", order_by="WebhookAttempt.id", cascade="all, delete-orphan"
    )

    __table_args__ = (
        sa.UniqueConstraint("endpoint_id", "event_id"),
        # the dead-letter list: an Ente's deliveries in one status, newest first
        sa.Index("ix_webhook_delivery_ente_status", "ente_id", "status", "id"),
        # the scheduler's query: deliveries not finished, by due time
        sa.Index(
            "ix_webhook_delivery_due",
            "next_attempt_at",
            postgresql_where=sa.text(DUE),
            sqlite_where=sa.text(DUE),
        ),
    )


class WebhookAttempt(Base):
    """One HTTP attempt: the answer's status code (or the error) and how long it took."""

    __tablename__ = "webhook_attempt"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        sa.ForeignKey("webhook_delivery.id", ondelete="CASCADE"), index=True
    )
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    duration_ms: Mapped[int] = mapped_column()
    status_code: Mapped[int | None] = mapped_column(sa.SmallInteger)
    error: Mapped[str | None] = mapped_column(sa.String(500))

    delivery: Mapped[WebhookDelivery] = relationship(back_populates="attempt_log")
