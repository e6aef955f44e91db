"""Who is logged in to /ops/: a signed, HttpOnly, SameSite=Lax ticket cookie (Pyramid 2's
SecurityPolicy with AuthTktCookieHelper) naming an account and its ticket version, re-read from
the database on every request so that disabling an account ends its sessions at once, and
logging out (``end_tickets``: the version goes up) ends every copy of its cookie."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from pyramid.authentication import AuthTktCookieHelper
from pyramid.httpexceptions import HTTPForbidden, HTTPNotFound, HTTPSeeOther
from pyramid.security import Allowed, Denied

from hub.models import Ente, OperatorAccount


class OpsSecurityPolicy:
    def __init__(self, secret: str, *, secure: bool, timeout: int) -> None:
        self.helper = AuthTktCookieHelper(
            secret,
            cookie_name="payhub_ops",
            secure=secure,
            http_only=True,
            samesite="Lax",
            hashalg="sha512",
            timeout=timeout,
            reissue_time=min(600, timeout // 2),
            max_age=None,
            path="/ops",
            wild_domain=False,
        )

    def identity(self, request: Any) -> OperatorAccount | None:
        ticket = self.helper.identify(request)
        if ticket is None:
            return None
        account_id, _, version = str(ticket["userid"]).partition(".")
        if not (account_id.isdigit() and version.isdigit() and len(account_id) < 19):
            return None  # a ticket from before ticket versions, or forged
        account = request.db.get(OperatorAccount, int(account_id))
        if account is None or not account.enabled or account.ticket_version != int(version):
            return None
        return account

    def authenticated_userid(self, request: Any) -> int | None:
        account = request.identity
        return account.id if account is not None else None

    def permits(self, request: Any, context: Any, permission: str) -> Any:
        account = request.identity
        if account is None:
            return Denied("not logged in")
        if permission == "support" and not account.is_support:
            return Denied("support only")
        if permission == "intermediary" and not account.is_intermediary:
            return Denied("the intermediary's administrators only")
        return Allowed("ok")

    def remember(self, request: Any, userid: Any, **kw: Any) -> list[tuple[str, str]]:
        account = request.db.get(OperatorAccount, int(userid))
        version = account.ticket_version if account is not None else 0
        return self.helper.remember(request, f"{int(userid)}.{version}", **kw)

    def forget(self, request: Any, **kw: Any) -> list[tuple[str, str]]:
        return self.helper.forget(request, **kw)


def end_tickets(request: Any) -> None:
    """End every ticket of the logged-in account (a copied cookie included)."""
    account = request.identity
    if account is not None:
        account.ticket_version += 1


def account_of(request: Any) -> OperatorAccount:
    """The logged-in account, or a redirect to the login page."""
    account = request.identity
    if account is None:
        raise HTTPSeeOther(location=request.route_path("ops.login"))
    return account


def require_support(request: Any) -> OperatorAccount:
    """The logged-in support account; 403 for an operator."""
    account = account_of(request)
    if not account.is_support:
        raise HTTPForbidden()
    return account


def require_intermediary(request: Any) -> OperatorAccount:
    """The logged-in administrator of the intermediary; 403 for support and operators."""
    account = account_of(request)
    if not account.is_intermediary:
        raise HTTPForbidden()
    return account


def visible_enti(request: Any) -> list[Ente]:
    account = account_of(request)
    if account.is_support:
        return list(request.db.scalars(sa.select(Ente).order_by(Ente.name)))
    return sorted(account.enti, key=lambda e: e.name)


def ente_of(request: Any) -> Ente:
    """The Ente named in the URL if the account may see it; else 404 (not 403: an operator
    must not learn which other Enti exist)."""
    account = account_of(request)
    ente = request.db.scalar(sa.select(Ente).where(Ente.fiscal_code == request.matchdict["ec"]))
    if ente is None or not (account.is_support or any(e.id == ente.id for e in account.enti)):
        raise HTTPNotFound()
    return ente
