"""Where ComplaintRun used to live; it is sla/complaint_run.py now (the CLI and API build it without workflows)."""

from sla.complaint_run import ComplaintRun

__all__ = ["ComplaintRun"]
