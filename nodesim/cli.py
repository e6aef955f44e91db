"""``payhub-nodesim``: run the simulator standalone against any payhub URL."""

from __future__ import annotations

import click


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8765, show_default=True, type=int)
@click.option(
    "--payhub-url",
    default="http://127.0.0.1:6543",
    show_default=True,
    help="payhub's base URL (the station is at <url><soap-path>).",
)
@click.option("--soap-path", default="/soap/paForNode", show_default=True)
@click.option("--broker", default="77777777777", show_default=True, help="idBrokerPA")
@click.option("--station", default="77777777777_01", show_default=True, help="idStation")
@click.option(
    "--primitive-version",
    type=click.Choice(["1", "2"]),
    default="2",
    show_default=True,
    help="1: paGetPayment/paSendRT; 2: the V2 primitives",
)
@click.option(
    "--sendrt-timeout",
    default=15.0,
    show_default=True,
    type=float,
    help="seconds the Node waits for a paSendRT answer",
)
@click.option("--retry-max-attempts", default=5, show_default=True, type=int)
@click.option(
    "--retry-backoff",
    default=2.0,
    show_default=True,
    type=float,
    help="seconds before the first re-send; doubles each time",
)
@click.option("--password", default=None, help="nodeForPa password (default: any 8-15 chars)")
@click.option(
    "--fault",
    "faults",
    multiple=True,
    metavar="NAME=VALUE",
    help="default fault injection, e.g. --fault duplicate_receipts=1 (repeatable)",
)
@click.option(
    "--station-auth-header",
    envvar="NODESIM_STATION_AUTH_HEADER",
    default=None,
    metavar="'NAME: VALUE'",
    help="header sent on every call to the station, e.g. 'Ocp-Apim-Subscription-Key: "
    "secret' (env NODESIM_STATION_AUTH_HEADER)",
)
@click.option(
    "--standin-probe-seconds",
    default=300.0,
    show_default=True,
    type=float,
    help="while the station is in Stand-In, send the Stand-In probe this often",
)
@click.option(
    "--standin-exit-successes",
    default=3,
    show_default=True,
    type=int,
    help="successful probes in a row that take the station out of Stand-In",
)
@click.option(
    "--standin-after-failures",
    default=0,
    show_default=True,
    type=int,
    help="failed station calls in a row that put it in Stand-In (0: only on demand)",
)
@click.option(
    "--standin-probe-placeholders/--standin-probe-codes",
    default=True,
    show_default=True,
    help="probe with the literal {idBrokerPA}/{idStation}, or the real codes",
)
@click.option("--threads", default=8, show_default=True, type=int)
def main(
    host: str,
    port: int,
    payhub_url: str,
    soap_path: str,
    broker: str,
    station: str,
    primitive_version: str,
    sendrt_timeout: float,
    retry_max_attempts: int,
    retry_backoff: float,
    password: str | None,
    faults: tuple[str, ...],
    station_auth_header: str | None,
    standin_probe_seconds: float,
    standin_exit_successes: int,
    standin_after_failures: int,
    standin_probe_placeholders: bool,
    threads: int,
) -> None:
    """The pagoPA Node, Checkout, PSPs and bank, simulated, talking to payhub over SOAP."""
    import waitress

    from nodesim.app import make_app

    settings = {
        "nodesim.payhub_url": payhub_url,
        "nodesim.soap_path": soap_path,
        "nodesim.broker": broker,
        "nodesim.station": station,
        "nodesim.primitive_version": primitive_version,
        "nodesim.sendrt_timeout_seconds": str(sendrt_timeout),
        "nodesim.retry_max_attempts": str(retry_max_attempts),
        "nodesim.retry_backoff_seconds": str(retry_backoff),
        "nodesim.password": password,
        "nodesim.station_auth_header": station_auth_header,
        "nodesim.standin_probe_seconds": str(standin_probe_seconds),
        "nodesim.standin_exit_successes": str(standin_exit_successes),
        "nodesim.standin_after_failures": str(standin_after_failures),
        "nodesim.standin_probe_placeholders": str(standin_probe_placeholders).lower(),
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
    auth = (
        f" with header {station_auth_header.partition(':')[0].strip()}"
        if station_auth_header
        else " without an auth header"
    )
    click.echo(f"nodesim on http://{host}:{port} -> station {payhub_url}{soap_path}{auth}")
    waitress.serve(app, host=host, port=port, threads=threads, ident="nodesim")


if __name__ == "__main__":
    main()
