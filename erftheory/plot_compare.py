"""Figures that compare a measured map with the theory: validate's, check's, any two maps.

Re-exported by :mod:`erftheory.plot`, the home of every figure; matplotlib is imported inside
the functions so that ``import erftheory`` stays fast (and :mod:`erftheory.plot`'s helpers
too: it imports this module).
"""

from __future__ import annotations

__all__ = ["plot_validation", "plot_check", "plot_comparison"]


def plot_validation(result, ax=None, display: str = "sum"):
    """The empirical map of a :class:`~erftheory.validate.Validation` against its theory.

    See :func:`plot_comparison`.

    Examples
    --------
    >>> import erftheory as et
    >>> v = et.validate(et.erf("conv3*4").values, "conv3*4", aggregate="none")
    >>> plot_validation(v).figure.get_suptitle().startswith("theory:")
    True
    """
    measured = "measured, log10(x + 1)" if result.protocol.endswith("log10(x + 1)") else "measured"
    return plot_comparison(
        result.empirical, result.theoretical, result.theory, ax, display, measured=measured
    )


def plot_check(result, ax=None, display: str = "sum"):
    r"""The Monte-Carlo estimate of a :class:`~erftheory.crosscheck.Check` against the theory.

    See :func:`plot_comparison`.

    Examples
    --------
    >>> import erftheory as et
    >>> c = et.check("1d: conv3*2", samples=64, init="ones")
    >>> plot_check(c).get_title()
    'measured vs theory\n(sum 1)'

    """
    if result.verdict == "unmodelled":  # no theory to draw: the estimate alone
        title = f"Monte-Carlo {result.statistic}, {result.samples} samples (no analytic theory)"
        from .plot import plot_map

        return plot_map(result.empirical, title, ax)
    theory = f"{result.theory} ({result.samples} samples)"
    return plot_comparison(result.empirical, result.predicted, theory, ax, display)


def plot_comparison(
    empirical, theoretical, theory: str, ax=None, display: str = "sum", measured: str = "measured"
):
    r"""A measured map with the theory's contours, and both centre profiles.

    For 3-D maps the centre slice of axis 0 is drawn; 1-D maps are two curves. Both maps
    are first normalised to sum 1 (the basis of every comparison), then shown under
    ``display``, applied to each map (titles and axis labels say which).

    Parameters
    ----------
    empirical, theoretical : numpy.ndarray
        Maps of the same shape.
    theory : str
        What the theoretical map is (shown in the legend and title).
    ax : matplotlib.axes.Axes, optional
        Where to draw the map; without it a new figure also gets the profiles panel.
    display : str
        A name from :data:`erftheory.normalization.NORMALIZATIONS` (sum, peak, log,
        pow0.25, minmax, raw; raw and sum both show the sum-1 maps).
    measured : str
        What the measured map is, for titles and legends (``"measured, log10(x + 1)"`` where
        a validation compared the log-scaled map).

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import numpy as np
    >>> ax = plot_comparison(np.eye(5), np.eye(5), "identity")
    >>> ax.get_title()
    'measured, theory contours\n(sum 1)'
    """
    from .normalization import normalize_map
    from .plot import _new_axes

    emp, theo = (normalize_map(m, "sum")[0] for m in (empirical, theoretical))
    (emp, label), (theo, _) = normalize_map(emp, display), normalize_map(theo, display)
    label = "sum 1" if display in ("raw", "sum") else f"sum 1, shown as {label}"
    if emp.ndim == 3:
        emp, theo = emp[emp.shape[0] // 2], theo[theo.shape[0] // 2]
    axes = None
    if ax is None:
        axes = _new_axes(2 if emp.ndim == 2 else 1)
        ax = axes[0]
    if emp.ndim == 1:
        ax.plot(emp, label="measured")
        ax.plot(theo, "--", label=f"theory: {theory}")
        ax.set(
            xlabel="position in the receptive field",
            ylabel=f"share ({label})",
            title=f"{measured} vs theory\n" + _wrapped(f"({label})"),
        )
        ax.legend(fontsize="small")
        return ax
    image = ax.imshow(emp, origin="upper", cmap="magma")
    ax.figure.colorbar(image, ax=ax, shrink=0.85)
    positive = theo[theo > 0]
    if positive.size:  # contours at fractions of the theory's peak, labelled with them
        top = float(positive.max())
        names = {top * f: f"{f:g} of peak" for f in (0.1, 0.5, 0.9)}
        lines = ax.contour(theo, levels=sorted(names), colors="cyan", linewidths=0.8)
        ax.clabel(lines, fmt=names, fontsize="x-small")
    ax.set(
        title=f"{measured}, theory contours\n" + _wrapped(f"({label})"),
        xlabel="column (axis -1)",
        ylabel="row (axis -2)",
    )
    if axes is not None:
        c = tuple(n // 2 for n in emp.shape)
        axes[1].plot(emp[c[0], :], label="measured, row")
        axes[1].plot(theo[c[0], :], "--", label="theory, row")
        axes[1].plot(emp[:, c[1]], label="measured, column")
        axes[1].plot(theo[:, c[1]], ":", label="theory, column")
        axes[1].set(title="centre profiles\n" + _wrapped(f"({label})"), xlabel="position")
        axes[1].legend(fontsize="small")
        ax.figure.suptitle(f"theory: {theory}", fontsize="medium")
    return ax


def _wrapped(text: str, width: int = 44) -> str:
    """A title line broken to fit over one panel of a two-panel figure."""
    import textwrap

    return "\n".join(textwrap.wrap(text, width))
