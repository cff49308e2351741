"""Play: one interactive session on a cluster, simulated or real.

``PlaySession`` takes commands (kill, partition, put, pause, branch, ...)
and hands out trace events; the web page (``etcdplay web``) and the terminal
UI (``etcdplay terminal``) are thin views on it. Every command that changes
the cluster is carried out by the scenario runner as a scenario step and
recorded, so a played session can be saved as a scenario and replayed
exactly. See docs/play.md.
"""

from etcdplay.play.commands import CommandError, parse_command
from etcdplay.play.session import PlaySession, SessionError

__all__ = ["CommandError", "PlaySession", "SessionError", "parse_command"]
