"""CPU per paVerify in process: the floor's WSGI function against payhub's whole WSGI app.

No HTTP server and no load generator: each app is called in a loop with a WSGI environ and the
process's CPU time (``time.process_time``, this process only: PostgreSQL's share is not in it)
is divided by the number of requests. Steadier than req/s on a shared machine; it shows where a
change to the hot path moved the cost. Same database as ``soap_bench.py`` (recreated).

    .venv/bin/python bench/soap_cpu.py [--requests 5000]
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import soap_bench  # noqa: E402


def caller(app, path: str, body: bytes, action: str = "paVerifyPaymentNotice"):
    def call() -> bytes:
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": path,
            "SCRIPT_NAME": "",
            "CONTENT_LENGTH": str(len(body)),
            "CONTENT_TYPE": "text/xml",
            "wsgi.input": io.BytesIO(body),
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "80",
            "wsgi.url_scheme": "http",
            "HTTP_HOST": "127.0.0.1",
            "REMOTE_ADDR": "127.0.0.1",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_SOAPACTION": action,
        }
        return b"".join(app(environ, lambda status, headers, exc_info=None: None))

    return call


def cpu_ms(call, n: int) -> float:
    for _ in range(200):  # warm: connections, prepared statements, caches
        call()
    t0 = time.process_time()
    for _ in range(n):
        call()
    return (time.process_time() - t0) / n * 1000


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--requests", type=int, default=5000)
    opts = args.parse_args()
    url, _ = soap_bench.prepare_database()
    os.environ["BENCH_PG_DSN"] = url.replace("postgresql+psycopg://", "postgresql://")
    os.environ.update(DATABASE_URL=url, REDIS_URL=soap_bench.REDIS)
    from bench import floor_app, payhub_wsgi

    body = soap_bench.VERIFY.encode()
    floor_call = caller(floor_app.app, "/", body)
    hub_call = caller(payhub_wsgi.app, "/soap/paForNode", body)
    assert b"<outcome>OK</outcome>" in floor_call() and b"<outcome>OK</outcome>" in hub_call()
    floor, hub = cpu_ms(floor_call, opts.requests), cpu_ms(hub_call, opts.requests)
    print(f"\nCPU per paVerify in process ({opts.requests} requests each):")
    print(f"  floor  {floor:.3f} ms")
    print(f"  payhub {hub:.3f} ms  ({hub / floor:.1f}x the floor's CPU)")


if __name__ == "__main__":
    main()
