"""Finding what to print: a notice by number, the positions of a batch selection."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from hub.errors import DomainError, NotFound
from hub.models import DebtPosition, Ente, PaymentOption, PaymentService
from hub.positions.bulk import get_load
from hub.printing.data import NoticeDocument, document_of
from workflows.payment import PAYABLE_STATES, OptionStatus

PRINTABLE = PAYABLE_STATES  # published and not yet paid


def notice_document(session: Session, ente: Ente, notice_number: str) -> NoticeDocument:
    """The document of the position holding ``notice_number`` for ``ente`` (NotFound if none,
    or if the position is still a draft: an unpublished notice cannot be paid)."""
    option = session.scalar(
        sa.select(PaymentOption)
        .where(PaymentOption.ente_id == ente.id, PaymentOption.notice_number == notice_number)
        .options(selectinload(PaymentOption.position).selectinload(DebtPosition.options))
    )
    if option is None or option.status == OptionStatus.DRAFT:
        raise NotFound(f"no published notice {notice_number} for Ente {ente.fiscal_code}")
    return document_of(ente, option.position)


def positions_for(
    session: Session,
    ente: Ente,
    *,
    notice_numbers: list[str] | None = None,
    service_code: str | None = None,
    iupds: list[str] | None = None,
    bulk_load: str | None = None,
) -> list[int]:
    """The ids of the positions to print, in id order, each once. Exactly one selector:
    notice numbers (each must exist), a service code, IUPDs or a bulk load's public id (their
    printable positions)."""
    chosen = [s for s in (notice_numbers, service_code, iupds, bulk_load) if s]
    if len(chosen) != 1:
        raise DomainError(
            "give exactly one of noticeNumbers, service, iupds or bulkLoad", code="batch_selection"
        )
    if notice_numbers:
        rows = session.execute(
            sa.select(PaymentOption.notice_number, PaymentOption.position_id).where(
                PaymentOption.ente_id == ente.id,
                PaymentOption.notice_number.in_(set(notice_numbers)),
            )
        ).all()
        missing = sorted(set(notice_numbers) - {r.notice_number for r in rows})
        if missing:
            raise NotFound(
                f"unknown notice numbers: {', '.join(missing[:10])}"
                + (" ..." if len(missing) > 10 else "")
            )
        return sorted({r.position_id for r in rows})
    query = (
        sa.select(DebtPosition.id)
        .distinct()
        .join(PaymentOption, PaymentOption.position_id == DebtPosition.id)
        .where(DebtPosition.ente_id == ente.id, PaymentOption.status.in_(PRINTABLE))
        .order_by(DebtPosition.id)
    )
    if service_code:
        service = session.scalar(
            sa.select(PaymentService).where(
                PaymentService.ente_id == ente.id, PaymentService.code == service_code
            )
        )
        if service is None:
            raise NotFound(f"unknown service {service_code!r} for Ente {ente.fiscal_code}")
        query = query.where(DebtPosition.service_id == service.id)
    elif bulk_load:
        query = query.where(DebtPosition.bulk_load_id == get_load(session, ente, bulk_load).id)
    else:
        query = query.where(DebtPosition.iupd.in_(set(iupds or ())))
    return list(session.scalars(query))
