"""Figures: functions take results and return matplotlib Axes (no pyplot state).

matplotlib is imported inside the functions so that ``import erftheory`` stays fast.
"""

from __future__ import annotations

import numpy as np

from .plot_compare import plot_check, plot_comparison, plot_validation

__all__ = [
    "plot_erf",
    "plot_map",
    "plot_borders",
    "plot_growth",
    "plot_sweep",
    "plot_validation",
    "plot_check",
    "plot_comparison",
]


def _new_axes(ncols: int = 1, width: float = 5.0):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, 4.2), layout="constrained")
    return fig.subplots(1, ncols, squeeze=False)[0]


def plot_erf(result, ax=None, log: bool = False, display: str = "raw"):
    """Draw an ERF: a heat map with its centre profiles (2-D, 3-D centre slice) or a curve (1-D).

    The profiles (and the 1-D curve) carry the Gaussian prediction: the Gaussian with the
    map's own mean and covariance, integrated over pixel cells (see
    :func:`erftheory.gaussian.gaussian_prediction`), drawn dotted; signed maps have none.
    A deep ERF is a narrow bump in a wide receptive field: where mean ± 6 std spans under a
    quarter of the field on every axis drawn, the axes zoom to it and the label says so,
    with the field's extent.

    Parameters
    ----------
    result : ERFResult
        From :func:`erftheory.erf`.
    ax : matplotlib.axes.Axes, optional
        Where to draw the map; without it a new figure gets the map and, for 2-D and 3-D,
        a second panel with the centre profiles.
    log : bool
        Logarithmic colour scale (the tails of a deep ERF span many decades).
    display : str
        A normalisation from :data:`erftheory.normalization.NORMALIZATIONS` applied before
        drawing (raw, sum, peak, log, pow0.25, minmax); the title says which.

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
    from .normalization import normalize_map

    values, shown = normalize_map(result.values, display)
    norm_text = {None: "raw", "sum": "sum 1", "peak": "peak 1"}[result.normalize]
    title = f"ERF, {result.weights} weights, {norm_text}"
    if display != "raw":
        title += f",\nshown as {shown}"
    if log and np.any(values < 0):  # a log scale has no place for them: say so
        title += "\n(negative entries not drawn on the log scale)"
    centre = tuple(n // 2 for n in values.shape)
    gaussian = _gaussian_overlay(np.asarray(result.values, dtype=float), display)
    if values.ndim == 1:
        ax = ax if ax is not None else _new_axes()[0]
        ax.plot(
            np.arange(values.size), values, marker="." if values.size < 80 else None, label="ERF"
        )
        if gaussian is not None:
            ax.plot(gaussian, ":", color="k", label=_GAUSSIAN_LABEL)
            ax.legend()
        if log:
            ax.set_yscale("log")
        xlabel = "input position (0 = first pixel of the RF)"
        window = _mass_window(result, 0, values.size)
        if window is not None:  # a deep ERF is a narrow bump in a wide RF: show its shape
            ax.set_xlim(*window)
            xlabel += f"\n{_ZOOM_TEXT}; the RF spans 0 to {values.size - 1}"
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(nbins=6))  # wide positions: labels stay apart
        ax.set(xlabel=xlabel, ylabel="value", title=title)
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
        xlabel="input column (axis -1)",
        ylabel="input row (axis -2)",
    )
    rows, cols = plane.shape
    windows = [
        _mass_window(result, values.ndim - 2, rows),
        _mass_window(result, values.ndim - 1, cols),
    ]
    zoomed = None not in windows
    if zoomed:  # both axes narrow: the bump fills the picture (rows run downwards)
        (top, bottom), (left, right) = windows
        ax.set_xlim(left - 0.5, right + 0.5)
        ax.set_ylim(bottom + 0.5, top - 0.5)
        ax.set_xlabel(f"input column (axis -1)\n{_ZOOM_TEXT}; the RF is {rows} x {cols}")
    if axes is not None:
        profile = axes[1]
        c = tuple(n // 2 for n in plane.shape)
        profile.plot(plane[c[0], :], label="row through the centre")
        profile.plot(plane[:, c[1]], "--", label="column through the centre")
        if gaussian is not None:
            g = gaussian if gaussian.ndim == 2 else gaussian[centre[0]]
            profile.plot(g[c[0], :], ":", color="k", label=_GAUSSIAN_LABEL + ", row")
            profile.plot(g[:, c[1]], "-.", color="0.4", label=_GAUSSIAN_LABEL + ", column")
        if log:
            profile.set_yscale("log")
        profile.set(xlabel="input position", ylabel="value", title="centre profiles")
        if zoomed:
            profile.set_xlim(min(w[0] for w in windows), max(w[1] for w in windows))
        profile.legend(fontsize="small")
    return ax


_GAUSSIAN_LABEL = "Gaussian, same mean and covariance"
_ZOOM_STDS = 6


_ZOOM_TEXT = f"zoomed to mean ± {_ZOOM_STDS} std"


def _mass_window(result, axis: int, size: int) -> tuple[float, float] | None:
    """``mean ± 6 std`` of an ERF on ``axis`` where that is under a quarter of its RF, else None.

    Beyond 6 std a Gaussian holds 2e-9 of its mass: the window shows the whole bump.
    """
    mean, std = float(result.mean[axis]), float(result.std[axis])
    if not (np.isfinite(mean) and np.isfinite(std) and std > 0):
        return None
    if 2 * _ZOOM_STDS * std >= size / 4:
        return None
    return max(mean - _ZOOM_STDS * std, 0.0), min(mean + _ZOOM_STDS * std, size - 1.0)


def _gaussian_overlay(raw: np.ndarray, display: str) -> np.ndarray | None:
    """The Gaussian with the map's own moments, shown the way the map is.

    Integrated over pixel cells and holding the map's total; None for a signed, all-zero or
    one-pixel map.
    """
    from .distribution import moments
    from .gaussian import without_rounding_cross_terms
    from .gaussian_grid import gaussian_prediction
    from .normalization import NORMALIZATIONS

    if raw.min() < 0 or raw.sum() <= 0:
        return None
    m = moments(raw)
    if min(m.std) == 0:
        return None
    cov = without_rounding_cross_terms(m.covariance)
    # full-covariance cell integrals cost m^(d-1) per pixel: 3-d maps take point values
    cells = raw.ndim < 3 or np.count_nonzero(cov - np.diag(np.diag(cov))) == 0
    g = gaussian_prediction(raw.shape, m.mean, cov, "cell" if cells else "point").values
    g = g * raw.sum()
    if display in ("raw", "log", "pow0.25"):  # pointwise transforms
        return NORMALIZATIONS[display][0](g)
    if display == "minmax":
        low, high = raw.min(), raw.max()
        return (g - low) / (high - low) if high > low else None
    shown = NORMALIZATIONS[display][0](raw)  # sum, peak: a scale taken from the map
    return g * (shown.sum() / raw.sum())


def plot_sweep(result, ax=None):
    """Log-log plot of a depth sweep: TRF size, ERF std and std/TRF against depth.

    The fitted line of std/TRF is drawn with its exponent (Luo et al. predict -1/2).

    Parameters
    ----------
    result : Sweep
        From :func:`erftheory.sweep.sweep`.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> from erftheory.sweep import sweep
    >>> ax = plot_sweep(sweep("1d: conv3*n", "1:30:5"))
    >>> ax.get_xscale()
    'log'
    """
    ax = ax if ax is not None else _new_axes(width=6.0)[0]
    depth = np.array([r.depth for r in result.rows], dtype=float)
    trf = np.array([r.receptive_field[0] for r in result.rows], dtype=float)
    std = np.array([r.std[0] for r in result.rows])
    ratio = np.array([r.erf_trf[0] for r in result.rows])
    ax.loglog(depth, trf, "o-", label="TRF size (~ n)")
    ax.loglog(depth, std, "s-", label="ERF std (~ sqrt n)")
    ax.loglog(depth, ratio, "^-", label="ERF std / TRF")
    if len(depth) > 1:
        slope = result.exponent_per_axis[0]
        fitted = np.exp(np.polyval(np.polyfit(np.log(depth), np.log(ratio), 1), np.log(depth)))
        ax.loglog(depth, fitted, "k--", label=f"fit: slope {slope:.3f} (theory -0.5)")
    ax.set(xlabel="depth n", ylabel="pixels / ratio (axis 0)", title="ERF against depth")
    ax.legend(fontsize="small")
    return ax


def plot_growth(
    rf,
    ax=None,
    title: str = "",
    pixel_size: float | None = None,
    unit: str = "px",
    input_shape=None,
):
    """TRF size and ERF width (4 sigma, ones weights) after every layer of a network.

    Parameters
    ----------
    rf : ReceptiveField
        From :func:`erftheory.receptive_field` (its rows carry the ERF std so far).
    ax : matplotlib.axes.Axes, optional
    title : str
        A name for the title (e.g. the zoo entry).
    pixel_size : float, optional
        The physical size of one input pixel: the sizes are then drawn in ``unit``.
    unit : str
        The name of ``pixel_size``'s unit (e.g. ``"mm"``).
    input_shape : sequence of int, optional
        The input's size: drawn as a line (its largest axis), where the fields outgrow it.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> from erftheory import receptive_field
    >>> ax = plot_growth(receptive_field("conv3*4, maxpool2, conv3*4"), pixel_size=0.5, unit="mm")
    >>> ax.get_yscale(), ax.get_ylabel()
    ('log', 'input size (mm)')
    """
    from matplotlib.ticker import LogLocator, ScalarFormatter

    ax = ax if ax is not None else _new_axes(width=7.0)[0]
    scale = 1.0 if pixel_size is None else float(pixel_size)
    index = np.arange(len(rf.rows))
    trf = scale * np.array([max(r.size) for r in rf.rows], dtype=float)
    width = scale * np.array([4 * max(r.erf_std) if r.erf_std else np.nan for r in rf.rows])
    ax.semilogy(index, trf, "o-", label="TRF size (largest axis)")
    ax.semilogy(index, width, "s-", label="ERF width, 4 sigma (ones weights)")
    if input_shape is not None:
        ax.axhline(scale * max(input_shape), color="grey", ls="--", label="input (largest axis)")
    ylabel = "input pixels" if pixel_size is None else f"input size ({unit})"
    ax.set(
        xlabel="layer entry",
        ylabel=ylabel,
        title=f"growth of the receptive field{': ' + title if title else ''}",
    )
    # plain numbers on the log axis (8, 20, 60), not 6 x 10^1
    plain = ScalarFormatter()
    plain.set_scientific(False)
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
    ax.yaxis.set_minor_formatter(plain)
    if len(rf.rows) <= 30:
        ax.set_xticks(index, [_short(r.layer) for r in rf.rows], rotation=70, fontsize="x-small")
    ax.legend(fontsize="small")
    return ax


def _short(name: str, most: int = 16) -> str:
    """A tick label for a layer entry: long names are blocks, whose kind is enough.

    ``(res(conv1, relu, conv3), relu)`` reads ``res(...), ...``: a group by its first item,
    a block by its kind (res, add, cat).

    Examples
    --------
    >>> _short("(conv7/s2/p3, relu)"), _short("(add(conv1, relu, conv3 | conv1), relu)")
    ('conv7/s2/p3, ...', 'add(...), ...')
    """
    if len(name) <= most:
        return name
    body, more = name, ""
    if name.startswith("(") and name.endswith(")"):
        depth, body = 0, name[1:-1]
        for i, c in enumerate(body):  # the group's first top-level item
            depth += (c == "(") - (c == ")")
            if c == "," and depth == 0:
                body, more = body[:i], ", ..."
                break
    if len(body) > most or "(" in body:
        body = body.split("(")[0] + "(...)"
    return body + more


def plot_map(values, title: str = "", ax=None, log: bool = False, low: float | None = None):
    """A heat map of any 1-D to 3-D array (3-D: the centre slice of axis 0).

    ``low``: the colour scale's least value for a quantity that cannot go below it (a
    fraction, a distance: 0); the scale then runs from it to the largest value, and to
    ``low + 1`` where every value is ``low``, not around it into values it cannot take.

    Examples
    --------
    >>> ax = plot_map(np.eye(4), "identity")
    >>> ax.get_title()
    'identity'
    """
    values = np.asarray(values, dtype=float)
    ax = ax if ax is not None else _new_axes()[0]
    if values.ndim == 1:
        ax.plot(values, marker=".")
        if log:
            ax.set_yscale("log")
        ax.set(title=title, xlabel="input position")
        return ax
    if values.ndim == 3:  # the centre slice, and the title says so
        title += f" (slice {values.shape[0] // 2} of axis 0)"
        values = values[values.shape[0] // 2]
    from matplotlib.colors import LogNorm

    positive = values[values > 0]
    norm = LogNorm(positive.min(), positive.max()) if log and positive.size else None
    limits = {}
    if low is not None and norm is None:
        finite = values[np.isfinite(values)]
        high = float(finite.max()) if finite.size else low
        limits = {"vmin": low, "vmax": high if high > low else low + 1}
    image = ax.imshow(values, origin="upper", cmap="viridis", norm=norm, **limits)
    ax.figure.colorbar(image, ax=ax, shrink=0.85)
    ax.set(title=title, xlabel="column (axis -1)", ylabel="row (axis -2)")
    return ax


def plot_borders(maps, ax=None):
    """Two maps over the output units: ERF mass lost to padding, and the pull of its centre.

    Parameters
    ----------
    maps : BorderMaps
        From :func:`erftheory.finite.border_maps`.

    Returns
    -------
    matplotlib.axes.Axes
        The axes of the lost-mass map (its figure holds both).

    Examples
    --------
    >>> from erftheory import border_maps
    >>> ax = plot_borders(border_maps("conv3/p1*2", (8, 8)))
    >>> len(ax.figure.axes) >= 2
    True
    """
    lost = "fraction of ERF mass lost to padding"
    if not np.any(maps.lost_fraction > 0):
        lost += "\n(none: no unit loses mass)"
    if ax is not None:
        return plot_map(maps.lost_fraction, lost, ax, low=0.0)
    axes = _new_axes(2)
    plot_map(maps.lost_fraction, lost, axes[0], low=0.0)
    # the pull's length: how far (in pixels) the centre sits from the unit's TRF centre
    pull = np.sqrt(np.sum(np.nan_to_num(maps.pull) ** 2, axis=0))
    plot_map(
        pull, "distance of the ERF centre from\nthe unit's TRF centre (pixels)", axes[1], low=0.0
    )
    return axes[0]
