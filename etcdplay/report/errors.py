"""The one error reports raise: a message the command line prints as is."""

from __future__ import annotations


class ReportError(ValueError):
    """A report or comparison that cannot be made; the message says why, in one line."""
