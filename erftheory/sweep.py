"""Depth sweeps: how the TRF, the ERF width and the distance to the Gaussian change with depth.

The paper's scaling claim (Luo et al. 2016, section 2.4): the TRF grows like ``n`` while the
ERF's standard deviation grows like ``sqrt(n)``, so ERF/TRF shrinks like ``1/sqrt(n)``. A sweep
repeats an architecture (or its block marked ``*n``) for a range of depths and fits the
exponent of ``std / TRF`` against depth by least squares on a log-log scale.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from .errors import ERFError

__all__ = ["SweepRow", "Sweep", "sweep", "parse_depths"]


@dataclass(frozen=True)
class SweepRow:
    """One depth: TRF size, ERF std and std/TRF per axis, and distances to the Gaussian."""

    depth: int
    receptive_field: tuple[int, ...]
    std: tuple[float, ...]
    erf_trf: tuple[float, ...]
    distances: dict

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        return {
            "depth": self.depth,
            "receptive_field": list(self.receptive_field),
            "std": list(self.std),
            "erf_trf": list(self.erf_trf),
            **self.distances,
        }


# below this depth std / TRF is visibly off its n^(-1/2) limit (for 3-tap layers the local
# log-slope is -1/2 + 1/(2n + 1): -0.45 at n = 10)
_SHALLOW = 10


@dataclass(frozen=True)
class Sweep:
    """Rows per depth and the fitted exponent of ``std / TRF`` against depth (per axis)."""

    rows: tuple[SweepRow, ...]
    exponent_per_axis: tuple[float, ...]

    @property
    def exponent(self) -> float:
        """The fitted exponent, averaged over axes (the paper predicts -1/2)."""
        return float(np.mean(self.exponent_per_axis))

    @property
    def note(self) -> str | None:
        """Why a fit over shallow depths is not the asymptotic -1/2, or None.

        ``std / TRF`` tends to ``n^(-1/2)`` only for deep stacks: for 3-tap layers it is
        ``sqrt(2n/3) / (2n + 1)``, whose local log-slope is ``-1/2 + 1/(2n + 1)`` (-0.17 at
        ``n = 1``, -0.41 at 5, -0.48 at 20), so a fit from depth 1 reads about -0.3.
        """
        depths = [r.depth for r in self.rows]
        if not depths or min(depths) >= _SHALLOW:
            return None
        return (
            f"depths below {_SHALLOW} are in the fit: the -1/2 law is asymptotic (for 3-tap "
            "layers the local slope is -1/2 + 1/(2n + 1)), so a fit over shallow depths reads "
            f"higher; fit from depth {_SHALLOW} on for the limit"
        )

    def to_dict(self) -> dict:
        """``{"rows": [...], "exponent": ...}``, as ``erftheory sweep --json`` prints it."""
        return {
            "rows": [row.to_dict() for row in self.rows],
            "exponent": None if math.isnan(self.exponent) else self.exponent,
            "exponent_per_axis": [None if math.isnan(e) else e for e in self.exponent_per_axis],
            "note": self.note,
        }

    def __str__(self) -> str:
        from .report import table

        # distances to the Gaussian at the pixel centres (the local limit theorem's form)
        distances = self.rows[0].distances if self.rows else {}
        keys = [k for k in distances if k not in ("discretisation", "lattice_span", "note")]
        header = ["depth", "TRF", "ERF std", "std/TRF", *keys]
        body = [
            [
                r.depth,
                _axes(r.receptive_field, "d"),
                _axes(r.std, ".4g"),
                _axes(r.erf_trf, ".4g"),
                *("-" if r.distances[k] is None else f"{r.distances[k]:.3g}" for k in keys),
            ]
            for r in self.rows
        ]
        fit = (
            f"fitted exponent of std/TRF against depth: {self.exponent:.4f} "
            "(Luo et al. predict -1/2)"
            if math.isfinite(self.exponent)
            else "fitted exponent: needs at least two depths with a non-zero ERF std"
        )
        note = "" if self.note is None else f"\nnote: {self.note}"
        return (
            table(header, body)
            + "\n"
            + fit
            + note
            + "\n(distances to the Gaussian at pixel centres)"
        )


def _axes(values, spec: str) -> str:
    texts = [format(v, spec) for v in values]
    return texts[0] if len(set(texts)) == 1 else " x ".join(texts)


_MAX_DEPTHS = 10_000  # one ERF each: a longer sweep would run for hours


def parse_depths(text: str) -> list[int]:
    """``"1:200"`` or ``"1:200:5"`` (inclusive) or ``"1,2,5,10"`` to a list of depths.

    Examples
    --------
    >>> parse_depths("1:9:4")
    [1, 5, 9]
    """
    try:
        if ":" in text:
            parts = [int(p) for p in text.split(":")]
            if len(parts) not in (2, 3):
                raise ValueError
        else:
            parts = [int(p) for p in text.split(",")]
    except ValueError:  # (ERFError is a ValueError: nothing below raises inside the try)
        raise ERFError(
            f"depth range {text!r} is not START:STOP[:STEP] or a comma-separated list"
        ) from None
    if ":" in text:
        start, stop, step = (parts + [1])[:3]
        if step < 1:
            raise ERFError(f"depth range {text!r}: the step must be a positive integer")
        depths = range(start, stop + 1, step)
        if len(depths) > _MAX_DEPTHS:  # (counted, not listed: 1:10^9 is a billion depths)
            raise ERFError(
                f"depth range {text!r} has {len(depths):,} depths, over {_MAX_DEPTHS:,}; give a "
                f"step (START:STOP:STEP), e.g. {start}:{stop}:{-(-(stop - start) // 100)}"
            )
        depths = list(depths)
    else:
        depths = parts
    if not depths:
        raise ERFError(f"depth range {text!r} is empty (START must not exceed STOP)")
    if min(depths) < 1:
        raise ERFError(f"depth range {text!r} contains {min(depths)}; depths start at 1")
    return depths


_MARK = re.compile(r"\*\s*n\b")  # the block a sweep repeats: conv3*n, (conv3, relu)*n


def _network_at(arch, depth: int, identity=()):
    """The architecture at one depth: its ``*n`` block repeated, or the whole of it."""
    from .parse import as_network

    if isinstance(arch, str) and _MARK.search(arch):  # (every block marked *n repeats)
        try:
            return as_network(_MARK.sub(f"*{depth}", arch), identity)
        except ERFError as err:  # said of the architecture as typed, *n and all
            raise ERFError(f"{arch!r} at depth n = {depth}: {err}") from None
    if isinstance(arch, dict) and '"n"' in repr(arch).replace("'", '"'):
        return as_network(_substitute(arch, depth), identity)
    return as_network(arch, identity).repeated(depth)


def _substitute(spec, depth):
    if isinstance(spec, dict):
        return {
            k: depth if (k == "repeat" and v == "n") else _substitute(v, depth)
            for k, v in spec.items()
        }
    if isinstance(spec, list):
        return [_substitute(v, depth) for v in spec]
    return spec


def sweep(
    arch,
    depths,
    weights: str = "ones",
    max_bytes: float | None = None,
    show_progress: bool | None = None,
    identity=(),
) -> Sweep:
    """ERF statistics for a range of depths, with the fitted exponent of std/TRF.

    Parameters
    ----------
    arch : str, dict, Network or path
        The architecture; a compact string may mark the block to repeat with ``*n``
        (``"conv7/s2/p3, (conv3, relu)*n"``), a JSON layer with ``"repeat": "n"``; without
        a mark the whole architecture is repeated.
    depths : str or sequence of int
        ``"1:200[:step]"`` or a list; at most 10,000 depths.
    weights : {"ones", "random"}
    max_bytes : float, optional
        Memory budget for the deepest ERF (default: :data:`erftheory.erf.DEFAULT_MAX_BYTES`).
    identity : sequence of str
        Layer types to treat as identity (opt-in).

    Returns
    -------
    Sweep
        ``erf_trf`` is the ERF standard deviation divided by the TRF size, per axis.

    Examples
    --------
    >>> s = sweep("1d: conv3*n", "4:64:20")
    >>> [r.depth for r in s.rows], round(s.exponent, 2)
    ([4, 24, 44, 64], -0.46)
    """
    from .erf import DEFAULT_MAX_BYTES, erf
    from .progress import progress
    from .receptive_field import receptive_field

    if not isinstance(depths, str) and hasattr(depths, "__len__") and len(depths) > _MAX_DEPTHS:
        raise ERFError(f"{len(depths):,} depths, over {_MAX_DEPTHS:,}: sweep fewer (with a step)")
    depths = parse_depths(depths) if isinstance(depths, str) else list(depths)
    if not depths or any(not isinstance(d, (int, np.integer)) or d < 1 for d in depths):
        raise ERFError(
            f"depths={depths!r}: give at least one depth, each an integer >= 1 (or a range "
            "such as '1:200')"
        )
    budget = DEFAULT_MAX_BYTES if max_bytes is None else max_bytes
    deepest = receptive_field(_network_at(arch, max(depths), identity))
    needed = math.prod(deepest.size) * 8 * 6
    if needed > budget:
        raise ERFError(
            f"the deepest ERF of the sweep (depth {max(depths)}) is "
            f"{' x '.join(map(str, deepest.size))} and needs about {needed / 2**30:.3g} GiB, "
            f"over the budget of {budget / 2**30:.3g} GiB; shorten the range or raise the "
            "budget (--max-memory)"
        )
    rows = []
    for depth in progress(depths, label="sweep", enabled=show_progress):
        result = erf(
            _network_at(arch, depth, identity), weights=weights, normalize="peak", max_bytes=budget
        )
        size = result.receptive_field.size
        std = result.std
        rows.append(
            SweepRow(
                depth=depth,
                receptive_field=size,
                std=std,
                erf_trf=tuple(s / r for s, r in zip(std, size)),
                distances=_distances(result.values),
            )
        )
    return Sweep(tuple(rows), _fit(rows))


def _distances(values: np.ndarray) -> dict:
    """Distances to the moment-matched Gaussian (filled in by the Gaussian module)."""
    try:
        from .gaussian import compare_to_gaussian
    except ImportError:  # pragma: no cover - the Gaussian module is part of the package
        return {}
    return compare_to_gaussian(values).to_dict()


def _fit(rows) -> tuple[float, ...]:
    depths = np.array([r.depth for r in rows], dtype=float)
    if len(set(depths)) < 2:
        return (math.nan,) * len(rows[0].std)
    out = []
    for axis in range(len(rows[0].std)):
        ratio = np.array([r.erf_trf[axis] for r in rows])
        keep = ratio > 0  # a zero std (1-pixel ERFs) has no logarithm
        if len(set(depths[keep])) < 2:
            out.append(math.nan)
            continue
        slope = np.polyfit(np.log(depths[keep]), np.log(ratio[keep]), 1)[0]
        out.append(float(slope))
    return tuple(out)
