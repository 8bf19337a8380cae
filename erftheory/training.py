"""Does the ERF grow during training? A small experiment on a task that needs a wide view.

Luo et al. (2016, section 4.3) observe that ERFs grow during training. Here a linear CNN
(explicit kernels, trained with the NumPy autograd and Adam) learns to output, at every
position, the mean of the input over its whole theoretical receptive field: a task whose
best solution has a flat ERF, so growth is built into the task: the ERF must widen from its
initial one (random kernels: a jagged, signed map whose spread is that of a Gaussian's, not
its shape) to the flat optimum. Data are fresh standard normal images (nothing is
downloaded). Because the network is linear, its ERF before and after training is exactly the
composition of its kernels, computed by :func:`erftheory.erf`.

Divergence is an error, not a result: if the loss becomes NaN or infinite, or ends more than
``DIVERGENCE_FACTOR`` times above where it started, :func:`train_erf_growth` raises
:class:`~erftheory.errors.ERFError` naming the learning rate, since the ERF of a network
whose training blew up says nothing about ERF growth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import autograd as ag
from .errors import ERFError

__all__ = ["DIVERGENCE_FACTOR", "TrainingResult", "train_erf_growth"]

DIVERGENCE_FACTOR = 10.0  # final loss / first loss above this: the training diverged
_MAX_BATCH_BYTES = 2**30  # one float64 batch of images; far beyond what the experiment needs


@dataclass(frozen=True, eq=False)
class TrainingResult:
    """ERF width before and after training, per axis, and the loss curve.

    ``std_before``/``std_after`` are the per-axis standard deviations of ``|ERF|`` taken as
    a distribution (pixels); ``flat_std`` that of the task's optimum (a flat field).
    ``notes`` explains any undefined quantity (for example the growth of a 1-tap kernel,
    whose ERF is one pixel wide: std 0 before and after).
    """

    erf_before: np.ndarray
    erf_after: np.ndarray
    std_before: tuple[float, ...]
    std_after: tuple[float, ...]
    flat_std: tuple[float, ...]
    losses: tuple[float, ...]
    notes: tuple[str, ...] = ()

    @property
    def growth(self) -> tuple[float, ...]:
        """``std_after / std_before`` per axis; NaN where ``std_before`` is 0 (see ``notes``)."""
        return tuple(a / b if b else math.nan for a, b in zip(self.std_after, self.std_before))

    def to_dict(self) -> dict:
        """A JSON-ready summary (an undefined growth is None, strict JSON has no NaN)."""
        return {
            "std_before": list(self.std_before),
            "std_after": list(self.std_after),
            "flat_std": list(self.flat_std),
            "growth": [None if math.isnan(g) else g for g in self.growth],
            "loss_first": self.losses[0],
            "loss_last": self.losses[-1],
            "notes": list(self.notes),
        }


def _check_int(name: str, value, minimum: int) -> int:  # minimum: 0 or 1
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        kind = "a positive integer" if minimum == 1 else "a non-negative integer"
        raise ERFError(f"{name}={value!r} is not {kind}")
    return int(value)


def _check_settings(layers, kernel, dims, steps, image, batch, lr, seed) -> None:
    """Refuse, by name, any setting the experiment cannot run with."""
    if isinstance(dims, bool) or not isinstance(dims, (int, np.integer)) or dims not in (1, 2):
        raise ERFError(f"dims={dims!r}: the training experiment runs in 1 or 2 dimensions")
    for name, value in (("layers", layers), ("kernel", kernel), ("steps", steps)):
        _check_int(name, value, 1)
    _check_int("image", image, 1)
    _check_int("batch", batch, 1)
    _check_int("seed", seed, 0)
    if (
        isinstance(lr, bool)
        or not isinstance(lr, (int, float, np.integer, np.floating))
        or not 0 < lr < math.inf
    ):
        raise ERFError(f"lr={lr!r} is not a positive, finite learning rate (the default is 0.01)")
    field = layers * (kernel - 1) + 1
    if image <= field:
        raise ERFError(f"image={image} must exceed the receptive field {field}")
    if batch * image**dims * 8 > _MAX_BATCH_BYTES:
        raise ERFError(
            f"batch={batch} images of side image={image} in {dims}-d take "
            f"{batch * image**dims * 8 / 2**30:.3g} GiB per step, over the 1 GiB this "
            "experiment allows; use a smaller batch or image"
        )


def _check_converged(losses: list[float], lr, weights) -> None:
    """Raise if the loss became non-finite or ended ``DIVERGENCE_FACTOR`` above its start."""
    first, last = losses[0], losses[-1]
    blown = not math.isfinite(last) or not all(np.all(np.isfinite(w.data)) for w in weights)
    if blown or last > DIVERGENCE_FACTOR * first:
        what = "became NaN or infinite" if blown else f"rose from {first:.3g} to {last:.3g}"
        raise ERFError(
            f"training diverged: the loss {what} after {len(losses)} steps with lr={lr!r}; "
            "use a smaller learning rate (the default is 0.01)"
        )


def _erf_of(kernels, dims):
    from .architecture import Network
    from .erf import erf
    from .layers import Conv

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
        Adam steps, images per step, image side (larger than the receptive field
        ``layers (kernel - 1) + 1``), learning rate (positive and finite).
    seed : int
        Non-negative seed of the weights and the data.

    Returns
    -------
    TrainingResult
        With ``kernel=1`` the ERF is one pixel before and after: the stds are 0, the growth
        is NaN and ``notes`` says why.

    Raises
    ------
    ERFError
        For a setting that is not a positive integer (``seed``: non-negative), ``dims`` not
        1 or 2, a non-positive or non-finite ``lr``, an image no larger than the receptive
        field, or a batch over 1 GiB; and when the training diverges: the loss becomes NaN
        or infinite, or ends more than ``DIVERGENCE_FACTOR`` (10) times its first value.

    Examples
    --------
    >>> r = train_erf_growth(layers=4, steps=150, seed=1)
    >>> r.std_after[0] > r.std_before[0]
    True
    """
    _check_settings(layers, kernel, dims, steps, image, batch, lr, seed)
    field = layers * (kernel - 1) + 1
    rng = np.random.default_rng(seed)
    shape = (kernel,) * dims
    weights = [
        ag.Tensor(rng.normal(0, 1 / math.sqrt(kernel**dims), (1, 1, *shape)), requires_grad=True)
        for _ in range(layers)
    ]
    moments = [(np.zeros(w.shape), np.zeros(w.shape)) for w in weights]
    before = _erf_of([w.data[0, 0].copy() for w in weights], dims)
    losses = []
    with np.errstate(over="ignore", invalid="ignore"):  # divergence is checked below
        _train(weights, moments, rng, steps, batch, image, dims, field, lr, losses)
    _check_converged(losses, lr, weights)
    after = _erf_of([w.data[0, 0] for w in weights], dims)
    flat = math.sqrt((field**2 - 1) / 12)
    notes = ()
    if any(b == 0 for b in before.std):
        notes = (
            f"kernel={kernel}: every ERF is a single pixel, its std is 0 and the growth "
            "(std_after / std_before) is undefined (NaN)",
        )
    return TrainingResult(
        before.values, after.values, before.std, after.std, (flat,) * dims, tuple(losses), notes
    )


def _train(weights, moments, rng, steps, batch, image, dims, field, lr, losses) -> None:
    """Adam on the mean-over-the-field task, appending each step's loss to ``losses``."""
    one, zero = (1,) * dims, ((0, 0),) * dims
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
        if not math.isfinite(losses[-1]):
            return
        for w, (m, v) in zip(weights, moments):  # Adam
            m *= 0.9
            m += 0.1 * w.grad
            v *= 0.999
            v += 0.001 * w.grad**2
            w.data = w.data - lr * (m / (1 - 0.9**step)) / (np.sqrt(v / (1 - 0.999**step)) + 1e-8)
