"""The analyst workbench's domain: alerts (de-duplicated), cases, decisions that become labels,
users and roles, and a tamper-evident audit log. ``streams`` feeds it alerts; the API and the
dashboards act on it."""

from cases.store import CaseStore
from cases.users import ROLES, User, UserError
from cases.workflow import DECISIONS, Outcome, WorkflowError

__all__ = ["DECISIONS", "ROLES", "CaseStore", "Outcome", "User", "UserError", "WorkflowError"]
