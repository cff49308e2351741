"""``etcdplay terminal``: a Textual dashboard on a play session.

A thin view on ``etcdplay.play``: it sends the session commands (kill,
partition, put, stress, pause...) and folds the trace events it is told
about into a ``ClusterView`` to draw. ``render`` holds the pure functions
from that fold to what is drawn, ``dialogs`` the input screens, ``app`` the
Textual application and ``command`` the CLI entry. See docs/terminal.md.
"""
