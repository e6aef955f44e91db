"""Dashboard accounts: creating them, checking a password, and throttling failed logins.

Passwords are hashed with scrypt (hashlib, a fresh random salt per account) and compared in
constant time; an unknown username costs the same work as a known one. Failed logins are
audit events (``ops.login_failed``, with the client's address).

Throttling counts attempts in the one limiter (``hub.ratelimit``: atomic, shared by every
process through Redis where payhub runs on it), before the password is checked, so concurrent
attempts cannot all pass a check made before any of them was counted:

- per account *and* address: ``MAX_FAILURES`` attempts in ``FAILURE_WINDOW`` (a good password
  starts the count again). Someone guessing from elsewhere cannot lock an account out: its
  owner, from their own address, is counted apart;
- per address, whatever the account: ``MAX_ATTEMPTS_PER_ADDRESS`` in ``FAILURE_WINDOW``, so one
  client cannot try a password on every account name either.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub.db import utcnow
from hub.errors import DomainError
from hub.models import Ente, OperatorAccount, OperatorRole
from hub.ratelimit import Limiter, per_seconds
from hub.tenants import audit

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MAX_FAILURES = 5
MAX_ATTEMPTS_PER_ADDRESS = 30
FAILURE_WINDOW = dt.timedelta(minutes=15)
PER_ACCOUNT_ADDRESS = per_seconds(MAX_FAILURES, FAILURE_WINDOW.total_seconds())
PER_ADDRESS = per_seconds(MAX_ATTEMPTS_PER_ADDRESS, FAILURE_WINDOW.total_seconds())
_LOCAL_LIMITER: Limiter | None = None  # for callers without one (commands, tests): in memory
MIN_PASSWORD = 10
_DUMMY_HASH = ""  # computed once, checked against when the username is unknown


class AccountError(DomainError):
    """A CLI request on accounts that cannot be done (duplicate name, unknown Ente, ...)."""

    code = "account_error"


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32
    )
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored`` (constant-time comparison)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    computed = hashlib.scrypt(
        password.encode(),
        salt=bytes.fromhex(salt),
        n=int(n),
        r=int(r),
        p=int(p),
        dklen=len(digest) // 2,
    )
    return hmac.compare_digest(computed.hex(), digest)


def _dummy_hash() -> str:
    global _DUMMY_HASH
    if not _DUMMY_HASH:
        _DUMMY_HASH = hash_password(secrets.token_hex(8))
    return _DUMMY_HASH


def create_account(
    session: Session,
    username: str,
    password: str,
    *,
    role: str,
    enti: Iterable[str] = (),
    actor: str = "cli",
    api_key_id: int | None = None,
    request_id: str | None = None,
) -> OperatorAccount:
    """Create an enabled account; an operator needs at least one Ente (fiscal codes).
    Audited as ``operator.create`` like the administration's other creations: ``before`` all
    null, ``after`` the account's fields (never its password or hash). Raises AccountError for
    a taken username, an unknown role or Ente, a short password."""
    if role not in {r.value for r in OperatorRole}:
        raise AccountError(f"unknown role {role!r}")
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password needs at least {MIN_PASSWORD} characters")
    if session.scalar(sa.select(OperatorAccount.id).where(OperatorAccount.username == username)):
        raise AccountError(f"username {username!r} is taken")
    codes = list(dict.fromkeys(enti))
    found = list(session.scalars(sa.select(Ente).where(Ente.fiscal_code.in_(codes))))
    unknown = set(codes) - {e.fiscal_code for e in found}
    if unknown:
        raise AccountError(f"no Ente {', '.join(sorted(unknown))}")
    if role == OperatorRole.OPERATOR and not found:
        raise AccountError("an operator account needs at least one --ente")
    account = OperatorAccount(
        username=username,
        password_hash=hash_password(password),
        role=role,
        enabled=True,
        enti=found,
    )
    session.add(account)
    session.flush()
    after = {"username": username, "role": role, "enabled": True, "enti": sorted(codes)}
    audit.record(
        session,
        actor=actor,
        action="operator.create",
        target=f"operator:{username}",
        api_key_id=api_key_id,
        request_id=request_id,
        detail={"before": dict.fromkeys(after), "after": after},
    )
    return account


def disable_account(session: Session, username: str) -> OperatorAccount:
    account = session.scalar(sa.select(OperatorAccount).where(OperatorAccount.username == username))
    if account is None:
        raise AccountError(f"no account {username!r}")
    detail = {"before": {"enabled": account.enabled}, "after": {"enabled": False}}
    account.enabled = False
    audit.record(
        session,
        actor="cli",
        action="operator.disable",
        target=f"operator:{username}",
        detail=detail,
    )
    return account


@dataclass(frozen=True)
class LoginResult:
    account: OperatorAccount | None
    problem: str | None  # "throttled", "invalid", or None when logged in


def _local_limiter() -> Limiter:
    global _LOCAL_LIMITER
    if _LOCAL_LIMITER is None:
        _LOCAL_LIMITER = Limiter()
    return _LOCAL_LIMITER


def authenticate(
    session: Session,
    username: str,
    password: str,
    *,
    address: str = "unknown",
    limiter: Limiter | None = None,
    now: dt.datetime | None = None,
    request_id: str | None = None,
) -> LoginResult:
    """Check a login from the client at ``address``. A disabled account, a wrong password or an
    unknown username all give ``invalid``; too many recent attempts from this address (for this
    account, or at all) give ``throttled`` without checking the password. On success
    ``last_login_at`` is set and the account's count for this address starts again."""
    now = now or utcnow()
    username = username.strip()[:64]
    limiter = limiter or _local_limiter()
    account_key = username.casefold()
    detail = {"address": address}

    def audited(action: str) -> None:
        audit.record(
            session,
            actor=f"ops:{username}",
            action=action,
            target=f"operator:{username}",
            request_id=request_id,
            detail=detail,
        )

    if not limiter.hit(PER_ADDRESS, "login-address", address) or not limiter.hit(
        PER_ACCOUNT_ADDRESS, "login-account", account_key, address
    ):
        audited("ops.login_throttled")
        return LoginResult(None, "throttled")
    account = session.scalar(sa.select(OperatorAccount).where(OperatorAccount.username == username))
    good = verify_password(password, account.password_hash if account else _dummy_hash())
    if account is None or not good or not account.enabled:
        audited("ops.login_failed")
        return LoginResult(None, "invalid")
    account.last_login_at = now
    limiter.clear(PER_ACCOUNT_ADDRESS, "login-account", account_key, address)
    audited("ops.login")
    return LoginResult(account, None)
