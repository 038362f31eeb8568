"""`sentitrade sandbox`: bad input is one line and exit code 2; a good start prints the URL and stops on SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess

import httpx

from tests.conftest import REPO, SENTITRADE, one_line_error, run_cli
from tests.sandbox.conftest import BOOKS, DEEP


def test_bad_input_is_one_line(tmp_path):
    books = tmp_path / "books.json"
    books.write_text(json.dumps({DEEP: {"asks": [[0.505, 10]], "tick_size": "0.01"}}))
    assert "off the 0.01 grid" in one_line_error(run_cli("sandbox", "--books", str(books), "--port", "0"))
    assert "cannot read books" in one_line_error(run_cli("sandbox", "--books", str(tmp_path / "none.json"), "--port", "0"))
    assert "not both" in one_line_error(run_cli("sandbox", "--books", str(books), "--data-dir", str(tmp_path)))
    assert "sentitrade demo" in one_line_error(run_cli("sandbox", "--data-dir", str(tmp_path), "--port", "0"))
    books.write_text(json.dumps(BOOKS))
    assert "fault kind 'bogus'" in one_line_error(run_cli("sandbox", "--books", str(books), "--fault", "bogus:0.1"))
    assert "rate must be in (0, 1]" in one_line_error(run_cli("sandbox", "--books", str(books), "--fault", "503:2"))


def test_serves_until_sigterm(tmp_path):
    books = tmp_path / "books.json"
    books.write_text(json.dumps(BOOKS))
    process = subprocess.Popen([*SENTITRADE, "sandbox", "--books", str(books), "--port", "0", "--fault", "503:0.5"],
                               cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = [process.stdout.readline() for _ in range(3)]
        env_line = lines[2].strip()
        assert env_line.startswith("SENTITRADE_POLYMARKET_CLOB_URL=http://127.0.0.1:")
        url = env_line.split("=", 1)[1]
        state = httpx.get(f"{url}/_sandbox/state", timeout=5).json()
        assert set(state["books"]) == set(BOOKS) and state["faults"]["faults"][0] == {
            "kind": "503", "count": None, "rate": 0.5, "body": None, "status": 400}
        assert httpx.get(f"{url}/book", params={"token_id": DEEP}, timeout=5).json()["asks"][-1] == {"price": "0.5", "size": "200"}
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    assert out.strip().endswith("sandbox stopped")
