"""Bursts of concurrent requests at one `tambuli serve` on PostgreSQL, five request kinds.

Kinds: `sms-contact` (POST /v1/sms/contact to a new number, so the contact is created),
`sms-number` (POST /v1/sms/phonenumber), `subscribe` (POST …/engagements/{id}/subscribe with a
new fullPhoneNumber), `topup` (POST …/topup/, synchronous: it answers once the first attempt
is made) and `contact` (POST …/contacts/). For each kind in turn, a burst opens `--concurrency`
connections, sends one request on each at once and waits for every answer; `--bursts` bursts
per kind, one after another. Reports per kind the answers by status, the latency (p50, p90,
p99, max; connect included), socket errors and the server's and PostgreSQL's CPU.

Starts `tambuli serve` (its workers and the simulators, default settings unless
`--server-env`) on a scratch PostgreSQL database it creates and drops again, and creates a
funded organization and a launched campaign first.

    .venv/bin/python -m bench.burst_load [--concurrency 200] [--bursts 5]
        [--kinds sms-contact,sms-number,subscribe,topup,contact]
        [--database-url postgresql://postgres@127.0.0.1:5432/tambuli_bench_burst]
        [--server-env KEY=VALUE ...] [--json-out FILE]

The issue's target: every answer within p99 <= 1 s and none a 5xx, at 200 concurrent requests
of each kind. Load and database traffic go only to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.api_load import (
    HOST,
    BenchError,
    Organization,
    create_organization,
    describe_machine,
    format_machine,
    request_json,
    run_server,
)
from bench.campaign_load import check_scratch_url, describe_postgres, scratch_database
from bench.topups_load import Connection, CpuMark, percentiles_ms

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/tambuli_bench_burst"
KINDS = ("sms-contact", "sms-number", "subscribe", "topup", "contact")
TARGET_P99_MS = 1000.0
# Generous, so a slow answer shows as latency rather than as a timeout.
REQUEST_TIMEOUT_S = 120.0
KEPT_ERROR_BODIES = 5
CAMPAIGN = {
    "name": "Bench drip",
    "kind": "drip",
    "steps": [{"delay": {"unit": "day", "value": 1, "time": "09:00"}, "message": "Tip one"}],
}


@dataclass
class KindResult:
    """What the bursts of one kind measured."""

    kind: str
    requests: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    socket_errors: int = 0
    latency_ms: dict[str, float] = field(default_factory=dict)
    burst_seconds: list[float] = field(default_factory=list)
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    error_bodies: list[str] = field(default_factory=list)

    def server_errors(self) -> int:
        """5xx answers plus requests that got no answer at all."""
        return self.socket_errors + sum(n for s, n in self.statuses.items() if s.startswith("5"))


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--bursts", type=int, default=5)
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--server-env", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args(argv)
    unknown = set(args.kinds.split(",")) - set(KINDS)
    if unknown:
        parser.error(f"unknown kinds: {', '.join(sorted(unknown))}")
    return args


def _number(kind_index: int, sequence: int, last: str = "9") -> str:
    # A number of its own per request; the last digit keeps clear of the simulators'
    # behaviour endings (0001 to 0008).
    return f"63917{kind_index}{sequence:05d}{last}"


def _raw(method: str, path: str, token: str, body: dict[str, Any]) -> bytes:
    payload = json.dumps(body).encode()
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: {HOST}\r\nAuthorization: Token {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    ).encode()
    return head + payload


def request_builder(kind: str, org: Organization, campaign_id: int) -> Callable[[int], bytes]:
    """The raw request of a kind for the n-th number."""
    base = f"/v1/organizations/{org.org_id}"
    sms = {"orgId": org.org_id, "from": "Bench", "message": "Hello from the burst"}
    index = KINDS.index(kind) + 1
    if kind == "sms-contact":
        return lambda n: _raw(
            "POST", "/v1/sms/contact", org.token, {**sms, "fullPhoneNumber": _number(index, n)}
        )
    if kind == "sms-number":
        return lambda n: _raw(
            "POST", "/v1/sms/phonenumber", org.token, {**sms, "fullPhoneNumber": _number(index, n)}
        )
    if kind == "subscribe":
        path = f"{base}/engagements/{campaign_id}/subscribe"
        return lambda n: _raw("POST", path, org.token, {"fullPhoneNumber": _number(index, n)})
    if kind == "topup":
        return lambda n: _raw(
            "POST",
            f"{base}/topup/",
            org.token,
            {"fullPhoneNumber": _number(index, n, last="0"), "maxAmount": 25},
        )
    return lambda n: _raw(
        "POST", f"{base}/contacts/", org.token, {"fullPhoneNumber": _number(index, n)}
    )


async def _one(port: int, raw: bytes) -> tuple[int | None, float, bytes]:
    connection = Connection(port)
    began = time.perf_counter()
    try:
        async with asyncio.timeout(REQUEST_TIMEOUT_S):
            status, body = await connection.request(raw)
    except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
        return None, time.perf_counter() - began, repr(exc).encode()
    finally:
        connection.close()
    return status, time.perf_counter() - began, body


async def run_bursts(
    port: int, kind: str, build: Callable[[int], bytes], concurrency: int, bursts: int, pid: int
) -> KindResult:
    """`bursts` bursts of `concurrency` simultaneous requests of one kind."""
    result = KindResult(kind)
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    before = CpuMark.take(pid, with_postgres=True)
    for burst in range(bursts):
        raws = [build(burst * concurrency + i) for i in range(concurrency)]
        started = time.perf_counter()
        answers = await asyncio.gather(*(_one(port, raw) for raw in raws))
        result.burst_seconds.append(round(time.perf_counter() - started, 3))
        for status, seconds, body in answers:
            result.requests += 1
            latencies.append(seconds)
            if status is None:
                result.socket_errors += 1
            else:
                statuses[str(status)] += 1
            if status != 200 and len(result.error_bodies) < KEPT_ERROR_BODIES:
                result.error_bodies.append(f"{status}: {body[:300].decode(errors='replace')}")
    used = CpuMark.take(pid, with_postgres=True).since(before)
    result.cpu_seconds = {name: round(seconds, 2) for name, seconds in used.items()}
    result.statuses = dict(sorted(statuses.items()))
    result.latency_ms = percentiles_ms(latencies)
    return result


def launch_campaign(port: int, org: Organization) -> int:
    """Create and launch the campaign the subscribe kind subscribes to; its ID."""
    status, made = request_json(
        port, "POST", f"/v1/organizations/{org.org_id}/campaigns/", org.token, CAMPAIGN
    )
    if status != 201:
        raise BenchError(f"creating the campaign answered {status}: {made}")
    campaign_id = int(made["campaignId"])
    path = f"/v1/organizations/{org.org_id}/campaigns/{campaign_id}/launch"
    status, launched = request_json(port, "POST", path, org.token)
    if status != 200:
        raise BenchError(f"launching the campaign answered {status}: {launched}")
    return campaign_id


def format_report(results: list[KindResult], args: argparse.Namespace) -> str:
    """A Markdown table, one row per kind."""
    lines = [
        f"{args.bursts} bursts of {args.concurrency} concurrent requests per kind",
        "",
        "| kind | requests | answers | p50 ms | p90 ms | p99 ms | max ms | 5xx or none |"
        " bursts s | CPU s server / postgres / other |",
        "|---|---:|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in results:
        answers = ", ".join(f"{n} × {s}" for s, n in r.statuses.items())
        cpu = r.cpu_seconds
        lines.append(
            f"| {r.kind} | {r.requests} | {answers} | {r.latency_ms['p50']:.0f} |"
            f" {r.latency_ms['p90']:.0f} | {r.latency_ms['p99']:.0f} | {r.latency_ms['max']:.0f}"
            f" | {r.server_errors()} | {', '.join(f'{s:.2f}' for s in r.burst_seconds)} |"
            f" {cpu['server']:.1f} / {cpu['postgres']:.1f} / {cpu['other']:.1f} |"
        )
    met = all(r.server_errors() == 0 and r.latency_ms["p99"] <= TARGET_P99_MS for r in results)
    lines += ["", f"Target (p99 <= {TARGET_P99_MS:.0f} ms, no 5xx): {'met' if met else 'NOT met'}"]
    for r in results:
        for body in r.error_bodies:
            lines.append(f"- {r.kind}: {body}")
    return "\n".join(lines)


def run_benchmark(args: argparse.Namespace) -> int:
    """Start the server on a scratch database, run the bursts, print the report."""
    url = check_scratch_url(args.database_url)
    kinds = [k for k in KINDS if k in args.kinds.split(",")]
    machine = describe_machine("bench.burst_load (asyncio, one connection per request)")
    with scratch_database(url) as database_url, tempfile.TemporaryDirectory() as tmp:
        work_dir = Path(tmp)
        env = {**os.environ, "TAMBULI_DATABASE_URL": database_url}
        env.update(dict(item.split("=", 1) for item in args.server_env))
        postgres = asyncio.run(describe_postgres(database_url))
        with run_server(work_dir, env) as server:
            org = create_organization(env, work_dir)
            campaign_id = launch_campaign(server.port, org)
            results = []
            for kind in kinds:
                build = request_builder(kind, org, campaign_id)
                results.append(
                    asyncio.run(
                        run_bursts(
                            server.port,
                            kind,
                            build,
                            args.concurrency,
                            args.bursts,
                            server.process.pid,
                        )
                    )
                )
    print(format_machine(machine))
    print(f"- PostgreSQL: {postgres}")
    print(f"- Server settings: {' '.join(args.server_env) or 'defaults'}")
    print()
    print(format_report(results, args))
    if args.json_out is not None:
        args.json_out.write_text(
            json.dumps(
                {"machine": machine, "postgres": postgres, "results": [asdict(r) for r in results]},
                indent=2,
            )
        )
    failed = any(r.server_errors() for r in results)
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    try:
        return run_benchmark(parse_args(argv))
    except BenchError as exc:
        print(f"burst benchmark failed: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
