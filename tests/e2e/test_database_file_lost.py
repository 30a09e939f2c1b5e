"""Deleting the SQLite file under a running server: it notices, refuses writes, says why once."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from sqlalchemy.engine import make_url

from tests.support.server import RunningServer, running_server

# Generous: the test waits for the server to notice, it never measures how fast.
NOTICE_TIMEOUT_SECONDS = 60.0


def _wait_for_not_ready(server: RunningServer) -> dict[str, object]:
    deadline = time.monotonic() + NOTICE_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        answer = httpx.get(f"{server.base_url}/readyz", timeout=10)
        if answer.status_code == 503:
            return dict(answer.json())
        time.sleep(0.05)
    raise AssertionError(f"the server never noticed:\n{server.log()}")


def test_a_deleted_database_file_stops_writes_with_503_and_one_log_line(tmp_path: Path) -> None:
    database = tmp_path / "tambuli.db"
    url = f"sqlite:///{database}"
    with running_server(url, tmp_path) as server:
        org_id, token = server.read_demo_organization()
        headers = {"Authorization": f"Token {token}"}
        body = {
            "orgId": org_id,
            "from": "Tambuli",
            "message": "Hi",
            "fullPhoneNumber": "639171234567",
        }
        with httpx.Client(base_url=server.base_url, headers=headers, timeout=10) as client:
            assert client.post("/v1/sms/phonenumber", json=body).status_code == 200
            balance_path = f"/v1/organizations/{org_id}/balance.json"
            balance = client.get(balance_path).json()["balance"]

            database.unlink()
            not_ready = _wait_for_not_ready(server)
            refused = client.post("/v1/sms/phonenumber", json=body)
            refused_again = client.post("/v1/sms/contact", json=body)
            balance_after = client.get(balance_path).json()["balance"]

        assert refused.status_code == 503, refused.text
        assert refused.json()["errorCode"] == "server.storage"
        assert refused_again.status_code == 503
        assert refused_again.json()["errorCode"] == "server.storage"
        assert balance_after == balance
        reasons = not_ready["reasons"]
        assert isinstance(reasons, list)
        assert f"the database file {make_url(url).database} was deleted" in reasons
        assert server.log().count("was deleted; refusing every write") == 1
        assert "Traceback" not in server.log()


def test_a_replaced_database_file_is_noticed_too(tmp_path: Path) -> None:
    database = tmp_path / "tambuli.db"
    with running_server(f"sqlite:///{database}", tmp_path) as server:
        replacement = tmp_path / "other.db"
        replacement.write_bytes(database.read_bytes())
        replacement.replace(database)
        not_ready = _wait_for_not_ready(server)
    reasons = not_ready["reasons"]
    assert isinstance(reasons, list)
    assert any("was replaced by another file" in str(reason) for reason in reasons)
