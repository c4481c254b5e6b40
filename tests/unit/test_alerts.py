"""Spec `notify:`: where alerts go and what each says (sent for real in
tests/integration/test_local_airflow.py, to a local Slack webhook and moto's SNS)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from sluice.airflow.alerts import PipelineAlerts, message
from sluice.cli import main
from sluice.errors import NodesNotPassed, SluiceError
from sluice.plan.folder import plan_folder
from sluice.plan.model import Alerts
from sluice.runtime.publish import PublishError

NOTIFY = """notify:
  when: [failure, blocked_publish, success]
  slack: {connection: slack_alerts}
  email: [oncall@example.com]
  sns: {topic_arn: "arn:aws:sns:eu-west-1:123456789012:data-alerts"}
"""


def _context(task_id: str, exc: BaseException | None) -> dict[str, Any]:
    ti = SimpleNamespace(task_id=task_id, run_id="scheduled__2026-12-01", log_url="http://af/log")
    return {"ti": ti, "exception": exc}


def test_the_plan_carries_connection_ids_and_addresses_only(specs: Path) -> None:
    spec = specs / "payments_daily.yml"
    spec.write_text(spec.read_text() + NOTIFY)
    (_, plan), *_ = plan_folder([specs], every_environment=True).plans
    assert plan.dag.alerts == Alerts(
        on=("failure", "blocked_publish", "success"),
        slack_connection="slack_alerts",
        emails=("oncall@example.com",),
        sns_topic_arn="arn:aws:sns:eu-west-1:123456789012:data-alerts",
        aws_connection="aws_default",
    )


@pytest.mark.parametrize(
    ("notify", "line"),
    [
        ("notify: {when: [failure]}", "notify: say where to send: slack, email and/or sns"),
        ("notify: {email: [not-an-address]}", "notify.email[0]: String should match pattern"),
        ("notify: {sns: {topic_arn: my-topic}}", "notify.sns.topic_arn: String should match pattern"),
        ("notify: {slack: {webhook: 'https://hooks.slack.com/x'}}", "notify.slack.webhook: unknown key"),
        ("notify: {when: [sometimes], slack: {connection: s}}", "notify.when[0]: Input should be"),
    ],
)
def test_a_bad_notify_section_is_one_line_at_its_key(
    specs: Path, notify: str, line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = specs / "payments_daily.yml"
    spec.write_text(spec.read_text() + notify + "\n")
    assert main(["validate", str(specs)]) == 1
    out = capsys.readouterr().out
    assert f"payments_daily.yml:{len(spec.read_text().splitlines())}: {line}" in out, out


def test_the_message_names_pipeline_zone_task_error_and_log() -> None:
    exc = RuntimeError("Runtime Error in model x ({{ config(schema='s') }})\nmore detail")
    subject, text = message("payments_daily", _context("silver.customers_run", exc))
    assert subject == "sluice: payments_daily failed (zone silver)"
    # the error line is sent as it is: a {{ in it is not a template to render
    assert text.splitlines() == [
        "sluice: payments_daily failed: zone silver, task silver.customers_run, run scheduled__2026-12-01",
        "error: Runtime Error in model x ({{ config(schema='s') }})",
        "log: http://af/log",
    ]


def test_a_blocked_publish_is_told_apart_and_sent_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[str] = []
    alerts = PipelineAlerts("p", Alerts(("blocked_publish",), "slack", (), None, None))
    monkeypatch.setattr(
        alerts, "_notifiers", lambda subject, text: [("slack", lambda ctx: sent.append(subject))]
    )
    alerts.on_failure(_context("gold.customer_balances_run", RuntimeError("boom")))
    alerts.on_failure(_context("gold.publish", PublishError("zone gold not published: blocked by x")))
    alerts.on_success(_context("gold.publish", None))
    assert sent == ["sluice: p publish blocked (zone gold)"]


def test_one_channel_down_does_not_keep_the_others_from_hearing(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    sent: list[str] = []

    def down(ctx: Any) -> None:
        raise ConnectionError("slack.com unreachable")

    alerts = PipelineAlerts("p", Alerts(("failure",), "slack", ("a@b.c",), None, None))
    monkeypatch.setattr(
        alerts,
        "_notifiers",
        lambda subject, text: [("slack", down), ("email", lambda ctx: sent.append(text))],
    )
    alerts.on_failure(_context("bronze.x_run", RuntimeError("boom")))
    assert len(sent) == 1
    assert "the slack alert for p was not sent: slack.com unreachable" in caplog.text


def test_a_zone_build_whose_nodes_failed_leaves_the_alert_to_their_tasks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sent: list[str] = []
    alerts = PipelineAlerts("p", Alerts(("failure",), "slack", (), None, None))
    monkeypatch.setattr(
        alerts, "_notifiers", lambda subject, text: [("slack", lambda ctx: sent.append(text))]
    )
    alerts.on_failure(_context("silver.build", NodesNotPassed("1 not passed: fqn:p.silver.x (error)")))
    assert sent == []
    alerts.on_failure(_context("silver.build", SluiceError("dbt worker: could not start")))
    assert len(sent) == 1, "a build that could not run alerts itself"
