"""``payhub-nodesim``: run the simulator standalone against any payhub URL."""

from __future__ import annotations

import click


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8765, show_default=True, type=int)
@click.option("--payhub-url", default="http://127.0.0.1:6543", show_default=True,
              help="payhub's base URL (the station is at <url><soap-path>).")
@click.option("--soap-path", default="/soap/paForNode", show_default=True)
@click.option("--broker", default="77777777777", show_default=True, help="idBrokerPA")
@click.option("--station", default="77777777777_01", show_default=True, help="idStation")
@click.option("--primitive-version", type=click.Choice(["1", "2"]), default="2",
              show_default=True, help="1: paGetPayment/paSendRT; 2: the V2 primitives")
@click.option("--sendrt-timeout", default=15.0, show_default=True, type=float,
              help="seconds the Node waits for a paSendRT answer")
@click.option("--retry-max-attempts", default=5, show_default=True, type=int)
@click.option("--retry-backoff", default=2.0, show_default=True, type=float,
              help="seconds before the first re-send; doubles each time")
@click.option("--password", default=None, help="nodeForPa password (default: any 8-15 chars)")
@click.option("--fault", "faults", multiple=True, metavar="NAME=VALUE",
              help="default fault injection, e.g. --fault duplicate_receipts=1 (repeatable)")
@click.option("--threads", default=8, show_default=True, type=int)
def main(host: str, port: int, payhub_url: str, soap_path: str, broker: str, station: str,
         primitive_version: str, sendrt_timeout: float, retry_max_attempts: int,
         retry_backoff: float, password: str | None, faults: tuple[str, ...],
         threads: int) -> None:
    """The pagoPA Node, Checkout, PSPs and bank, simulated, talking to payhub over SOAP."""
    import waitress

    from nodesim.app import make_app

    settings = {
        "nodesim.payhub_url": payhub_url, "nodesim.soap_path": soap_path,
        "nodesim.broker": broker, "nodesim.station": station,
        "nodesim.primitive_version": primitive_version,
        "nodesim.sendrt_timeout_seconds": str(sendrt_timeout),
        "nodesim.retry_max_attempts": str(retry_max_attempts),
        "nodesim.retry_backoff_seconds": str(retry_backoff), "nodesim.password": password,
    }
    for item in faults:
        name, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r} is not NAME=VALUE", param_hint="--fault")
        settings[f"nodesim.fault.{name}"] = value
    try:
        app = make_app(settings)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"nodesim on http://{host}:{port} -> station {payhub_url}{soap_path}")
    waitress.serve(app, host=host, port=port, threads=threads, ident="nodesim")


if __name__ == "__main__":
    main()
