"""Static PNG export through Plotly's kaleido, which drives a local Chrome/Chromium.

Nothing is ever downloaded: the browser is ``$BROWSER_PATH`` (kaleido's own
override), else the first Chrome/Chromium on ``PATH`` or in the usual places
(Debian's ``/usr/bin/chromium``). The page kaleido renders in uses the
plotly.js of the installed plotly package and no MathJax, so it needs no
network either. Without a browser the error says so and points to HTML.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from etcdplay.files import OutputError, atomic_path
from etcdplay.report.errors import ReportError

BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
TYPICAL_PATHS = (
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/usr/bin/google-chrome",
    "/snap/bin/chromium",
)
WIDTH = 1400


def find_browser() -> str | None:
    """A local Chrome/Chromium executable, or None. Never downloads one."""
    override = os.environ.get("BROWSER_PATH")
    if override:
        return override if os.access(override, os.X_OK) else None
    for name in BROWSER_NAMES:
        found = shutil.which(name)
        if found:
            return found
    for candidate in TYPICAL_PATHS:
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def no_browser_message(out: Path) -> str:
    html = out.with_suffix(".html")
    return (
        f"{out}: PNG export needs Chrome or Chromium (e.g. Debian's 'chromium' package, or "
        f"BROWSER_PATH=/path/to/chrome) and none was found; write HTML instead: -o {html}"
    )


def stack(figures: Sequence[go.Figure], title: str) -> go.Figure:
    """All panels one above another in one figure, axes and categories kept."""
    heights = [float(f.layout.height or 350) for f in figures]
    fig = make_subplots(
        rows=len(figures),
        cols=1,
        row_heights=heights,
        vertical_spacing=0.35 / len(figures),
        subplot_titles=[str(f.layout.title.text or "") for f in figures],
    )
    legends: dict[str, Any] = {}
    for row, panel in enumerate(figures, start=1):
        # Each panel keeps its own legend, beside it (plotly's legend, legend2, ...):
        # one shared legend would mix the roles' colours with the latency series.
        legend = "legend" if row == 1 else f"legend{row}"
        # a panel may itself have subplots (keys and hashes): keep its first axis pair
        for tr in panel.data:
            if getattr(tr, "xaxis", "x") not in (None, "x") or getattr(tr, "yaxis", "y") not in (None, "y"):
                continue
            tr.legend = legend
            fig.add_trace(tr, row=row, col=1)
        yaxis = panel.layout.yaxis
        fig.update_yaxes(
            title_text=yaxis.title.text,
            categoryorder=yaxis.categoryorder,
            categoryarray=yaxis.categoryarray,
            type=yaxis.type,
            row=row,
            col=1,
        )
        fig.update_xaxes(
            range=panel.layout.xaxis.range, title_text=panel.layout.xaxis.title.text, row=row, col=1
        )
        domain = fig.layout["yaxis" if row == 1 else f"yaxis{row}"].domain
        legends[legend] = {"x": 1.01, "xanchor": "left", "y": domain[1], "yanchor": "top"}
    fig.update_layout(**legends)
    fig.update_layout(
        title={"text": title, "x": 0.01},
        height=int(sum(heights) + 150),
        width=WIDTH,
        barmode="overlay",
        template="plotly_white",
        margin={"l": 80, "r": 260, "t": 90, "b": 40},
    )
    return fig


def write_png(figures: Sequence[go.Figure], out: Path, *, title: str) -> None:
    """Render the stacked panels to ``out`` as PNG; ReportError when that cannot be done."""
    browser = find_browser()
    if browser is None:
        raise ReportError(no_browser_message(out))
    try:
        import kaleido
    except ImportError:
        raise ReportError(
            f"{out}: PNG export needs the 'kaleido' package (pip install kaleido); "
            f"or write HTML instead: -o {out.with_suffix('.html')}"
        ) from None
    import plotly

    plotlyjs = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    # one figure is drawn as it is (its own subplots kept); several are stacked
    fig = figures[0] if len(figures) == 1 else stack(figures, title)
    if len(figures) == 1:
        fig.update_layout(width=WIDTH)
    kopts: dict[str, Any] = {"path": browser, "mathjax": False}
    if plotlyjs.exists():
        kopts["plotlyjs"] = str(plotlyjs)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportError(f"cannot write the image: {out}: {exc.strerror or exc}") from None
    try:
        with atomic_path(out, "") as tmp:
            kaleido.write_fig_sync(
                fig,
                path=str(tmp),
                opts={"format": "png", "width": WIDTH, "height": fig.layout.height or 600},
                kopts=kopts,
            )
    except OutputError as exc:
        raise ReportError(f"cannot write the image: {exc}") from None
    except Exception as exc:  # kaleido/choreographer raise many kinds; say which, in one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ReportError(
            f"{out}: PNG export with {browser} failed ({first}); the HTML output does not "
            f"need a browser engine: -o {out.with_suffix('.html')}"
        ) from None
