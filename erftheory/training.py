"""Does the ERF grow during training? A small experiment on a task that needs a wide view.

Luo et al. (2016, section 4.3) observe that ERFs grow during training. Here a linear CNN
(explicit kernels, trained with the NumPy autograd and Adam) learns to output, at every
position, the mean of the input over its whole theoretical receptive field: a task whose
best solution has a flat ERF, so the ERF must widen from the initial near-Gaussian bump.
Data are fresh standard normal images (nothing is downloaded). Because the network is linear,
its ERF before and after training is exactly the composition of its kernels, computed by
:func:`erftheory.erf`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import autograd as ag
from .errors import ERFError

__all__ = ["TrainingResult", "train_erf_growth"]


@dataclass(frozen=True, eq=False)
class TrainingResult:
    """ERF width before and after training, per axis, and the loss curve.

    ``std_before``/``std_after`` are the per-axis standard deviations of ``|ERF|`` taken as
    a distribution (pixels); ``flat_std`` that of the task's optimum (a flat field).
    """

    erf_before: np.ndarray
    erf_after: np.ndarray
    std_before: tuple[float, ...]
    std_after: tuple[float, ...]
    flat_std: tuple[float, ...]
    losses: tuple[float, ...]

    @property
    def growth(self) -> tuple[float, ...]:
        """std_after / std_before per axis."""
        return tuple(a / b for a, b in zip(self.std_after, self.std_before))

    def to_dict(self) -> dict:
        """A JSON-ready summary."""
        return {
            "std_before": list(self.std_before),
            "std_after": list(self.std_after),
            "flat_std": list(self.flat_std),
            "growth": list(self.growth),
            "loss_first": self.losses[0],
            "loss_last": self.losses[-1],
        }


def _erf_of(kernels, dims):
    from .architecture import Conv, Network
    from .erf import erf

    net = Network([Conv(k.shape, weights=k) for k in kernels], dims)
    return erf(net, normalize="sum")


def train_erf_growth(
    layers: int = 6,
    kernel: int = 3,
    dims: int = 1,
    steps: int = 600,
    image: int = 48,
    batch: int = 16,
    lr: float = 0.01,
    seed: int = 0,
) -> TrainingResult:
    """Train a linear CNN to average its whole field and measure its ERF before and after.

    Parameters
    ----------
    layers, kernel : int
        A stack of ``layers`` convolutions of size ``kernel`` (one channel, stride 1).
    dims : int
        1 or 2 spatial axes.
    steps, batch, image, lr : int, int, int, float
        Adam steps, images per step, image side, learning rate.
    seed : int

    Returns
    -------
    TrainingResult

    Examples
    --------
    >>> r = train_erf_growth(layers=4, steps=150, seed=1)
    >>> r.std_after[0] > r.std_before[0]
    True
    """
    if dims not in (1, 2):
        raise ERFError(f"dims={dims!r}: the training experiment runs in 1 or 2 dimensions")
    field = layers * (kernel - 1) + 1
    if image <= field:
        raise ERFError(f"image={image} must exceed the receptive field {field}")
    rng = np.random.default_rng(seed)
    shape = (kernel,) * dims
    weights = [
        ag.Tensor(rng.normal(0, 1 / math.sqrt(kernel**dims), (1, 1, *shape)), requires_grad=True)
        for _ in range(layers)
    ]
    moments = [(np.zeros(w.shape), np.zeros(w.shape)) for w in weights]
    before = _erf_of([w.data[0, 0].copy() for w in weights], dims)
    one, zero = (1,) * dims, ((0, 0),) * dims
    losses = []
    for step in range(1, steps + 1):
        x = rng.normal(size=(batch, 1) + (image,) * dims)
        target = ag.avg_pool(ag.Tensor(x), (field,) * dims, one, zero).data
        y = ag.Tensor(x)
        for w in weights:
            w.grad = None
            y = ag.conv(y, w, one, one, zero)
        diff = ag.add(y, ag.Tensor(-target))
        loss = ag.scale(ag.total(ag.square(diff)), 1.0 / target.size)
        loss.backward()
        losses.append(float(loss.data))
        for w, (m, v) in zip(weights, moments):  # Adam
            m *= 0.9
            m += 0.1 * w.grad
            v *= 0.999
            v += 0.001 * w.grad**2
            w.data = w.data - lr * (m / (1 - 0.9**step)) / (np.sqrt(v / (1 - 0.999**step)) + 1e-8)
    after = _erf_of([w.data[0, 0] for w in weights], dims)
    flat = math.sqrt((field**2 - 1) / 12)
    return TrainingResult(
        before.values, after.values, before.std, after.std, (flat,) * dims, tuple(losses)
    )
