"""Level-1 tests run on the checkout's app and demo data."""

from tests.web.checkout.conftest import checkout_app, shop  # noqa: F401  (fixtures)
