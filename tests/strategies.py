"""Hypothesis strategies: small random architectures in the JSON format."""

from __future__ import annotations

from hypothesis import strategies as st


def _per_axis(dims, values):
    return st.one_of(values, st.lists(values, min_size=dims, max_size=dims))


@st.composite
def conv(draw, dims, residual=False, weights=True, signed=False):
    if residual:
        kernel = draw(_per_axis(dims, st.sampled_from([1, 3])))
        layer = {"type": "conv", "kernel": kernel}
        if draw(st.booleans()):
            layer["dilation"] = draw(_per_axis(dims, st.integers(1, 2)))
    else:
        kernel = draw(_per_axis(dims, st.integers(1, 3)))
        layer = {
            "type": "conv",
            "kernel": kernel,
            "stride": draw(_per_axis(dims, st.integers(1, 2))),
            "dilation": draw(_per_axis(dims, st.integers(1, 2))),
        }
    if weights and draw(st.booleans()):
        shape = kernel if isinstance(kernel, list) else [kernel] * dims
        low = -3 if signed else 0
        flat = draw(st.lists(st.integers(low, 4), min_size=_prod(shape), max_size=_prod(shape)))
        if not any(flat):
            flat[0] = 1
        layer["weights"] = _nest(flat, shape)
    return layer


def _prod(shape):
    out = 1
    for n in shape:
        out *= n
    return out


def _nest(flat, shape):
    if len(shape) == 1:
        return flat
    step = len(flat) // shape[0]
    return [_nest(flat[i * step : (i + 1) * step], shape[1:]) for i in range(shape[0])]


@st.composite
def layer(draw, dims, signed=False):
    kind = draw(
        st.sampled_from(["conv", "conv", "avgpool", "maxpool", "relu", "residual", "branches"])
    )
    if kind == "branches":
        return draw(branches(dims, signed))
    if kind == "conv":
        return draw(conv(dims, signed=signed))
    if kind in ("avgpool", "maxpool"):
        return {
            "type": kind,
            "kernel": draw(_per_axis(dims, st.integers(2, 3))),
            "stride": draw(_per_axis(dims, st.integers(1, 2))),
        }
    if kind == "relu":
        return {"type": "relu"}
    body = draw(st.lists(conv(dims, residual=True, signed=signed), min_size=1, max_size=2))
    return {"type": "residual", "layers": body, "repeat": draw(st.integers(1, 2))}


@st.composite
def architecture(draw, dims=None, max_layers=4, signed=False):
    dims = draw(st.integers(1, 3)) if dims is None else dims
    n = draw(st.integers(1, max_layers if dims < 3 else 3))
    return {"dims": dims, "layers": draw(st.lists(layer(dims, signed), min_size=n, max_size=n))}


@st.composite
def branches(draw, dims, signed=False):
    """Aligned branches: odd 'same' convs (or identity), or a strided conv3 | conv1 pair."""
    if draw(st.booleans()):
        stride = draw(st.integers(1, 2))
        paths = [
            [{"type": "conv", "kernel": 3, "stride": stride}],
            [{"type": "conv", "kernel": 1, "stride": stride}],
        ]
    else:
        n = draw(st.integers(2, 3))
        paths = [
            draw(
                st.one_of(
                    st.just([{"type": "identity"}]),
                    st.lists(conv(dims, residual=True, signed=signed), min_size=1, max_size=2),
                    st.just([{"type": "avgpool", "kernel": 3, "stride": 1}]),
                )
            )
            for _ in range(n)
        ]
    join = draw(st.sampled_from(["add", "concat"]))
    return {"type": "branches", "join": join, "branches": paths}
