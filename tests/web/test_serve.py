"""`nmmstrial serve`: starts on the given port, answers, and exits cleanly on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request

from click.testing import CliRunner

from nmmstrial.cli import cli

from .test_browser import free_port


def test_serve_runs_until_sigterm(study_db):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "nmmstrial.cli", "serve", str(study_db), "--port", str(port)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2) as page:
                    assert page.status == 200
                    assert "HttpOnly" in page.headers["set-cookie"]
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, output
    assert f"http://127.0.0.1:{port}/" in output


def test_serve_refuses_a_missing_study(tmp_path):
    result = CliRunner().invoke(cli, ["serve", str(tmp_path / "none.db")])
    assert result.exit_code == 1
    assert "no such study database" in result.output
