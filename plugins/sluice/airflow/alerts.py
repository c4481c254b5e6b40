"""A pipeline's alerts (spec ``notify:``), sent through Airflow's own notifiers: the Slack
webhook notifier, the SMTP notifier and the SNS notifier of the provider packages.

One message names the pipeline, the zone, the task, the first error line and the task's log URL.
The text is handed to each notifier's ``notify`` as it is, never through Jinja: an error line
may hold ``{{`` (a dbt error about a macro), which must not be rendered as a template.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any

from sluice.errors import NodesNotPassed, first_line, one_line
from sluice.plan.model import Alerts

log = logging.getLogger(__name__)
#: the XCom in which a task that ended in the triggerer leaves its error line for the alert
ERROR_XCOM = "sluice_error"
_BLOCKED = "not published"


def _error_line(context: dict[str, Any]) -> str:
    exc = context.get("exception")
    if exc is not None:
        return first_line(exc) if isinstance(exc, BaseException) else one_line(str(exc))
    ti = context.get("ti")
    try:  # a task that ended in the triggerer: its trigger left the line (sluice.airflow.node_trigger)
        found = ti.xcom_pull(task_ids=ti.task_id, key=ERROR_XCOM) if ti is not None else None
    except Exception:  # the alert must go out even when the line cannot be read
        found = None
    if isinstance(found, str) and found.startswith('"'):  # the triggerer stores it JSON-encoded
        with contextlib.suppress(ValueError):
            found = json.loads(found)
    return one_line(str(found)) if found else "see the task's log"


def message(pipeline: str, context: dict[str, Any], success: bool = False) -> tuple[str, str]:
    """(subject, text) of the alert for this callback's context."""
    ti = context.get("ti")
    # a task that ended in the triggerer has its callback run by the DAG processor, whose
    # context has the task instance but no DAG run
    run_id = getattr(ti, "run_id", None) or getattr(context.get("dag_run"), "run_id", "")
    if success:
        return f"sluice: {pipeline} succeeded", f"sluice: {pipeline} run {run_id} succeeded."
    task_id = str(getattr(ti, "task_id", "-"))
    zone = task_id.split(".", 1)[0] if "." in task_id else "-"
    error = _error_line(context)
    what = "publish blocked" if task_id.endswith(".publish") and _BLOCKED in error else "failed"
    subject = f"sluice: {pipeline} {what} (zone {zone})"[:100]  # SNS takes 100 characters
    text = (
        f"sluice: {pipeline} {what}: zone {zone}, task {task_id}, run {run_id}\n"
        f"error: {error}\nlog: {getattr(ti, 'log_url', '')}"
    )
    return subject, text


class PipelineAlerts:
    """The DAG's ``on_success_callback`` and every task's ``on_failure_callback``."""

    def __init__(self, pipeline: str, alerts: Alerts) -> None:
        self.pipeline = pipeline
        self.alerts = alerts

    def on_failure(self, context: dict[str, Any]) -> None:
        if isinstance(context.get("exception"), NodesNotPassed):  # its nodes' own tasks alert
            return
        subject, text = message(self.pipeline, context)
        blocked = subject.startswith(f"sluice: {self.pipeline} publish blocked")
        if ("blocked_publish" if blocked else "failure") in self.alerts.on:
            self._send(subject, text, context)

    def on_success(self, context: dict[str, Any]) -> None:
        if "success" in self.alerts.on:
            self._send(*message(self.pipeline, context, success=True), context)

    def _send(self, subject: str, text: str, context: dict[str, Any]) -> None:
        for name, notifier in self._notifiers(subject, text):
            try:
                notifier(context)
            except Exception as exc:  # one channel down must not keep the others from hearing
                log.error(
                    "sluice: the %s alert for %s was not sent: %s", name, self.pipeline, first_line(exc)
                )

    def _notifiers(self, subject: str, text: str) -> list[tuple[str, Callable[[Any], Any]]]:
        found: list[tuple[str, Callable[[Any], Any]]] = []
        a = self.alerts
        if a.slack_connection:
            from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier

            slack = SlackWebhookNotifier(slack_webhook_conn_id=a.slack_connection, text=text)
            found.append(("slack", slack.notify))
        if a.emails:
            from airflow.providers.smtp.notifications.smtp import SmtpNotifier

            email = SmtpNotifier(to=list(a.emails), subject=subject, html_content=f"<pre>{_html(text)}</pre>")
            found.append(("email", email.notify))
        if a.sns_topic_arn:
            from airflow.providers.amazon.aws.notifications.sns import SnsNotifier

            sns = SnsNotifier(
                aws_conn_id=a.aws_connection, target_arn=a.sns_topic_arn, message=text, subject=subject
            )
            found.append(("sns", sns.notify))
        return found


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
