"""Reports and comparisons drawn from traces alone (never from a backend).

- ``write_report(trace, path)``: one run as a self-contained HTML page (or PNG);
- ``write_compare(a_traces, b_traces, path)``: runs side by side, or as CDFs;
- ``metrics``: the derived numbers both are drawn from.

See docs/reports.md.
"""

from etcdplay.report.compare import write_compare
from etcdplay.report.errors import ReportError
from etcdplay.report.html import render_report, write_report

__all__ = ["ReportError", "render_report", "write_compare", "write_report"]
