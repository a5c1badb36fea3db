"""`nmmstrial serve STUDY.db`: the browser app for running the trial (docs/web.md)."""

from __future__ import annotations

import signal

import click

from ..errors import NmmstrialError

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@click.command("serve")
@click.argument("study_db")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--idle-minutes",
    default=15.0,
    show_default=True,
    type=click.FloatRange(min=1),
    help="A session without a request for this long ends.",
)
@click.option(
    "--secure-cookies/--no-secure-cookies",
    default=None,
    help="Mark the session cookie Secure (default: exactly when the request came over "
    "https, e.g. through a TLS proxy).",
)
def serve(
    study_db: str, host: str, port: int, idle_minutes: float, secure_cookies: bool | None
) -> None:
    """Serve the data-capture app for STUDY_DB (a SQLite file or a PostgreSQL URL) until
    stopped (Ctrl-C or SIGTERM). Users log in with their study user name and password."""
    try:
        import uvicorn

        from ..web import Settings, create_app
    except ModuleNotFoundError as error:
        raise NmmstrialError(
            f"the web app needs {error.name}: pip install 'nmmstrial[web]'"
        ) from error
    app = create_app(study_db, Settings(idle_minutes=idle_minutes, secure_cookies=secure_cookies))
    if host not in LOOPBACK and not secure_cookies:
        click.echo(
            f"warning: serving on {host} over plain http: passwords and session cookies "
            "cross the network unencrypted; put a TLS proxy in front (docs/web.md)",
            err=True,
        )
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"nmmstrial: serving {app.state.label} on http://{shown}:{port}/ (Ctrl-C stops)")
    # uvicorn shuts down gracefully on SIGTERM / SIGINT, then raises the signal again
    # with the handlers it found: these make that a clean exit (status 0).
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _exit_cleanly)
    uvicorn.run(app, host=host, port=port, log_level="info", proxy_headers=True)


def _exit_cleanly(_signum, _frame) -> None:
    raise SystemExit(0)
