"""Issue 17 item 11: bad input is a clean 4xx or a form message, never a 500."""

from __future__ import annotations

import base64

import pytest
from webtest import Upload


@pytest.mark.parametrize(
    "path", ["/health%ff", "/pay/?lang=%ff", "/ops/login?x=%c3%28", "/api/v1/%ff"]
)
def test_invalid_utf8_in_the_address_is_a_400(site, path):
    assert site.app.get(path, status="*").status_int == 400


def test_huge_ids_and_cursors_are_4xx(site):
    site.login()
    for path in (
        "/ops/enti/77777777777/payments/99999999999999999999",
        "/ops/enti/77777777777/payments/9999999999",
        "/ops/enti/77777777777/flows/99999999999999999999",
    ):
        assert site.app.get(path, status="*").status_int == 404, path
    api = "/api/v1/enti/77777777777"
    big = base64.urlsafe_b64encode(b"p99999999999999999999999").decode().rstrip("=")
    for path in (
        f"{api}/debt-positions?cursor={big}",
        f"{api}/webhook-dead-letters?cursor=999999999999999999",
        f"{api}/webhook-deliveries?cursor=999999999999999999",
    ):
        status = site.app.get(path, headers=site.api(), status="*").status_int
        assert status in (200, 400, 422), (path, status)


def test_a_nul_in_the_login_form_is_a_form_message(site):
    form = site.app.get("/ops/login").forms[0]
    form["username"], form["password"] = "a\x00b", "x\x00y"
    answer = form.submit(status="*")
    assert answer.status_int in (200, 400) and "Wrong username or password" in answer.text


@pytest.mark.parametrize(
    "content",
    [
        b"value_date;amount;description\n2026-12-01;10,00;a\x00b\n",
        b"value_date;amount;description\n2026-12-01;10,00;" + b"x" * (128 * 1024) + b"\n",
        b"value_date;amount;description\n2026-12-01;99999999999999999999999,00;x\n",
    ],
)
def test_a_hostile_statement_is_a_form_message(site, content):
    site.login()
    answer = site.post(
        "/ops/enti/77777777777/statement",
        {"csrf_token": site.csrf(), "statement": Upload("s.csv", content, "text/csv")},
    )
    assert answer.status_int in (400, 413), answer.status
    assert "${" not in answer.text


def test_a_statement_too_large_says_by_how_much_not_a_placeholder(site):
    site.login()
    answer = site.post(
        "/ops/enti/77777777777/statement",
        {"csrf_token": site.csrf(), "statement": Upload("s.csv", b"x" * 250_000, "text/csv")},
    )
    assert answer.status_int == 413
    assert "${mb}" not in answer.text and "0.2 MB" in answer.text


def test_a_notice_batch_naming_an_iupd_with_a_nul_is_a_422_not_a_500(site):
    """Found by the long schemathesis run: a NUL in ``iupds`` reached PostgreSQL (500)."""
    res = site.app.post_json(
        "/api/v1/enti/77777777777/notice-batches",
        {"iupds": ["IUPD\x00-1"], "language": "it"},
        headers=site.api(),
        status="*",
    )
    assert res.status_int == 422 and res.json["field"] == "iupds"
