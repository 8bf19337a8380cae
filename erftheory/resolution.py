"""Input-resolution diagnostics: is a network too deep, or too far-reaching, for its images.

For an input of a given size, per layer: the feature-map size (framework rule
``floor((n + p_before + p_after - d (k - 1) - 1) / s) + 1``), the TRF and the ERF width as
fractions of the image, and two flags:

* **unproductive** (Richter et al., "Receptive field analysis", 2022): the TRF entering the
  layer already covers the whole image, so the layer cannot add context;
* **ERF-saturated**: the 2-sigma ERF entering the layer (width ``4 sigma``, ones weights)
  already covers the image: a stricter, ERF-based criterion.

The smallest input with no unproductive layer is one more than the TRF entering the last conv
or pool, and at least the smallest input the network runs on (every feature map non-empty:
an unpadded ``conv3*10`` needs 21 pixels, not the 20 the first rule gives). Repeated layers
are listed one row each.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .architecture import Network
from .blocks import Block, Branches, Residual
from .errors import ERFError
from .layers import ConvTranspose, Upsample, _Spatial

__all__ = [
    "ResolutionRow",
    "ResolutionReport",
    "resolution_report",
    "output_shape",
    "at_resolution",
]


def _out(n: int, layer) -> list[int]:
    if isinstance(layer, Upsample):
        return [m * u for m, u in zip(n, layer.factor)]
    if isinstance(layer, ConvTranspose):  # (n - 1) s - p_before - p_after + d (k - 1) + 1
        return [
            (m - 1) * s - b - a + d * (k - 1) + 1
            for m, (b, a), k, d, s in zip(
                n, layer.padding, layer.kernel, layer.dilation, layer.stride
            )
        ]
    return [
        (m + b + a - d * (k - 1) - 1) // s + 1
        for m, (b, a), k, d, s in zip(n, layer.padding, layer.kernel, layer.dilation, layer.stride)
    ]


def _smallest_runnable(layers, trf) -> tuple[int, ...]:
    """Per axis, the least input size on which every feature map has a position.

    Feature-map sizes grow with the input, so each axis is a bisection (the other axes at
    their TRF size, on which a network always runs: its output is then one unit).
    """
    least = []
    for axis in range(len(trf)):
        low, high = 1, max(trf[axis], 1)
        while low < high:
            mid = (low + high) // 2
            shape = tuple(mid if a == axis else max(t, 1) for a, t in enumerate(trf))
            try:
                output_shape(layers, shape)
            except ERFError:
                low = mid + 1
            else:
                high = mid
        least.append(low)
    return tuple(least)


def output_shape(layers, shape, where: str = "input", first: int = 0) -> tuple[int, ...]:
    """Feature-map size after ``layers`` for an input of ``shape`` (framework rule).

    Raises
    ------
    ERFError
        When a layer's output would have no position; the message gives the sizes.

    Examples
    --------
    >>> from erftheory import as_network
    >>> output_shape(as_network("conv7/s2/p3, maxpool3/s2/p1").layers, (224, 224))
    (56, 56)
    """
    n = list(shape)
    for index, layer in enumerate(layers, start=first):
        for copy in range(layer.repeat):
            name = f"layer {index}" + (
                f", copy {copy + 1} of {layer.repeat}" if layer.repeat > 1 else ""
            )
            if isinstance(layer, (Branches, Residual)):
                n = list(output_shape(layer.paths()[0], n, f"{where} -> {name}"))
            elif isinstance(layer, Block):
                n = list(output_shape(layer.layers, n, f"{where} -> {name}"))
            elif isinstance(layer, (_Spatial, Upsample)):
                new = _out(n, layer)
                if min(new) < 1:
                    raise ERFError(
                        f"{name} ({layer.type}, kernel {list(layer.kernel)}) gets a "
                        f"{list(n)} feature map ({where}) and would output {new}, no position: the "
                        "input is too small for this network"
                    )
                n = new
    return tuple(n)


@dataclass(frozen=True)
class ResolutionRow:
    """One layer entry for a given input size."""

    index: int
    layer: str
    feature_map: tuple[int, ...]
    trf: tuple[int, ...]
    erf_width: tuple[float, ...]
    trf_fraction: tuple[float, ...]
    erf_fraction: tuple[float, ...]
    unproductive: bool
    erf_saturated: bool


@dataclass(frozen=True)
class ResolutionReport:
    """Per-layer diagnostics for one input size, and the smallest sensible input."""

    input_shape: tuple[int, ...]
    rows: tuple[ResolutionRow, ...]
    min_input_no_unproductive: tuple[int, ...]
    min_input_erf: tuple[int, ...]
    pixel_size: float | None
    unit: str

    def _phys(self, pixels) -> list:
        scale = self.pixel_size or 1.0
        return [round(p * scale, 6) for p in pixels]

    def to_dict(self) -> dict:
        """JSON-ready; widths in ``unit`` when a pixel size was given."""
        return {
            "input": list(self.input_shape),
            "unit": self.unit,
            "pixel_size": self.pixel_size,  # (None: sizes in pixels)
            "min_input_no_unproductive": list(self.min_input_no_unproductive),
            "min_input_erf": list(self.min_input_erf),
            "layers": [
                {
                    "index": r.index,
                    "layer": r.layer,
                    "feature_map": list(r.feature_map),
                    "trf": self._phys(r.trf),
                    "erf_width": self._phys(r.erf_width),
                    "trf_fraction": list(r.trf_fraction),
                    "erf_fraction": list(r.erf_fraction),
                    "unproductive": r.unproductive,
                    "erf_saturated": r.erf_saturated,
                }
                for r in self.rows
            ],
        }

    def table(self, style: str = "text") -> str:
        """The per-layer table as text, Markdown or CSV."""
        from .report import table

        def axes(values, spec=".3g"):
            texts = [format(v, spec) for v in values]
            return texts[0] if len(set(texts)) == 1 else "x".join(texts)

        unit = self.unit if self.pixel_size else "px"
        header = [
            "#",
            "layer",
            "map",
            f"TRF ({unit})",
            f"ERF 4sigma ({unit})",
            "TRF/img",
            "ERF/img",
            "unproductive",
            "ERF covers img",
        ]
        body = [
            [
                r.index,
                r.layer,
                axes(r.feature_map, "d"),
                axes(self._phys(r.trf)),
                axes(self._phys(r.erf_width)),
                axes(r.trf_fraction),
                axes(r.erf_fraction),
                "yes" if r.unproductive else "",
                "yes" if r.erf_saturated else "",
            ]
            for r in self.rows
        ]
        return table(header, body, style)

    def __str__(self) -> str:
        def size(pixels) -> str:
            if not self.pixel_size:
                return f"{list(pixels)} pixels"
            return f"{list(pixels)} pixels ({self._phys(pixels)} {self.unit})"

        text = (
            self.table()
            + f"\ninput {list(self.input_shape)}: no layer is unproductive from an input of "
            f"{size(self.min_input_no_unproductive)} on; the 2-sigma ERF entering the last "
            f"layer spans {size(self.min_input_erf)}"
        )
        if self.pixel_size:
            text += f" (one pixel = {self.pixel_size:g} {self.unit})"
        return text


def _indices(value, name: str, dims: int, minimum: int) -> tuple[int, ...]:
    """``value`` as ``dims`` integers ``>= minimum`` (sizes: 1, unit indices: 0).

    A sequence (tuple, list, 1-d integer array) of ``dims`` integers; a bare integer only
    when ``dims == 1``. Strings, bools and non-integer numbers (``5.5``, also ``5.0``) are
    refused by name, never truncated.
    """
    kind = "positive integer" if minimum == 1 else "non-negative integer"
    example = (7 if minimum else 0,) * dims
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        if dims != 1:
            raise ERFError(
                f"{name} {value!r} is one integer but the network is {dims}-d: give {dims} "
                f"integers, e.g. {example}"
            )
        value = (value,)
    if isinstance(value, np.ndarray) and value.ndim == 1:
        value = value.tolist() if value.dtype.kind in "iu" else list(value)
    if not isinstance(value, (tuple, list)):
        raise ERFError(
            f"{name} {value!r} is not a tuple or list of integers, one per axis "
            f"(dims={dims}, e.g. {example})"
        )
    for v in value:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum:
            raise ERFError(f"{name} {list(value)}: {v!r} is not a {kind}")
    if len(value) != dims:
        noun = ("positive size", "positive sizes") if minimum else ("index", "indices")
        raise ERFError(
            f"{name} {list(value)} needs {dims} {noun[dims != 1]} (dims={dims}), e.g. {example}"
        )
    return tuple(int(v) for v in value)


def at_resolution(net: Network, input_shape) -> Network:
    """The network with its global/adaptive pools sized for an input of ``input_shape``.

    Examples
    --------
    >>> from erftheory import as_network
    >>> net = at_resolution(as_network("conv3/s2, globalavgpool"), (9, 9))
    >>> net.layers[1].kernel
    (4, 4)
    """
    from .layers import AdaptiveAvgPool, AvgPool, GlobalAvgPool

    shape = _indices(input_shape, "input shape", net.dims, 1)
    layers, n = [], shape
    for index, layer in enumerate(net.layers):
        if isinstance(layer, (GlobalAvgPool, AdaptiveAvgPool)):
            out = (1,) * net.dims if isinstance(layer, GlobalAvgPool) else layer.output
            if any(m % o for m, o in zip(n, out)):
                raise ERFError(
                    f"layer {index}: adaptive pooling of a {list(n)} map to {list(out)} has "
                    "windows of different sizes (the ERF would differ from unit to unit); "
                    "choose an input whose map there is a multiple of the output"
                )
            kernel = tuple(m // o for m, o in zip(n, out))
            layer = AvgPool(kernel, stride=kernel)._resolve(net.dims, f"layers[{index}]", False)
        layers.append(layer)
        n = output_shape((layer,), n, f"input {list(shape)}", index)
    return Network(tuple(layers), net.dims)


def _expanded(net: Network) -> Network:
    """Top-level repeats split into single entries, so every layer gets its own row."""
    from dataclasses import replace

    layers = []
    for layer in net.layers:
        layers += [replace(layer, repeat=1)] * layer.repeat
    return Network(tuple(layers), net.dims)


def resolution_report(
    arch, input_shape, pixel_size: float | None = None, unit: str = "px"
) -> ResolutionReport:
    """Per-layer TRF/ERF coverage of an input of ``input_shape`` (see the module docstring).

    Parameters
    ----------
    arch : Network, dict, str or path
    input_shape : sequence of int
        The input size per axis.
    pixel_size : float, optional
        Physical size of one input pixel; widths are then reported in ``unit``.
    unit : str
        Name of the physical unit (``"mm"``, ``"s"``, ...).

    Examples
    --------
    >>> r = resolution_report("conv3/p1*20", (16, 16))
    >>> [row.index for row in r.rows if row.unproductive][:1], r.min_input_no_unproductive
    ([8], (40, 40))
    """
    from .parse import as_network
    from .receptive_field import receptive_field

    net: Network = _expanded(at_resolution(as_network(arch), input_shape))
    shape = _indices(input_shape, "input shape", net.dims, 1)
    if pixel_size is not None and not 0 < pixel_size < 1e300:
        raise ERFError(
            f"pixel size {pixel_size!r} must be a positive finite number (below 1e300, so "
            "that sizes in its unit stay finite)"
        )
    if pixel_size is not None and unit == "px":  # scaled values must not say "px"
        unit = "units"
    rf = receptive_field(net)
    rows, entering_trf, entering_std = [], (1,) * net.dims, (0.0,) * net.dims
    last_entering = (1,) * net.dims, (0.0,) * net.dims
    n = shape
    for index, (layer, row) in enumerate(zip(net.layers, rf.rows)):
        n = output_shape((layer,), n, f"input {list(shape)}", index)
        std = row.erf_std or (math.nan,) * net.dims
        if isinstance(layer, (_Spatial, Block)):
            last_entering = entering_trf, entering_std
        rows.append(
            ResolutionRow(
                index=index,
                layer=row.layer,
                feature_map=n,
                trf=row.size,
                erf_width=tuple(4 * s for s in std),
                trf_fraction=tuple(r / m for r, m in zip(row.size, shape)),
                erf_fraction=tuple(4 * s / m for s, m in zip(std, shape)),
                unproductive=any(r >= m for r, m in zip(entering_trf, shape)),
                erf_saturated=any(4 * s >= m for s, m in zip(entering_std, shape)),
            )
        )
        entering_trf, entering_std = row.size, std
    runs = _smallest_runnable(net.layers, rf.size)
    return ResolutionReport(
        input_shape=shape,
        rows=tuple(rows),
        min_input_no_unproductive=tuple(max(t + 1, r) for t, r in zip(last_entering[0], runs)),
        min_input_erf=tuple(max(math.ceil(4 * s), r) for s, r in zip(last_entering[1], runs)),
        pixel_size=pixel_size,
        unit=unit,
    )
