"""The Ente's logo on its notices: checked when set, printed in the header."""

from __future__ import annotations

import io

import segno
from click.testing import CliRunner
from pypdf import PdfReader
from sqlalchemy.orm import Session

from hub.models import AuditEvent, Ente
from hub.printing.data import LOGO_MAX_BYTES, document_of, logo_problem
from hub.printing.pdf import render_pdf
from payhub.cli import main
from tests.factories import make_ente, make_position
from tests.hub.printing.conftest import ente, option, position
from tests.payhub.test_cli import ROOT


def _png(scale: int = 4) -> bytes:
    buffer = io.BytesIO()
    segno.make("payhub").save(buffer, kind="png", scale=scale)
    return buffer.getvalue()


def _images(pdf: bytes) -> int:
    return sum(len(page.images) for page in PdfReader(io.BytesIO(pdf)).pages)


def test_a_png_logo_is_accepted_and_other_data_is_refused_saying_why():
    assert logo_problem(_png()) is None
    assert "PNG or JPEG" in logo_problem(b"GIF89a" + b"\0" * 100)
    assert "at most" in logo_problem(b"\x89PNG\r\n\x1a\n" + b"\0" * LOGO_MAX_BYTES)
    assert "cannot be read" in logo_problem(b"\x89PNG\r\n\x1a\n" + b"garbage")


def test_the_logo_is_printed_in_the_header_of_every_page():
    with_logo = ente()
    with_logo.logo = _png()
    plain = render_pdf(document_of(ente(), position(option("300715700000000032", 12_345))))
    logo = render_pdf(document_of(with_logo, position(option("300715700000000032", 12_345))))
    assert _images(logo) == _images(plain) + 1


def test_set_logo_from_the_cli_reaches_the_rendered_notice(sqlite_engine, tmp_path):
    with Session(sqlite_engine) as session, session.begin():
        number = make_position(session, make_ente(session, "77777777777")).options[0].notice_number
    ini = tmp_path / "t.ini"
    ini.write_text(
        (ROOT / "development.ini")
        .read_text()
        .replace("sqlite:///var/payhub.sqlite", str(sqlite_engine.url))
    )
    image = tmp_path / "logo.png"
    image.write_bytes(_png())
    runner = CliRunner()
    bad = tmp_path / "logo.txt"
    bad.write_text("not an image")
    refused = runner.invoke(main, ["-c", str(ini), "ente", "set-logo", "77777777777", str(bad)])
    assert refused.exit_code != 0 and "PNG or JPEG" in refused.output
    done = runner.invoke(main, ["-c", str(ini), "ente", "set-logo", "77777777777", str(image)])
    assert done.exit_code == 0, done.output
    with Session(sqlite_engine) as session:
        assert session.query(Ente).one().logo == image.read_bytes()
        # through the administration's service layer: audited like any other change
        event = session.query(AuditEvent).filter_by(action="admin.ente.logo").one()
        assert event.actor == "cli" and event.target == "ente:77777777777"
        assert event.detail["after"]["logo"] == f"<{len(image.read_bytes())} bytes>"
    out = tmp_path / "out"
    rendered = runner.invoke(
        main,
        [
            "-c",
            str(ini),
            "notices",
            "render",
            "77777777777",
            number,
            "--format",
            "pdf",
            "--out",
            str(out),
        ],
    )
    assert rendered.exit_code == 0, rendered.output
    cleared = runner.invoke(main, ["-c", str(ini), "ente", "set-logo", "77777777777", "--clear"])
    assert cleared.exit_code == 0
    out2 = tmp_path / "out2"
    runner.invoke(
        main,
        [
            "-c",
            str(ini),
            "notices",
            "render",
            "77777777777",
            number,
            "--format",
            "pdf",
            "--out",
            str(out2),
        ],
    )
    assert (
        _images((out / f"{number}.pdf").read_bytes())
        == _images((out2 / f"{number}.pdf").read_bytes()) + 1
    )
