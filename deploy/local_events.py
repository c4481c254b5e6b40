"""A local S3 for the demo's event stream (`make run`, `make up`): moto in server mode on
127.0.0.1, holding the bucket of event_streams/payment_status.yaml and a few JSON lines files of
payment status events for the shop's purchases, one of them with an event its schema refuses
(it shows up in the quarantine table). The load task reaches it through AWS_ENDPOINT_URL, the
AWS SDK's own setting, as it would reach S3.

``start`` prints the variables to export (``eval "$(python -m deploy.local_events start)"``);
``stop`` stops exactly the server ``start`` recorded.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
STREAMS = REPO / "event_streams"
STREAM = "payment_status"
REGION = "us-east-1"
#: local stand-in credentials: moto accepts any
LOCAL_ENV = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": REGION}
PURCHASES = 60
FLOW = ("authorized", "captured", "settled")


def _event(purchase: int, i: int, status: str, at: dt.datetime) -> dict[str, Any]:
    return {
        "event_id": f"evt-{purchase}-{i}",
        "event_type": "payment.status_changed",
        "schema_version": 1,
        "occurred_at": at.isoformat().replace("+00:00", "Z"),
        "purchase_id": purchase,
        "status": status,
    }


def demo_files(now: dt.datetime) -> dict[str, bytes]:
    """A file per hour of the last four, of each purchase's status changes; the same files for
    the same hour, so a rerun finds them already in the ledger."""
    rng = random.Random(7)  # noqa: S311  -- demo data, the same each time
    hour = now.replace(minute=0, second=0, microsecond=0)
    files: dict[str, list[dict[str, Any]]] = {}
    for purchase in range(1, PURCHASES + 1):
        ending = rng.choice(("authorized", "captured", "settled", "settled", "refunded", "failed"))
        if ending == "failed":
            steps = ["authorized", "failed"]
        elif ending == "refunded":
            steps = [*FLOW, "refunded"]
        else:
            steps = list(FLOW[: FLOW.index(ending) + 1])
        for i, status in enumerate(steps):
            at = hour - dt.timedelta(hours=len(steps) - 1 - i, minutes=rng.randrange(1, 60))
            files.setdefault(f"{STREAM}/{at:%Y/%m/%d/%H}.jsonl", []).append(_event(purchase, i, status, at))
    last = sorted(files)[-1]
    files[last].append({**files[last][0], "event_id": "evt-bad", "status": "lost"})  # quarantined
    return {key: "".join(json.dumps(e) + "\n" for e in events).encode() for key, events in files.items()}


def seed(s3: Any, now: dt.datetime | None = None) -> str:
    """The demo stream's bucket with its files; returns the bucket's name."""
    sys.path.insert(0, str(REPO / "plugins"))
    from sluice.events.config import load_streams

    bucket = load_streams(STREAMS).stream(STREAM).stream.source.bucket
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=bucket)
    for key, body in demo_files(now or dt.datetime.now(dt.UTC)).items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    return bucket


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(state: Path) -> dict[str, str]:
    import boto3

    stop(state)
    state.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    server = Path(sys.executable).parent / "moto_server"
    with (state / "moto.log").open("w") as log:
        proc = subprocess.Popen(
            [str(server), "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives this command; `stop` ends it
        )
    (state / "moto.json").write_text(json.dumps({"pid": proc.pid, "port": port}))
    deadline = time.monotonic() + 60
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            break
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"local S3 (moto_server) did not start; see {state / 'moto.log'}")
        time.sleep(0.1)
    env = {**LOCAL_ENV, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
    s3 = boto3.client(
        "s3",
        region_name=REGION,
        endpoint_url=env["AWS_ENDPOINT_URL"],
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106  -- moto's stand-in, no secret
    )
    seed(s3)
    return env


def _alive(state: Path) -> dict[str, int] | None:
    """The recorded server, while it is still that server."""
    try:
        record = json.loads((state / "moto.json").read_text())
        if b"moto_server" in Path(f"/proc/{int(record['pid'])}/cmdline").read_bytes():
            return {"pid": int(record["pid"]), "port": int(record["port"])}
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def running_env(state: Path) -> dict[str, str]:
    """The variables of the server recorded under ``state``; empty when none runs."""
    alive = _alive(state)
    return {**LOCAL_ENV, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{alive['port']}"} if alive else {}


def ensure_started(state: Path) -> dict[str, str]:
    """The running server's variables, or a new server's."""
    return running_env(state) or start(state)


def stop(state: Path) -> None:
    """Stop the server ``start`` recorded, if it is still that server."""
    alive = _alive(state)
    if alive:
        with contextlib.suppress(OSError):
            os.kill(alive["pid"], signal.SIGTERM)
    (state / "moto.json").unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("start", "stop"))
    parser.add_argument(
        "--state", default=str(REPO / ".local" / "events"), help="where the server is recorded"
    )
    args = parser.parse_args(argv)
    if args.command == "stop":
        stop(Path(args.state))
        return 0
    for name, value in start(Path(args.state)).items():
        print(f"export {name}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
