"""Outgoing HTTPS: which certificate authorities we trust, in one place.

``payhub.outgoing_ca_bundle`` names a PEM file of private CAs (an Ente's back-office behind its
own CA, a regional network's proxy). They are trusted *in addition to* the public CAs that
``requests`` trusts (certifi), unless ``payhub.outgoing_ca_only = true``, which trusts the file
alone. Every outgoing call passes ``verify=hub.http.verify()``: webhook deliveries, pagoPA
Checkout, the back-office lookups, the Node client.

``configure(settings)`` runs once per process (web app, worker, scheduler); ``verify_setting``
computes the value without keeping it (tests, clients built from settings).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import certifi

from hub.settings import SettingsError, as_bool

_verify: str | bool = True


def verify_setting(settings: Mapping[str, Any]) -> str | bool:
    """What to pass as ``requests``' ``verify=``: True (the public CAs) or a PEM file path."""
    path = str(settings.get("payhub.outgoing_ca_bundle") or "").strip()
    if not path:
        return True
    try:
        extra = Path(path).read_bytes()
    except OSError as exc:
        raise SettingsError(
            f"payhub.outgoing_ca_bundle: cannot read {path} ({exc.strerror or exc})"
        ) from None
    if b"-----BEGIN CERTIFICATE-----" not in extra:
        raise SettingsError(f"payhub.outgoing_ca_bundle: {path} holds no PEM certificate")
    if as_bool(settings.get("payhub.outgoing_ca_only", False)):
        return path
    return _combined_bundle(Path(certifi.where()).read_bytes(), extra)


def _combined_bundle(public: bytes, extra: bytes) -> str:
    """A file holding the public CAs then the private ones, named by its content (so every
    process of a machine shares one, and a changed private bundle makes a new one)."""
    content = public.rstrip(b"\n") + b"\n\n# payhub.outgoing_ca_bundle\n" + extra
    digest = hashlib.sha256(content).hexdigest()[:16]
    target = Path(tempfile.gettempdir()) / f"payhub-ca-{digest}.pem"
    if not target.exists():
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".payhub-ca-")
        with os.fdopen(fd, "wb") as f:
            f.write(content)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    return str(target)


def configure(settings: Mapping[str, Any]) -> str | bool:
    """Set this process's ``verify()`` from settings (refuses an unreadable bundle)."""
    global _verify
    _verify = verify_setting(settings)
    return _verify


def verify() -> str | bool:
    """``verify=`` for every outgoing ``requests`` call of this process."""
    return _verify
