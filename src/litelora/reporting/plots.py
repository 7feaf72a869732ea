"""Report figures as PNG bytes: matplotlib's object API on the Agg canvas, so importing this
never touches pyplot's global backend or opens a window."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.image import AxesImage

Matrix = Sequence[Sequence[float | None]]
MAX_MODULE_PANELS = 6
# Okabe and Ito's eight colours stay apart under every common colour-vision deficiency; black is
# left out of the cycle (it is the axes' colour), so seven remain.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442"]
# 7 colours and 6 markers are coprime counts: series k and k' share both only when k = k' (mod 42).
# The dash pattern changes too, so lines stay apart in a grey-scale print.
MARKERS = ["o", "s", "^", "D", "v", "P"]
DASHES = ["-", "--", "-.", ":"]
CELL_FONT = 9  # points: numbers printed in heat-map cells, readable at 100% zoom (a 100 dpi image)


def series_style(k: int) -> dict[str, str]:
    """Colour, marker and line style of the ``k``-th series of a line chart: no two of the first
    42 series share both colour and marker, so a chart read without colour still tells them apart."""
    return {"color": PALETTE[k % len(PALETTE)], "marker": MARKERS[k % len(MARKERS)],
            "linestyle": DASHES[k % len(DASHES)]}


def png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    # No "Software" text chunk: the page must not carry any URL, not even inside an image.
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    return buf.getvalue()


def _nan(m: Matrix) -> list[list[float]]:
    return [[math.nan if v is None else float(v) for v in row] for row in m]


def short_names(names: Sequence[str]) -> list[str]:
    """Module names without their common dotted prefix (``encoder.layer.3.attention.self.query``
    -> ``3.attention.self.query``), so axis labels stay readable."""
    parts = [n.split(".") for n in names]
    common = 0
    while len(names) > 1 and all(len(p) > common + 1 for p in parts) and len({p[common] for p in parts}) == 1:
        common += 1
    return [".".join(p[common:]) for p in parts]


def _heat(ax: Axes, M: Matrix, labels: Sequence[str], vmin: float, vmax: float, cmap: str,
          annotate: bool) -> AxesImage:
    """A square heat map with ``labels`` on both axes; values printed in the cells if ``annotate``."""
    data = _nan(M)
    im = ax.imshow(data, vmin=vmin, vmax=vmax, cmap=cmap)
    ax.set_xticks(range(len(labels)), labels, fontsize=CELL_FONT)
    ax.set_yticks(range(len(data)), labels, fontsize=CELL_FONT)
    if annotate:
        for i, row in enumerate(data):
            for j, v in enumerate(row):
                if not math.isnan(v):
                    ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=CELL_FONT,
                            color="black" if (v - vmin) / (vmax - vmin or 1) > 0.5 else "white")
    return im


def accuracy_matrix(R: Matrix) -> bytes:
    """Heat map of R[i][j] (accuracy on task j after training task i); upper triangle blank."""
    T = len(R)
    masked = [[R[i][j] if j <= i else None for j in range(T)] for i in range(T)]
    fig = Figure(figsize=(1.6 + 0.6 * T, 1.2 + 0.55 * T))  # cells wide enough for "0.00" at CELL_FONT
    ax = fig.add_subplot()
    im = _heat(ax, masked, [f"T{j}" for j in range(T)], 0.0, 1.0, "viridis", T <= 20)
    ax.set_xlabel("evaluated on task")
    ax.set_ylabel("after training task")
    fig.colorbar(im, ax=ax, shrink=0.8, label="accuracy")
    return png(fig)


def accuracy_over_time(R: Matrix) -> bytes:
    """One line per task j: its accuracy after each task i >= j."""
    T = len(R)
    fig = Figure(figsize=(6, 3.5))
    ax = fig.add_subplot()
    for j in range(T):
        ax.plot(range(j, T), [R[i][j] for i in range(j, T)], ms=5, label=f"T{j}", **series_style(j))
    ax.set_xlabel("after training task")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.02)
    ax.set_xticks(range(T))
    if T <= 12:
        ax.legend(fontsize=9, ncol=2, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return png(fig)


SMALL_RANK = "#c6dbef"  # the lightest blue a recruit of a small rank takes (ColorBrewer Blues)


def gate_grid(tasks: Sequence[int], targets: Sequence[str], recruit: Matrix, values: Matrix | None = None) -> bytes:
    """Task x module grid of the rank each decision kept, as a fraction of the host's (``recruit``:
    1 = full rank, dark blue; 0 = reuse, light orange; between: a smaller rank; colour-blind safe),
    blank where no decision; each cell shows the gate's value (score) when given."""
    from matplotlib.colors import LinearSegmentedColormap
    from matplotlib.patches import Patch

    width, height = max(4.0, 1.5 + 0.5 * len(targets)), 1.4 + 0.45 * len(tasks)
    fig = Figure(figsize=(width, height))
    ax = fig.add_subplot()
    colours = ["#f4a582", "#2166ac"]  # reuse, recruit: ColorBrewer RdBu ends, distinct for every colour vision
    # Reuse keeps its own colour; a recruit runs from light blue (rank 1 of many) to dark blue (full
    # rank), so a partial rank never mixes into the reuse colour.
    scale = LinearSegmentedColormap.from_list("rank", [(0.0, colours[0]), (1e-3, SMALL_RANK), (1.0, colours[1])])
    ax.imshow(_nan(recruit), vmin=0, vmax=1, cmap=scale, aspect="auto")
    ax.set_xticks(range(len(targets)), short_names(targets), rotation=90, fontsize=9)
    ax.set_yticks(range(len(tasks)), [f"T{t}" for t in tasks], fontsize=9)
    if values is not None and len(targets) <= 40:
        for i, row in enumerate(_nan(values)):
            for j, v in enumerate(row):
                if not math.isnan(v):
                    on_dark = _nan(recruit)[i][j] >= 0.5
                    ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=CELL_FONT,
                            color="white" if on_dark else "black")
    ax.set_xlabel("module" + ("; cell: the gate's value" if values is not None else ""), fontsize=9)
    ax.set_ylabel("task", fontsize=9)
    ax.legend(handles=[Patch(color=colours[1], label="recruit (full rank)"),
                       Patch(color=SMALL_RANK, label="recruit (smaller rank)"), Patch(color=colours[0], label="reuse")],
              fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return png(fig)


def loss_curves(curves: dict[int, tuple[Sequence[int], Sequence[float]]]) -> bytes:
    """The training loss (mean over each logging window) against the step, one line per task."""
    fig = Figure(figsize=(6, 3.5))
    ax = fig.add_subplot()
    for k, (task, (steps, losses)) in enumerate(sorted(curves.items())):
        ax.plot(steps, losses, ms=4, lw=1.2, markevery=max(1, len(steps) // 12), label=f"T{task}", **series_style(k))
    ax.set_xlabel("step within the task")
    ax.set_ylabel("training loss")
    ax.grid(alpha=0.3)
    if 0 < len(curves) <= 12:
        ax.legend(fontsize=9, ncol=2, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return png(fig)


def active_adapters(tasks: Sequence[int], owned: Sequence[int], cumulative: Sequence[int] | None) -> bytes:
    """Bars: adapters each task owns in the final bank; line: active adapters after each task."""
    fig = Figure(figsize=(6, 3.2))
    ax = fig.add_subplot()
    ax.bar([str(t) for t in tasks], owned, color=PALETTE[0], label="owned by task")
    if cumulative:
        ax.plot([str(t) for t in tasks[: len(cumulative)]], cumulative, label="active after task",
                **{**series_style(1), "color": "black"})
    ax.set_xlabel("task")
    ax.set_ylabel("adapters")
    ax.legend(fontsize=9)
    return png(fig)


def similarity_heatmaps(panels: dict[str, Matrix], tasks: Sequence[int]) -> bytes:
    """Task x task subspace similarity, one panel per entry (e.g. the mean and a few modules)."""
    n = len(panels)
    cols = min(n, 4)
    rows = math.ceil(n / cols)
    side = 1.2 + (0.5 if len(tasks) <= 8 else 0.3) * len(tasks)  # annotated cells hold "0.00" at CELL_FONT
    fig = Figure(figsize=(cols * side + 1, rows * side + 0.5))
    labels = [f"T{t}" for t in tasks]
    im = None
    for k, (title, M) in enumerate(panels.items()):
        ax = fig.add_subplot(rows, cols, k + 1)
        im = _heat(ax, M, labels, 0.0, 1.0, "magma", len(tasks) <= 8)
        ax.set_title(title, fontsize=9)
    if im is not None:
        fig.colorbar(im, ax=fig.axes, shrink=0.7, label="subspace similarity (0: orthogonal, 1: same span)")
    return png(fig)


def rho_curves(tasks: Sequence[int], rho: Sequence[float | None], residual: Sequence[float | None],
               per_module: dict[str, tuple[Sequence[int], Sequence[float | None]]] | None = None) -> bytes:
    """rho(t) and the representability residual per task (means over modules), with the
    modules' own rho(t) as faint lines."""
    fig = Figure(figsize=(6, 3.5))
    ax = fig.add_subplot()
    for ts, vals in (per_module or {}).values():  # a faint unlabelled cloud behind the two means
        ax.plot(ts, [math.nan if v is None else v for v in vals], color="grey", alpha=0.25, lw=0.8,
                label="_module")
    ax.plot(tasks, [math.nan if v is None else v for v in rho], label="rho(t) mean", **series_style(0))
    ax.plot(tasks, [math.nan if v is None else v for v in residual], label="residual mean", **series_style(1))
    ax.set_xlabel("task")
    ax.set_ylabel("rho (share represented) / residual")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xticks(list(tasks))
    ax.legend(fontsize=9)
    return png(fig)


def functional_drop(tasks: Sequence[int], drop: Sequence[float | None]) -> bytes:
    """Accuracy drop per task when its adapters are projected onto the earlier span."""
    fig = Figure(figsize=(6, 3.2))
    ax = fig.add_subplot()
    ax.bar([str(t) for t in tasks], [0.0 if d is None else d for d in drop],
           color=["lightgrey" if d is None else PALETTE[3] for d in drop])
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xlabel("task (grey: not applicable)")
    ax.set_ylabel("accuracy drop")
    return png(fig)
