"""The one error a sweep reports to the user."""

from __future__ import annotations


class SweepError(ValueError):
    """Bad sweep input (an option, a ``--set`` path or value, a file); one line."""
