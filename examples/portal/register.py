"""Register the example portal in payhub's database and print its keys as shell exports.

.venv/bin/python examples/portal/register.py -c development.ini --url http://127.0.0.1:8800
"""

from __future__ import annotations

import argparse

from hub.checkout.level1 import register_portal
from hub.db import make_engine, make_session_factory
from hub.settings import load_settings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-c", "--config", default="development.ini")
    parser.add_argument("--url", default="http://127.0.0.1:8800")
    parser.add_argument("--ente", action="append", default=None)
    args = parser.parse_args()
    from plaster import get_settings

    settings = load_settings(get_settings(args.config, "app:main"))
    factory = make_session_factory(make_engine(settings["sqlalchemy.url"]))
    with factory.begin() as session:
        done = register_portal(
            session,
            "Portale di esempio",
            args.ente or ["00112233445"],
            args.url + "/",
            notify_url=args.url + "/notify",
        )
        print(f"export PORTAL_KEY_ID={done.portal.key_id}")
        print(f"export PORTAL_SECRET={done.secret}")
        print(f"export PORTAL_NOTIFY_SECRET={done.notify_secret}")
        print(f"export PORTAL_URL={args.url}")


if __name__ == "__main__":
    main()
