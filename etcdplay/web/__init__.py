"""``etcdplay web``: a browser view on a play session (see docs/web.md).

A thin view: ``etcdplay.play`` runs the session; this package serves the page
(``app``), batches trace events to the tabs (``hub``), replays recorded
traces (``replay``) and guards the server (``security``).
"""
