"""Payment notices over the REST API: JSON, PDF, PNG and SVG of one notice; batches."""

from __future__ import annotations

import io
import zipfile

import pytest
from pypdf import PdfReader

from hub.models import Ente
from hub.printing import batches
from tests.factories import make_position
from tests.web.api.conftest import api_app, world  # noqa: F401 - fixtures

pytestmark = pytest.mark.pg


@pytest.fixture
def notice(world):  # noqa: F811
    with world.factory.begin() as session:
        ente = session.query(Ente).filter_by(fiscal_code=world.ente).one()
        ente.postal_iban = "IT57N0760103200000016302093"
        return make_position(session, ente, amount="42.50").options[0].notice_number


def _url(world, number, tail=""):  # noqa: F811
    return f"/api/v1/enti/{world.ente}/notices/{number}{tail}"


def test_print_resource_gives_the_notice_data_as_json(world, notice):  # noqa: F811
    body = world.app.get(_url(world, notice, "/print"), headers=world.auth()).json
    (data,) = body["notices"]
    assert data["noticeNumber"] == notice and data["amount"] == "42.50"
    assert data["qrPayload"] == f"PAGOPA|002|{notice}|{world.ente}|4250"
    assert len(data["dataMatrixPayload"]) == 256


def test_pdf_by_format_parameter_or_accept_header(world, notice):  # noqa: F811
    for url, headers in (
        (_url(world, notice, "?format=pdf"), {}),
        (_url(world, notice), {"Accept": "application/pdf"}),
        (_url(world, notice, "/print?lang=it-en"), {"Accept": "application/pdf"}),
    ):
        response = world.app.get(url, headers={**world.auth(), **headers})
        assert response.content_type == "application/pdf"
        text = PdfReader(io.BytesIO(response.body)).pages[0].extract_text()
        assert " ".join(notice[i : i + 4] for i in range(0, 18, 4)) in text
        assert "42,50" in text


def test_qr_and_datamatrix_as_png_and_svg(world, notice):  # noqa: F811
    png = world.app.get(_url(world, notice, "?format=png"), headers=world.auth())
    assert png.content_type == "image/png" and png.body.startswith(b"\x89PNG")
    svg = world.app.get(
        _url(world, notice, "/print?symbol=datamatrix"),
        headers={**world.auth(), "Accept": "image/svg+xml"},
    )
    assert svg.content_type == "image/svg+xml" and b"<svg" in svg.body


def test_the_api_json_of_a_notice_is_left_to_the_api(world, notice):  # noqa: F811
    response = world.app.get(
        _url(world, notice), headers={**world.auth(), "Accept": "*/*"}, expect_errors=True
    )
    assert response.content_type != "application/pdf"


def test_another_entes_key_or_no_key_gets_no_notice(world, notice):  # noqa: F811
    world.app.get(_url(world, notice, "/print"), headers=world.auth(world.other_key), status=404)
    world.app.get(_url(world, notice, "/print"), status=401)
    world.app.get(_url(world, "399999999999999999", "/print"), headers=world.auth(), status=404)


def test_batch_is_created_followed_and_downloaded(world, notice, tmp_path):  # noqa: F811
    url = f"/api/v1/enti/{world.ente}/notice-batches"
    created = world.app.post_json(
        url, {"noticeNumbers": [notice], "language": "it-de"}, headers=world.auth(), status=202
    )
    assert created.json["status"] == "pending" and created.json["total"] == 1
    status_url = created.headers["Location"]
    world.app.get(status_url + "/zip", headers=world.auth(), status=409)
    with world.factory.begin() as session:  # what the actor does
        from hub.models import NoticeBatch

        batch = session.query(NoticeBatch).filter_by(public_id=created.json["id"]).one()
        batch_id = batch.id
    while True:
        with world.factory.begin() as session:
            if not batches.run_chunk(session, batch_id, tmp_path):
                break
    status = world.app.get(status_url, headers=world.auth()).json
    assert status["status"] == "done" and status["done"] == 1
    download = world.app.get(status["download"], headers=world.auth())
    assert download.content_type == "application/zip"
    with zipfile.ZipFile(io.BytesIO(download.body)) as zf:
        assert len(zf.namelist()) == 2 and notice in zf.read("index.csv").decode()
    world.app.get(status_url, headers=world.auth(world.other_key), status=404)


def test_bad_batch_requests_are_problems(world):  # noqa: F811
    url = f"/api/v1/enti/{world.ente}/notice-batches"
    world.app.post_json(url, {}, headers=world.auth(), status=422)
    world.app.post_json(
        url, {"noticeNumbers": ["399999999999999999"]}, headers=world.auth(), status=422
    )
    world.app.post_json(
        url, {"service": "MENSA", "language": "fr"}, headers=world.auth(), status=422
    )
