"""Who is logged in to /ops/: a signed, HttpOnly, SameSite=Lax ticket cookie (Pyramid 2's
SecurityPolicy with AuthTktCookieHelper) naming an account, re-read from the database on every
request so that disabling an account ends its sessions at once."""

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
        try:
            account_id = int(ticket["userid"])
        except (TypeError, ValueError):
            return None
        account = request.db.get(OperatorAccount, account_id)
        return account if account is not None and account.enabled else None

    def authenticated_userid(self, request: Any) -> int | None:
        account = request.identity
        return account.id if account is not None else None

    def permits(self, request: Any, context: Any, permission: str) -> Any:
        account = request.identity
        if account is None:
            return Denied("not logged in")
        if permission == "support" and not account.is_support:
            return Denied("support only")
        return Allowed("ok")

    def remember(self, request: Any, userid: Any, **kw: Any) -> list[tuple[str, str]]:
        return self.helper.remember(request, str(userid), **kw)

    def forget(self, request: Any, **kw: Any) -> list[tuple[str, str]]:
        return self.helper.forget(request, **kw)


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
