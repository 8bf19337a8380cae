"""The autograd engine: :class:`Tensor`, its backward pass, and the arithmetic of losses.

In the spirit of micrograd: a :class:`Tensor` holds ``data``, ``grad``, its parents and a
``_backward`` closure; :meth:`Tensor.backward` orders the graph topologically once and walks
it in reverse. Every operation is forward, local gradient, accumulate (:func:`_pointwise` is
that pattern for elementwise maps). The activations are in :mod:`erftheory.autograd_activations`,
convolution and pooling in :mod:`erftheory.autograd_conv`; :mod:`erftheory.autograd` gathers
them all.
"""

from __future__ import annotations

import numpy as np

from .errors import ERFError

__all__ = ["Tensor", "add", "concat", "scale", "square", "select", "total"]


class Tensor:
    """An array with a gradient and the recipe to backpropagate into its parents.

    Examples
    --------
    >>> from erftheory.autograd import relu
    >>> x = Tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
    >>> y = total(relu(x))
    >>> y.backward()
    >>> x.grad.tolist()
    [1.0, 0.0, 1.0]
    """

    def __init__(self, data, parents=(), requires_grad: bool = False):
        self.data = np.asarray(data, dtype=float)
        self.grad = None
        self._parents = parents
        self._backward = lambda: None
        self.requires_grad = requires_grad or any(p.requires_grad for p in parents)

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of ``data``."""
        return self.data.shape

    def _accumulate(self, grad: np.ndarray) -> None:
        self.grad = grad if self.grad is None else self.grad + grad

    def backward(self) -> None:
        """Backpropagate from this tensor (seeded with ones) into every ancestor.

        The graph is freed afterwards (gradients stay in ``.grad``): call it once per graph.
        """
        order, seen = [], set()

        def visit(t):
            if id(t) not in seen:
                seen.add(id(t))
                for p in t._parents:
                    visit(p)
                order.append(t)

        visit(self)
        self.grad = np.ones_like(self.data)
        for t in reversed(order):
            t._backward()
        # free the graph: each backward closure refers to its output tensor (a reference
        # cycle), which would otherwise keep every intermediate array alive until a GC pass
        for t in order:
            t._backward, t._parents = _no_backward, ()


def _no_backward() -> None:
    return None


def _pointwise(x: Tensor, value: np.ndarray, slope: np.ndarray) -> Tensor:
    """``value`` (an elementwise function of ``x``), backpropagated as ``grad * slope``."""
    out = Tensor(value, (x,))
    out._backward = lambda: x._accumulate(out.grad * slope)
    return out


def add(a: Tensor, b: Tensor) -> Tensor:
    """a + b (same shapes): residual joins and branch sums.

    Examples
    --------
    >>> a = Tensor(np.ones(2), requires_grad=True)
    >>> b = Tensor(np.array([2.0, 3.0]), requires_grad=True)
    >>> total(add(a, scale(square(b), 0.5))).backward()
    >>> a.grad.tolist(), b.grad.tolist()
    ([1.0, 1.0], [2.0, 3.0])
    """
    out = Tensor(a.data + b.data, (a, b))

    def backward():
        a._accumulate(out.grad)
        b._accumulate(out.grad)

    out._backward = backward
    return out


def concat(tensors, axis: int = 1) -> Tensor:
    """The tensors joined along ``axis`` (channels by default): concatenated branches.

    Every other axis must agree; the backward pass splits the gradient back into the parts.

    Parameters
    ----------
    tensors : sequence of Tensor
        At least one tensor, all with the same number of axes.
    axis : int
        The axis to join along (negative counts from the end).

    Returns
    -------
    Tensor

    Raises
    ------
    ERFError
        For no tensors, an axis outside the tensors' axes, or shapes that differ elsewhere.

    Examples
    --------
    >>> a = Tensor(np.ones((1, 2, 3)), requires_grad=True)
    >>> b = Tensor(np.zeros((1, 1, 3)), requires_grad=True)
    >>> c = concat([a, b])
    >>> c.shape
    (1, 3, 3)
    >>> total(c).backward()
    >>> a.grad.shape, b.grad.shape
    ((1, 2, 3), (1, 1, 3))
    """
    tensors = tuple(tensors)
    if not tensors:
        raise ERFError("concat needs at least one tensor (got none)")
    ndim = tensors[0].data.ndim
    if not -ndim <= axis < ndim:
        raise ERFError(f"concat axis={axis} is outside the {ndim} axes of its tensors")
    axis %= ndim
    rest = [t.shape[:axis] + t.shape[axis + 1 :] for t in tensors]
    if any(t.data.ndim != ndim for t in tensors) or any(r != rest[0] for r in rest):
        shapes = ", ".join(str(list(t.shape)) for t in tensors)
        raise ERFError(
            f"concat along axis {axis} needs tensors whose other axes agree; got shapes {shapes}"
        )
    out = Tensor(np.concatenate([t.data for t in tensors], axis=axis), tensors)
    bounds = np.cumsum([t.shape[axis] for t in tensors])[:-1]

    def backward():
        for t, g in zip(tensors, np.split(out.grad, bounds, axis=axis)):
            t._accumulate(g)

    out._backward = backward
    return out


def scale(x: Tensor, factor: float) -> Tensor:
    """factor * x."""
    return _pointwise(x, factor * x.data, np.full(x.shape, factor))


def square(x: Tensor) -> Tensor:
    """x ** 2 elementwise (for squared-error losses)."""
    return _pointwise(x, x.data * x.data, 2.0 * x.data)


def select(x: Tensor, position, channel: int | None = 0) -> Tensor:
    """The ``(B,)`` values at one spatial ``position`` of one channel (None: summed).

    Examples
    --------
    >>> x = Tensor(np.array([[[1.0, 2.0, 3.0]]]), requires_grad=True)
    >>> y = select(x, (1,))
    >>> total(y).backward()
    >>> y.data.tolist(), x.grad.tolist()
    ([2.0], [[[0.0, 1.0, 0.0]]])
    """
    index = (slice(None), slice(None) if channel is None else channel, *position)
    picked = x.data[index]
    out = Tensor(picked if channel is not None else picked.sum(axis=1), (x,))

    def backward():
        g = np.zeros(x.shape)
        g[index] = out.grad if channel is not None else out.grad[:, None]
        x._accumulate(g)

    out._backward = backward
    return out


def total(x: Tensor) -> Tensor:
    """The sum of all entries (a scalar tensor)."""
    out = Tensor(x.data.sum(), (x,))
    out._backward = lambda: x._accumulate(np.broadcast_to(out.grad, x.shape).copy())
    return out
