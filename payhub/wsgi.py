"""The web app for a server that imports it by name: ``payhub web`` runs granian with
``payhub.wsgi:app`` as a factory, called in each worker process after it starts (the app
starts threads and pools of its own: never built once and shared). The .ini is
``PAYHUB_CONFIG`` (``payhub web`` sets it to the one it was given)."""

from __future__ import annotations

import os
from typing import Any

CONFIG_VARIABLE = "PAYHUB_CONFIG"


def app() -> Any:
    """The WSGI app of the .ini in ``PAYHUB_CONFIG`` (production.ini by default)."""
    from pyramid.paster import get_app

    return get_app(os.environ.get(CONFIG_VARIABLE, "production.ini"), "main")
