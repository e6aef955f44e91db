"""Administration of the platform (issue 15): intermediaries, stations, Enti, their accounts
and contacts, payment services, level-1 portals, webhook endpoints and operator accounts.

One service layer used by three faces (``payhub admin`` in payhub/admin_cli.py, the
intermediary-scoped REST API in web/api/admin.py, the dashboard's pages in web/ops/admin.py) and
by the demo seed. ``inputs``: what a valid object is (pydantic); ``service``: every create,
change and listing, each change audited with who, what, before and after; ``onboarding``: many
Enti with their services from a CSV or JSON file, dry run first, idempotent.
"""
