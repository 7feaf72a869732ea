"""The report's charts stay readable without full colour vision: a colour-blind-safe palette, and no
two series of a line chart with the same colour and marker; heat-map numbers at a readable size."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from matplotlib.collections import PathCollection
from matplotlib.colors import to_hex, to_rgb
from matplotlib.figure import Figure
from matplotlib.text import Text

from litelora.reporting import pareto, plots

# Machado, Oliveira and Fernandes (2009), severity 1.0, applied to linear RGB.
CVD = {"protanopia": [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216], [-0.003882, -0.048116, 1.051998]],
       "deuteranopia": [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413], [-0.011820, 0.042940, 0.968881]],
       "tritanopia": [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602], [0.004733, 0.691367, 0.303900]]}


def _lab(colour: str, deficiency: str | None) -> np.ndarray:
    """CIELAB (D65) of ``colour`` as seen with ``deficiency`` (``None``: normal vision)."""
    c = np.asarray(to_rgb(colour))
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    if deficiency:
        linear = np.clip(np.asarray(CVD[deficiency]) @ linear, 0, 1)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ linear
    xyz = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def _closest(colours: list[str], deficiency: str | None) -> float:
    """The smallest colour difference (Delta E 1976) between two of ``colours``."""
    return min(float(np.linalg.norm(_lab(a, deficiency) - _lab(b, deficiency)))
               for a, b in itertools.combinations(colours, 2))


@pytest.mark.parametrize("deficiency", [None, *CVD])
def test_the_palette_stays_apart_under_simulated_colour_vision_deficiencies(deficiency) -> None:
    assert _closest(plots.PALETTE, deficiency) > 12
    if deficiency in ("protanopia", "deuteranopia"):
        # The control: matplotlib's default cycle merges red and green (its tasks 2 and 3) there.
        assert _closest([f"C{i}" for i in range(10)], deficiency) < 8


@pytest.fixture
def figures(monkeypatch) -> list[Figure]:
    """Every figure the plot functions build, caught where they turn it into PNG bytes."""
    caught: list[Figure] = []
    original = plots.png

    def keep(fig: Figure) -> bytes:
        caught.append(fig)
        return original(fig)

    monkeypatch.setattr(plots, "png", keep)
    monkeypatch.setattr(pareto, "png", keep)
    return caught


def _series(fig: Figure) -> list[tuple[str, str]]:
    """(colour, marker) of every labelled series of the figure's charts (a label starting with ``_``
    is matplotlib's mark for a line kept out of the legend, such as rho's faint per-module cloud)."""
    out = []
    for ax in fig.axes:
        for line in ax.get_lines():
            if not line.get_label().startswith("_"):
                out.append((to_hex(line.get_color()), str(line.get_marker())))
        for points in ax.collections:
            if isinstance(points, PathCollection) and not points.get_label().startswith("_"):
                shape = tuple(np.round(points.get_paths()[0].vertices, 3).ravel())
                out.append((to_hex(points.get_facecolor()[0]), str(hash(shape))))
    return out


def test_no_two_series_of_a_line_chart_share_colour_and_marker(figures) -> None:
    T = 14  # twice the palette: colours repeat, so markers must tell the series apart
    R = [[0.9 - 0.02 * (i - j) if j <= i else None for j in range(T)] for i in range(T)]
    plots.accuracy_over_time(R)
    plots.loss_curves({t: (list(range(1, 30)), [1.0 / s for s in range(1, 30)]) for t in range(T)})
    plots.rho_curves([0, 1, 2], [None, 0.5, 0.7], [None, 0.2, 0.1], {f"m{k}": ([0, 1, 2], [None, 0.4, 0.6])
                                                                   for k in range(5)})
    plots.active_adapters([0, 1, 2], [4, 2, 1], [4, 6, 7])
    labels = [f"group {k}" for k in range(9)]
    rows = [["kind", "group", "run", "seed", pareto.PARETO_X, pareto.PARETO_Y, pareto.PARETO_X + "_std",
             pareto.PARETO_Y + "_std", "pareto_optimal"]]
    rows += [["run", g, f"r{k}", 0, 10 + k, 0.5 + 0.01 * k, None, None, 0] for k, g in enumerate(labels)]
    pareto.pareto_png(rows, labels)
    assert len(figures) == 5
    counts = [len(_series(fig)) for fig in figures]
    assert counts == [T, T, 2, 1, len(labels)]
    for fig in figures:
        series = _series(fig)
        assert len(set(series)) == len(series), series


def test_heat_map_numbers_are_readable(figures) -> None:
    plots.accuracy_matrix([[0.91, None, None], [0.85, 0.88, None], [0.8, 0.82, 0.9]])
    plots.gate_grid([0, 1], ["a.query", "a.value"], [[1.0, 0.0], [0.0, 1.0]], [[0.9, 0.1], [0.2, 0.8]])
    plots.similarity_heatmaps({"mean": [[1.0, 0.3], [0.3, 1.0]]}, [0, 1])
    for fig in figures:
        numbers = [t for ax in fig.axes for t in ax.findobj(Text) if t.get_text().startswith("0.")]
        assert numbers and min(t.get_fontsize() for t in numbers) >= 9


def test_the_gate_grid_shades_smaller_ranks_blue_never_towards_the_reuse_colour() -> None:
    import io

    import matplotlib.image as mpimg
    import numpy as np

    from litelora.reporting import plots

    png = plots.gate_grid([0], ["a", "b", "c"], [[1.0, 0.25, 0.0]])
    image = mpimg.imread(io.BytesIO(png))[..., :3]
    # The three cells' centres lie on the middle row of the plotted area, in order: sample each
    # distinct colour along the row that holds the most cell pixels.
    row = image[image.shape[0] // 2]
    coloured = [tuple(np.round(p, 2)) for p in row if not np.allclose(p, 1.0) and p.max() - p.min() > 0.1]
    seen = list(dict.fromkeys(coloured))
    full, partial, reuse = seen[0], seen[1], seen[-1]
    assert full[2] > full[0] and partial[2] > partial[0]  # both recruits are blue (blue channel above red)
    assert reuse[0] > reuse[2]  # reuse stays orange
    assert sum(partial) > sum(full)  # a smaller rank is a lighter blue
