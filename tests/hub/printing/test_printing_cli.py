"""`payhub notices render` writes a notice's PDF, JSON or symbol for local use."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy.orm import Session

from payhub.cli import main
from tests.factories import make_ente, make_position

ROOT = Path(__file__).resolve().parents[3]


def test_render_writes_pdf_json_and_qr_for_a_notice(sqlite_engine, tmp_path):
    with Session(sqlite_engine) as session, session.begin():
        ente = make_ente(session, "77777777777")
        number = make_position(session, ente, amount="12.00").options[0].notice_number
    ini = tmp_path / "t.ini"
    ini.write_text(
        (ROOT / "development.ini")
        .read_text()
        .replace("sqlite:///var/payhub.sqlite", str(sqlite_engine.url))
    )
    runner = CliRunner()
    for fmt, suffix in (("pdf", "pdf"), ("json", "json"), ("qr-svg", "svg")):
        result = runner.invoke(
            main,
            [
                "-c",
                str(ini),
                "notices",
                "render",
                "77777777777",
                number,
                "--format",
                fmt,
                "--out",
                str(tmp_path / "out"),
            ],
        )
        assert result.exit_code == 0, result.output
        assert (tmp_path / "out" / f"{number}.{suffix}").exists()
    data = json.loads((tmp_path / "out" / f"{number}.json").read_text())
    assert data[0]["qrPayload"] == f"PAGOPA|002|{number}|77777777777|1200"
    assert (tmp_path / "out" / f"{number}.pdf").read_bytes().startswith(b"%PDF")
    missing = runner.invoke(
        main, ["-c", str(ini), "notices", "render", "77777777777", "399999999999999999"]
    )
    assert missing.exit_code != 0 and "399999999999999999" in missing.output
