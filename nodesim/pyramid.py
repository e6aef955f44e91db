"""Mount nodesim inside a Pyramid application at /sim (``make demo``).

The host app does ``config.include("nodesim.pyramid")``; nodesim keeps its own registry and
talks to the host only over HTTP (``nodesim.payhub_url`` in the host's settings, e.g.
http://127.0.0.1:6543), exactly as when it runs standalone.
"""

from __future__ import annotations

from typing import Any

from pyramid.httpexceptions import HTTPFound
from pyramid.wsgi import wsgiapp2

from nodesim.app import make_app

PREFIX = "/sim"


def includeme(config: Any) -> None:
    settings = config.get_settings()
    app = make_app({k: v for k, v in settings.items() if k.startswith("nodesim.")})
    config.add_route("nodesim.root", PREFIX)
    config.add_view(
        lambda request: HTTPFound(request.route_url("nodesim.root") + "/"),
        route_name="nodesim.root",
    )
    config.add_route("nodesim", PREFIX + "/*subpath")
    config.add_view(wsgiapp2(app), route_name="nodesim")
