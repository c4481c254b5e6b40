"""The plan layer: tasks, edges, zones and gateways, with no Airflow import."""

from sluice.plan.builder import build_plan
from sluice.plan.model import DBT_COMMAND, Operator, Plan, Task, TaskKind
from sluice.plan.translator import Translator

__all__ = ["DBT_COMMAND", "Operator", "Plan", "Task", "TaskKind", "Translator", "build_plan"]
