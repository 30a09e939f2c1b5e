"""Uploads that convert: a 1 MB WAV to MP3, alone and eight at once, on one `tambuli serve`.

Starts a server on a scratch SQLite database (or `--database-url`), creates an organization,
then uploads a generated tone (16-bit PCM WAV of about 1 MB) to
POST /v1/organizations/{orgId}/files/?category=bench&filter=mp3: `--alone` uploads one after
another, then `--rounds` rounds of `--concurrency` at once. Reports each upload's time (client
side, sending included), every answer's status, and the server process's peak RSS while the
concurrent rounds ran (sampled every half second) against its RSS before them.

    .venv/bin/python -m bench.files_load [--concurrency 8] [--rounds 3] [--alone 3]
        [--database-url postgresql://postgres@127.0.0.1:5432/tambuli_bench_files] [--json-out F]

The issue's task: record the time and the server's memory while 8 run at once. Load and
database traffic go only to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import math
import os
import struct
import sys
import tempfile
import time
import uuid
import wave
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.api_load import (
    HOST,
    RssSampler,
    create_organization,
    read_git_commit,
    read_proc_status_kib,
    run_server,
)
from bench.campaign_load import check_scratch_url, scratch_database
from bench.topups_load import percentiles_ms

TONE_HZ = 440
SAMPLE_RATE = 44_100
# Stereo 16-bit at 44.1 kHz is 176,400 bytes a second: six seconds is just over 1 MB.
SECONDS = 6.0


def make_tone_wav(seconds: float = SECONDS) -> bytes:
    """A stereo sine tone as 16-bit PCM WAV (about 1 MB for six seconds)."""
    frames = bytearray()
    for index in range(int(seconds * SAMPLE_RATE)):
        value = int(8000 * math.sin(2 * math.pi * TONE_HZ * index / SAMPLE_RATE))
        frames += struct.pack("<hh", value, value)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as sink:
        sink.setnchannels(2)
        sink.setsampwidth(2)
        sink.setframerate(SAMPLE_RATE)
        sink.writeframes(bytes(frames))
    return buffer.getvalue()


def build_multipart(title: str, data: bytes) -> tuple[bytes, str]:
    """A multipart/form-data body with one `upload` part; the body and its Content-Type."""
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="upload"; '
        f'filename="{title}"\r\nContent-Type: audio/wav\r\n\r\n'
    ).encode()
    body = head + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def upload_once(
    port: int, org_id: int, token: str, body: bytes, content_type: str
) -> tuple[int, float]:
    """One upload with conversion to MP3; its status and seconds taken."""
    path = f"/v1/organizations/{org_id}/files/?category=bench&filter=mp3"
    started = time.perf_counter()
    connection = http.client.HTTPConnection(HOST, port, timeout=300)
    try:
        connection.request(
            "POST",
            path,
            body=body,
            headers={"Authorization": f"Token {token}", "Content-Type": content_type},
        )
        answer = connection.getresponse()
        answer.read()
    finally:
        connection.close()
    return answer.status, time.perf_counter() - started


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--alone", type=int, default=3)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--json-out", type=Path)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Start the server, run the uploads, print the report."""
    args = parse_args(argv)
    wav = make_tone_wav()
    with ExitStack() as stack:
        work_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tambuli-files-")))
        url = f"sqlite:///{work_dir / 'bench.db'}"
        if args.database_url:
            url = stack.enter_context(scratch_database(check_scratch_url(args.database_url)))
        env = {**os.environ, "TAMBULI_DATABASE_URL": url}
        org = create_organization(env, work_dir)
        with run_server(work_dir, env) as server:
            pid = server.process.pid
            alone: list[float] = []
            statuses: dict[str, int] = {}
            for index in range(args.alone):
                body, content_type = build_multipart(f"alone {index}.wav", wav)
                status, seconds = upload_once(
                    server.port, org.org_id, org.token, body, content_type
                )
                statuses[str(status)] = statuses.get(str(status), 0) + 1
                alone.append(seconds)
            rss_before_kib = read_proc_status_kib(pid, "VmRSS") or 0
            sampler = RssSampler(pid)
            sampler.start()
            together: list[float] = []
            round_seconds: list[float] = []
            try:
                with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
                    for round_index in range(args.rounds):
                        bodies = [
                            build_multipart(f"round {round_index} upload {i}.wav", wav)
                            for i in range(args.concurrency)
                        ]
                        started = time.perf_counter()
                        answers = list(
                            pool.map(
                                lambda b: upload_once(server.port, org.org_id, org.token, *b),
                                bodies,
                            )
                        )
                        round_seconds.append(time.perf_counter() - started)
                        for status, seconds in answers:
                            statuses[str(status)] = statuses.get(str(status), 0) + 1
                            together.append(seconds)
            finally:
                sampler.stop()
    report: dict[str, Any] = {
        "commit": read_git_commit(),
        "wav_bytes": len(wav),
        "statuses": statuses,
        "alone_ms": percentiles_ms(alone),
        "together_ms": percentiles_ms(together),
        "round_seconds": [round(s, 2) for s in round_seconds],
        "rss_before_mib": round(rss_before_kib / 1024, 1),
        "rss_peak_mib": round(sampler.peak_kib / 1024, 1),
        "concurrency": args.concurrency,
    }
    alone_ms, together_ms = report["alone_ms"], report["together_ms"]
    print(f"- Tambuli commit {report['commit']}; WAV of {len(wav):,} bytes to MP3")
    print(f"- Answers: {statuses}")
    print(f"- Alone ({args.alone}): p50 {alone_ms['p50']:.0f} ms, max {alone_ms['max']:.0f} ms")
    print(
        f"- {args.concurrency} at once ({args.rounds} rounds): p50 {together_ms['p50']:.0f} ms,"
        f" p99 {together_ms['p99']:.0f} ms, rounds {report['round_seconds']} s"
    )
    print(
        f"- Server RSS: {report['rss_before_mib']} MiB before the rounds,"
        f" peak {report['rss_peak_mib']} MiB during them"
    )
    if args.json_out is not None:
        args.json_out.write_text(json.dumps(report, indent=2))
    return 0 if set(statuses) == {"200"} else 1


if __name__ == "__main__":
    sys.exit(main())
