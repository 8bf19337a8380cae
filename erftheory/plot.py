"""Figures: functions take results and return matplotlib Axes (no pyplot state).

matplotlib is imported inside the functions so that ``import erftheory`` stays fast.
"""

from __future__ import annotations

import numpy as np

__all__ = ["plot_erf"]


def _new_axes(ncols: int = 1, width: float = 5.0):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, 4.2), layout="constrained")
    return fig.subplots(1, ncols, squeeze=False)[0]


def plot_erf(result, ax=None, log: bool = False):
    """Draw an ERF: a heat map with its centre profile (2-D, 3-D centre slice) or a curve (1-D).

    Parameters
    ----------
    result : ERFResult
        From :func:`erftheory.erf`.
    ax : matplotlib.axes.Axes, optional
        Where to draw the map; without it a new figure gets the map and, for 2-D and 3-D,
        a second panel with the centre profiles.
    log : bool
        Logarithmic colour scale (the tails of a deep ERF span many decades).

    Returns
    -------
    matplotlib.axes.Axes
        The axes of the map; ``ax.figure`` is the figure to save or show.

    Examples
    --------
    >>> import erftheory as et
    >>> ax = plot_erf(et.erf("conv3*10"))
    >>> ax.get_title()
    'ERF, ones weights, raw'
    """
    values = np.asarray(result.values, dtype=float)
    norm_text = {None: "raw", "sum": "sum 1", "peak": "peak 1"}[result.normalize]
    title = f"ERF, {result.weights} weights, {norm_text}"
    centre = tuple(n // 2 for n in values.shape)
    if values.ndim == 1:
        ax = ax if ax is not None else _new_axes()[0]
        ax.plot(np.arange(values.size), values, marker="." if values.size < 80 else None)
        if log:
            ax.set_yscale("log")
        ax.set(xlabel="input position (0 = first pixel of the RF)", ylabel="value", title=title)
        return ax
    plane = values if values.ndim == 2 else values[centre[0]]
    axes = None
    if ax is None:
        axes = _new_axes(2)
        ax = axes[0]
    from matplotlib.colors import LogNorm

    positive = plane[plane > 0]
    color_norm = LogNorm(positive.min(), positive.max()) if log and positive.size else None
    image = ax.imshow(plane, origin="upper", cmap="viridis", norm=color_norm)
    ax.figure.colorbar(image, ax=ax, shrink=0.85)
    ax.set(
        title=title + ("" if values.ndim == 2 else f" (slice {centre[0]} of axis 0)"),
        xlabel="input axis -1",
        ylabel="input axis -2",
    )
    if axes is not None:
        profile = axes[1]
        c = tuple(n // 2 for n in plane.shape)
        profile.plot(plane[c[0], :], label="row through the centre")
        profile.plot(plane[:, c[1]], "--", label="column through the centre")
        if log:
            profile.set_yscale("log")
        profile.set(xlabel="input position", ylabel="value", title="centre profiles")
        profile.legend()
    return ax
