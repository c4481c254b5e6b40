"""Spec `notify: email:`: a failed task's alert goes through the SMTP provider's notifier to a
real SMTP server (aiosmtpd on a free loopback port), reached through Airflow's SMTP connection.

Fast: the DAG's own ``on_failure_callback`` (as ``dag_arguments`` wires it) is called with a
failed task's context; nothing is stubbed between it and the SMTP conversation. The Slack and SNS
alerts are sent from a real Airflow run in test_local_airflow.py.
"""

from __future__ import annotations

import email
import email.policy
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from deploy.local_airflow import free_port

from sluice.airflow.checks import dag_arguments
from sluice.plan.folder import plan_folder

NOTIFY = "notify:\n  when: [failure]\n  email: [oncall@example.com, finance-data@example.org]\n"
SENDER = "sluice-alerts@example.com"
# a dbt task's exception, as the warm worker's failure reaches the task: the first line is the one
# the alert must carry, the rest stays in the log
DBT_ERROR = (
    "fqn:payments.gold.customer_balances error: Runtime Error in model customer_balances "
    "(models/gold/customer_balances.sql)\n  Binder Error: column no_such_column not found\n"
)
LOG_URL = "http://localhost:8080/dags/payments_daily/runs/scheduled__2026-12-01/tasks/gold.x?try_number=1"


@dataclass
class Inbox:
    """What the SMTP server accepted: each message with its envelope's sender and recipients."""

    messages: list[tuple[str, list[str], EmailMessage]] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append((str(envelope.mail_from), list(envelope.rcpt_tos), parsed))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Inbox]:
    """An SMTP server on 127.0.0.1, and Airflow's default SMTP connection pointing at it (plain
    SMTP: no SSL, no STARTTLS), with the sender address the notifier needs."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    extra = {"from_email": SENDER, "disable_ssl": True, "disable_tls": True, "retry_limit": 0, "timeout": 10}
    connection = {"conn_type": "smtp", "host": "127.0.0.1", "port": controller.port, "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps(connection))
    try:
        yield inbox
    finally:
        controller.stop()


def _failed_task(task_id: str, error: str) -> dict[str, Any]:
    ti = SimpleNamespace(task_id=task_id, run_id="scheduled__2026-12-01", log_url=LOG_URL)
    return {"ti": ti, "exception": RuntimeError(error)}


def test_a_failed_task_sends_one_email_naming_pipeline_zone_task_error_and_log(
    specs: Path, smtp_server: Inbox
) -> None:
    spec = specs / "payments_daily.yml"
    spec.write_text(spec.read_text() + NOTIFY)
    (sf, plan), *_ = plan_folder([specs]).plans
    on_failure = dag_arguments(sf, plan)["default_args"]["on_failure_callback"]

    on_failure(_failed_task("gold.customer_balances_run", DBT_ERROR))

    [(sender, recipients, msg)] = smtp_server.messages
    assert sender == SENDER
    assert recipients == ["oncall@example.com", "finance-data@example.org"]
    assert msg["To"] == "oncall@example.com, finance-data@example.org"
    assert msg["Subject"] == "sluice: payments_daily failed (zone gold)"
    [part] = [p for p in msg.walk() if p.get_content_type() == "text/html"]
    body = part.get_content()
    # the text is sent as it is, HTML-escaped inside <pre>: the first dbt error line, not the rest
    assert body == (
        "<pre>sluice: payments_daily failed: zone gold, task gold.customer_balances_run, "
        "run scheduled__2026-12-01\n"
        "error: fqn:payments.gold.customer_balances error: Runtime Error in model customer_balances "
        "(models/gold/customer_balances.sql)\n"
        f"log: {LOG_URL.replace('&', '&amp;')}</pre>"
    )
    assert "Binder Error" not in body


def test_an_error_line_holding_markup_or_a_template_arrives_as_text(specs: Path, smtp_server: Inbox) -> None:
    spec = specs / "payments_daily.yml"
    spec.write_text(spec.read_text() + NOTIFY)
    (sf, plan), *_ = plan_folder([specs]).plans
    on_failure = dag_arguments(sf, plan)["default_args"]["on_failure_callback"]

    on_failure(_failed_task("silver.customers_run", "Compilation Error: {{ config(x=1) }} <b>bold</b> & co"))

    [(_, _, msg)] = smtp_server.messages
    [part] = [p for p in msg.walk() if p.get_content_type() == "text/html"]
    line = "error: Compilation Error: {{ config(x=1) }} &lt;b&gt;bold&lt;/b&gt; &amp; co\n"
    assert line in part.get_content()
