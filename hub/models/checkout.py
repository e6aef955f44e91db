"""Citizen checkout and level-1 integration: carts, their items, portals and seen nonces.

A cart lives in the database; the browser's signed session cookie only carries its public id.
Items hold what the payer typed for a spontaneous payment (personal data: never logged, never
put in a URL) until checkout turns them into a published debt position.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hub.db import Base, JSONType, UTCDateTime, utcnow


class Level1Portal(Base):
    """An Ente portal allowed to start payments server-to-server (level 1).

    ``secret`` is kept as issued because HMAC verification needs it: protect the database
    (and its backups) as the portals' keys.
    """

    __tablename__ = "level1_portal"

    id: Mapped[int] = mapped_column(primary_key=True)
    key_id: Mapped[str] = mapped_column(sa.String(40), unique=True)
    secret: Mapped[str] = mapped_column(sa.String(128))
    name: Mapped[str] = mapped_column(sa.String(140))
    enti: Mapped[list] = mapped_column(JSONType)  # fiscal codes the portal may collect for
    return_url_prefix: Mapped[str] = mapped_column(sa.String(500))
    notify_url: Mapped[str | None] = mapped_column(sa.String(500))
    # the hub.notify.webhooks endpoint (kind "portal") that carries the server-to-server outcome
    notify_endpoint_id: Mapped[int | None] = mapped_column(sa.ForeignKey("webhook_endpoint.id"))
    legacy_buffer: Mapped[bool] = mapped_column(default=False)  # PayER "Buffer" (MD5) adapter
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Level1Nonce(Base):
    """A nonce a portal used; the unique key refuses a replay across processes."""

    __tablename__ = "level1_nonce"

    portal_id: Mapped[int] = mapped_column(
        sa.ForeignKey("level1_portal.id", ondelete="CASCADE"), primary_key=True
    )
    nonce: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class CheckoutCart(Base):
    """A citizen's cart: open while being filled, then submitted to pagoPA Checkout."""

    __tablename__ = "checkout_cart"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(sa.String(32), unique=True)
    status: Mapped[str] = mapped_column(sa.String(16), default="open", index=True)
    language: Mapped[str] = mapped_column(sa.String(2), default="it")
    payer_email: Mapped[str | None] = mapped_column(sa.String(256))
    portal_id: Mapped[int | None] = mapped_column(sa.ForeignKey("level1_portal.id"))
    external_id: Mapped[str | None] = mapped_column(sa.String(64))
    notified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    return_url: Mapped[str | None] = mapped_column(sa.String(500))
    direct: Mapped[bool] = mapped_column(default=False)  # level 1: straight to Checkout
    checkout_url: Mapped[str | None] = mapped_column(sa.String(500))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    submitted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    items: Mapped[list[CartItem]] = relationship(
        back_populates="cart", order_by="CartItem.id", cascade="all, delete-orphan"
    )
    portal: Mapped[Level1Portal | None] = relationship()

    __table_args__ = (sa.UniqueConstraint("portal_id", "external_id"),)


class CartItem(Base):
    """One notice in a cart: an existing option (precomputed) or form data (spontaneous)."""

    __tablename__ = "checkout_cart_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    cart_id: Mapped[int] = mapped_column(
        sa.ForeignKey("checkout_cart.id", ondelete="CASCADE"), index=True
    )
    ente_id: Mapped[int] = mapped_column(sa.ForeignKey("ente.id"))
    service_id: Mapped[int | None] = mapped_column(sa.ForeignKey("payment_service.id"))
    option_id: Mapped[int | None] = mapped_column(sa.ForeignKey("payment_option.id"))
    kind: Mapped[str] = mapped_column(sa.String(16))  # precomputed | spontaneous
    amount_cents: Mapped[int] = mapped_column(sa.BigInteger)
    description: Mapped[str] = mapped_column(sa.String(140))
    payer: Mapped[dict | None] = mapped_column(JSONType)  # personal data
    form_data: Mapped[dict | None] = mapped_column(JSONType)  # personal data

    cart: Mapped[CheckoutCart] = relationship(back_populates="items")

    __table_args__ = (sa.CheckConstraint("amount_cents > 0", name="amount_positive"),)
