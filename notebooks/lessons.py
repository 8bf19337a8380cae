"""The sources of the teaching notebooks (built by _build.py). One lesson per entry."""

LESSON_1 = [
    (
        "md",
        r"""
# Lesson 1 — Counting paths: how many times is each input pixel used?

**Question.** Stack a few 3x3 convolutions. The output unit in the middle "sees" a 5x5 or 7x7 patch
of the input, its *theoretical receptive field*. But does it see every pixel of that patch equally?

**Theory in three lines.** Take every weight equal to 1 and no nonlinearity. Then the output is a sum
over all *paths* from input pixels to the output unit, so $\partial y / \partial x_{ij}$ is the
**number of paths** from pixel $(i, j)$ — the "how many times was this pixel used" grid. One layer's
grid is its kernel; stacking layers convolves the grids, and in 1-D the counts for $n$ layers of size
3 are the coefficients of $(1 + x + x^2)^n$ (Luo et al., NeurIPS 2016, section 2).
""",
    ),
    (
        "code",
        r"""
%matplotlib inline
import numpy as np
import erftheory as et
""",
    ),
    (
        "md",
        r"""
## Two and three layers, exactly

`exact=True` computes with Python integers: these are true path counts, not floats.
""",
    ),
    (
        "code",
        r"""
two = et.erf("conv3*2", exact=True).exact_values
three = et.erf("conv3*3", exact=True).exact_values
print(two)
print(three)
""",
    ),
    (
        "md",
        r"""
The centre pixel of two layers is used 9 times (3 paths per axis, squared); a corner pixel once.
Every count is a product of a row count and a column count: a 3x3 all-ones kernel is the outer
product of `[1, 1, 1]` with itself, so the whole grid is an outer product too.
""",
    ),
    (
        "code",
        r"""
row = et.erf("1d: conv3*3", exact=True).exact_values
print("1-D counts:", list(row))
print("outer product equals the 2-D grid:", (np.multiply.outer(row, row) == three).all())
""",
    ),
    (
        "md",
        r"""
## The counts become a bell

The 1-D counts for $n$ layers are a row of the trinomial triangle. Normalised to sum 1 they are
the distribution of a sum of $n$ independent uniform steps in $\{0, 1, 2\}$: by the central limit
theorem they approach a Gaussian of variance $n (k^2 - 1) / 12 = 2n/3$.
""",
    ),
    (
        "code",
        r"""
from erftheory.symbolic import closed_form

cf = closed_form("1d: conv3*10")
print("generating function:", cf.generating_function[0])
print("mean:", cf.mean[0], "  variance:", cf.variance[0])

from matplotlib.figure import Figure
fig = Figure(figsize=(9, 3.5), layout="constrained")
ax = fig.subplots()
for n in (1, 2, 4, 8, 16):
    counts = et.erf(f"1d: conv3*{n}").values
    position = np.arange(counts.size) - n          # centred on the output unit
    ax.plot(position, counts / counts.sum(), marker=".", label=f"n = {n}")
ax.set(xlabel="input position relative to the centre", ylabel="share of paths",
       title="path counts of n 3-tap layers, normalised")
ax.legend()
fig
""",
    ),
    (
        "md",
        r"""
Deep stacks have astronomically many paths: $3^{n}$ in 1-D. Float64 holds integers exactly only up
to $2^{53}$, so erftheory tells you when a float result stops being exact:
""",
    ),
    (
        "code",
        r"""
r = et.erf("1d: conv3*40", exact=True)
print("central count:", r.exact_values[40])
print("exactly representable in float64:", r.float_exact)
""",
    ),
    (
        "md",
        r"""
## Exercises

1. Two layers of 5x5 all-ones kernels: how many paths reach the centre pixel? The corner? Check with
   `et.erf("conv5*2", exact=True)`.
2. Three 3-tap layers with dilations 1, 3 and 9 (`"1d: conv3/d1, conv3/d3, conv3/d9"`): predict the
   grid before you compute it. Why is it flat?
3. A 3-tap layer of stride 2 under a 3-tap layer (`"1d: conv3/s2, conv3"`) gives uneven counts. Which
   pixels are used twice, and why do such patterns look like "dead pixels"?

Solutions are at the end of the notebook, folded away.
""",
    ),
    (
        "code",
        r"""
# checks of this lesson (they run in the test suite)
assert two[2, 2] == 9 and two[0, 0] == 1 and two.sum() == 9**2
assert list(row) == [1, 3, 6, 7, 6, 3, 1]
assert three.sum() == 9**3
assert not r.float_exact
""",
    ),
    (
        "md",
        r"""
## Solutions

<details>
<summary>Show the solutions (try the exercises first)</summary>

1. $5 \times 5 = 25$ paths to the centre (5 per axis), 1 to the corner; the grid is the outer
   product of `[1, 2, 3, 4, 5, 4, 3, 2, 1]` with itself.
2. Every position $0 \dots 26$ is written in exactly one way as $a + 3b + 9c$ with digits
   $a, b, c \in \{0, 1, 2\}$ (base 3), so every count is 1: 27 ones, no bell at all.
3. `[1, 1, 2, 1, 2, 1, 1]`: positions 2 and 4 are reached through two different strided taps. The
   stride leaves a periodic pattern in the counts, a mild form of the "gridding" of dilated nets.

</details>
""",
    ),
    (
        "code",
        r"""
assert list(et.erf("1d: conv3/d1, conv3/d3, conv3/d9").values) == [1] * 27
assert list(et.erf("1d: conv3/s2, conv3").values) == [1, 1, 2, 1, 2, 1, 1]
assert et.erf("conv5*2", exact=True).exact_values[4, 4] == 25
""",
    ),
]

LESSON_3 = [
    (
        "md",
        r"""
# Lesson 3 — Random weights, initialisations and activations

**Question.** Real networks do not have all-ones weights. Does the ERF of a randomly initialised
network still look like a Gaussian? What do ReLU, tanh and sigmoid do to it?

**Theory.** With independent zero-mean weights, the cross terms between different paths vanish in
expectation, so $\mathbb{E}[(\partial y/\partial x)^2]$ is the composition of the weight-*variance*
kernels: with unit variances it is the path-count grid again (Luo et al. 2016, section 2.2).
The paper models a ReLU gate as an independent Bernoulli(1/2) switch: a factor 1/2 per layer, the
shape unchanged. This lesson reproduces the layout of the paper's Figure 1 and checks the theory
against the *real* network, run forward and backward by a small NumPy autograd over many random
initialisations.
""",
    ),
    (
        "code",
        r"""
%matplotlib inline
import numpy as np
from matplotlib.figure import Figure
import erftheory as et
from erftheory.montecarlo import check, monte_carlo
""",
    ),
    (
        "md",
        r"""
## Figure 1 of the paper: depth 5, 10, 20, 40; uniform, random, random + ReLU

The paper's rows: uniform weights, random weights, and random weights with ReLU, each ERF averaged
over many runs. Here the first two rows are exact (for uniform weights the ERF is
$\mathbb{E}[\partial y / \partial x]$, for random ones $\mathbb{E}[(\partial y / \partial x)^2]$,
both path counts in shape), and the third is measured: the real ReLU network run by the NumPy
autograd, $g^2$ averaged over 300 random initialisations and inputs.
""",
    ),
    (
        "code",
        r"""
depths = (5, 10, 20, 40)
fig = Figure(figsize=(12, 9), layout="constrained")
axes = fig.subplots(3, 4)
for col, depth in enumerate(depths):
    arch = f"conv3*{depth}"
    uniform = et.erf(arch, normalize="peak")
    random = et.erf(arch, weights="random", normalize="peak")
    relu = monte_carlo(arch, samples=300, seed=depth, channels=2, activation="relu").sq
    for row, (name, values) in enumerate(
        [("uniform", uniform.values), ("random", random.values), ("random + ReLU (MC)", relu)]
    ):
        ax = axes[row, col]
        ax.imshow(values / values.max(), cmap="viridis")
        ax.set_xticks([]); ax.set_yticks([])
        ax.set_title(f"{name}, {depth} layers", fontsize="small")
    axes[0, col].set_xlabel(f"TRF {uniform.receptive_field.size[0]}, std {uniform.std[0]:.2f}")
fig
""",
    ),
    (
        "md",
        r"""
The uniform and random rows coincide after normalisation; the ReLU row is the same bump with
Monte-Carlo noise (individual ReLU ERFs are sparse; their average is Gaussian). What changes with
depth is the width relative to the theoretical field: $\sigma = \sqrt{2n/3}$ against a TRF of
$2n + 1$.
""",
    ),
    (
        "md",
        r"""
## The real network, by Monte Carlo

`check` draws fresh N(0, 1) weights (4 channels per layer) and a fresh normal input for every
sample, backpropagates from the centre unit and averages $g^2$. The verdict compares the
normalised L1 distance to the theory with the distance the Monte-Carlo noise alone would give.
""",
    ),
    (
        "code",
        r"""
rows = []
for depth in (5, 10):
    for activation in ("linear", "relu", "tanh", "sigmoid"):
        c = check(f"conv3*{depth}", samples=800, seed=depth, channels=4, activation=activation)
        rows.append((depth, activation, c.l1, c.noise_l1, c.std_ratio[0], c.verdict))
        print(f"{depth:3d} layers {activation:8s} L1 {c.l1:.3f} (noise {c.noise_l1:.3f})  "
              f"std ratio {c.std_ratio[0]:.3f}  {c.verdict}")
""",
    ),
    (
        "code",
        r"""
fig = Figure(figsize=(12, 3.2), layout="constrained")
axes = fig.subplots(1, 4)
for ax, activation in zip(axes, ("linear", "relu", "tanh", "sigmoid")):
    mc = monte_carlo("conv3*10", samples=800, seed=1, channels=4, activation=activation)
    profile = mc.sq[10] / mc.sq[10].sum()
    theory = et.erf("conv3*10", weights="random").values[10]
    ax.errorbar(np.arange(21), profile, yerr=mc.sq_se[10] / mc.sq[10].sum(), fmt=".",
                label="Monte Carlo")
    ax.plot(theory / theory.sum(), label="theory")
    ax.set_title(f"10 layers, {activation}")
    ax.legend(fontsize="small")
fig
""",
    ),
    (
        "md",
        r"""
For linear networks the agreement is exact in expectation, so the Monte-Carlo estimate sits on the
theory within its error bars. ReLU and tanh keep the Gaussian *shape* on average (individual ERFs
are sparse and noisy); the independent-gate model is an approximation whose measured gap the
check reports instead of hiding. The gap grows inside residual branches, where the
independent-gate model misweights the identity against the body.

## Initialisations

A per-offset variance map is just another variance kernel: a "centre-light" initialisation
(smaller weights at the kernel centre, as the paper tried) widens the ERF before any training.
""",
    ),
    (
        "code",
        r"""
light = np.array([[1.0, 1.0, 1.0], [1.0, 0.2, 1.0], [1.0, 1.0, 1.0]])
plain = et.erf("conv3*10", weights="random", normalize="sum")
mc = monte_carlo("conv3*10", samples=800, seed=3, channels=4, variance_map=light)
from erftheory.gaussian import moments
print("std, unit variances     :", [round(v, 3) for v in plain.std])
print("std, centre-light (MC)  :", [round(v, 3) for v in moments(mc.sq).std])
""",
    ),
    (
        "md",
        r"""
## Exercises

1. Predict the width of the centre-light ERF analytically: the variance kernel is `light`, so the
   ERF is `et.erf` of ten convs with explicit weights `light` in random mode... careful: explicit
   weights are *fixed* kernels. What is the right description? (Hint: in random mode E[g^2] is
   the composition of variance kernels.)
2. Run `check` with `init="he"` and `init="xavier"`. Why do the shapes agree with unit-variance
   weights?
3. Increase `samples` for the ReLU network and watch `noise_l1` fall: is the gap to the theory
   still within the noise at 5000 samples?

## Solutions

<details>
<summary>Show the solutions (try the exercises first)</summary>

1. Describe the variance kernel as weights of a network evaluated with `weights="ones"`:
   `et.erf("conv3/w[[1,1,1],[1,0.2,1],[1,1,1]]*10")` composes `light` ten times, which is exactly
   E[g^2] for weights with those variances.
2. He and Xavier scale every weight of a layer by the same factor: E[g^2] is multiplied by a
   constant and its normalised shape does not change.
3. See the printed `l1` and `noise_l1`; the verdict switches to `gap` once the noise is smaller
   than the modelling error.

</details>
""",
    ),
    (
        "code",
        r"""
predicted = et.erf("conv3/w[[1,1,1],[1,0.2,1],[1,1,1]]*10", normalize="sum")
measured = moments(mc.sq).std
assert abs(predicted.std[0] - measured[0]) / predicted.std[0] < 0.05
assert predicted.std[0] > plain.std[0]
assert all(verdict == "agree" for depth, act, *_, verdict in rows if act == "linear")
""",
    ),
]

LESSON_5 = [
    (
        "md",
        r"""
# Lesson 5 — Borders and the fovea

**Question.** Real images are finite. A unit near the border has part of its receptive field in
the padding. Does zero padding shrink or shift its ERF? What does a circular convolution do? And
why do people compare the ERF's Gaussian centre with the fovea of the eye?

**Theory.** Every padded position is a zero (zero padding) or a copy of an image pixel (circular,
reflect, replicate): the network is still a linear map of the image, $y = A x$, so the ERF of
unit $u$ is exactly the row $g_u = A^\top e_u$, shaped like the image. Paths that leave the image
through zero padding are lost; circular padding wraps the unbounded ERF around the image. For all
units at once, linearity gives the ERF mass and centre from two forward passes, an all-ones image
$\mathbf{1}$ and a coordinate image $c(p) = p$:

$$m(u) = (A \mathbf{1})(u), \qquad \text{lost}(u) = 1 - \frac{m(u)}{m_\infty},
\qquad \text{centre}(u) = \frac{(A c)(u)}{(A \mathbf{1})(u)},$$

with $m_\infty$ the mass on an unbounded image (on a torus, circular padding, the centre is a
circular mean from $\cos$ and $\sin$ images instead).
""",
    ),
    (
        "code",
        r"""
%matplotlib inline
import numpy as np
from matplotlib.figure import Figure
import erftheory as et
from erftheory.finite import finite_erf, border_maps
from erftheory.plot import plot_borders
""",
    ),
    (
        "code",
        r"""
arch, size = "conv3/p1*6", (24, 24)
fig = Figure(figsize=(12, 3.3), layout="constrained")
axes = fig.subplots(1, 4)
cases = [((12, 12), "zeros"), ((0, 0), "zeros"), ((0, 0), "circular"), ((0, 0), "reflect")]
results = {}
for ax, (unit, mode) in zip(axes, cases):
    r = finite_erf(arch, size, unit=unit, padding_mode=mode)
    results[(unit, mode)] = r
    ax.imshow(r.values, cmap="viridis")
    ax.set_title(f"unit {unit}, {mode}\nmass {r.mass:.0f} of {r.unbounded_mass:.0f}")
    ax.set_xticks([]); ax.set_yticks([])
fig
""",
    ),
    (
        "md",
        r"""
Zero padding *truncates* the corner unit's ERF (most of its paths end in the padding) and pulls
its centre inwards; circular padding keeps every path and wraps it to the opposite corners;
reflect padding folds the lost paths back onto the pixels near the border, which are then
counted twice.

## Every unit at once

Two forward passes (an all-ones image and a coordinate image) give every unit's ERF mass and
centre: no backward pass per unit.
""",
    ),
    (
        "code",
        r"""
maps = border_maps(arch, size)
print(maps)
plot_borders(maps).figure
""",
    ),
    (
        "md",
        r"""
## The fovea

Deep in a network the ERF is close to a Gaussian: a sharp centre of high sensitivity that fades
smoothly, like the fovea and the periphery of the retina (Luo et al. 2016, section 5). The centre
is a property of the *paths*, not of the weights: the theoretical field is flat, the effective
one is not.

**A two-fovea question for the curious.** Can a convolutional network have two foveae, two
separate centres of sensitivity? Averaging over many layers pulls everything into one Gaussian
(the CLT), but a last layer with a wide gap between its taps splits it:
""",
    ),
    (
        "code",
        r"""
two = et.erf("1d: conv3*10, conv2/d30/w[1,1]", normalize="peak").values
fig = Figure(figsize=(8, 3), layout="constrained")
ax = fig.subplots()
ax.plot(two)
ax.set(title="two foveae: ten 3-tap layers, then taps 30 pixels apart", xlabel="input position")
fig
""",
    ),
    (
        "md",
        r"""
## Exercises

1. How much ERF mass does the centre unit of `conv3/p1*6` lose on a 24x24 image? From how far
   from the border on is nothing lost? (Hint: the field is 13 wide.)
2. With circular padding, when does the ERF of a unit *not* equal the unbounded ERF wrapped?
3. Add ten more 3-tap layers *after* the two-fovea layer: what happens to the two peaks?

## Solutions

<details>
<summary>Show the solutions (try the exercises first)</summary>

1. Nothing: its whole field (13 pixels per axis) lies inside; units from 6 pixels away from the
   border on keep their whole ERF.
2. Never, for linear networks: circular padding is a convolution on the torus. It looks
   different only when the field is larger than the image and wraps onto itself.
3. They widen and, once their width approaches their distance, merge into one Gaussian again.

</details>
""",
    ),
    (
        "code",
        r"""
centre = results[((12, 12), "zeros")]
assert abs(centre.mass - centre.unbounded_mass) < 1e-9
corner = results[((0, 0), "zeros")]
assert corner.mass < 0.5 * corner.unbounded_mass
assert abs(results[((0, 0), "circular")].mass - corner.unbounded_mass) < 1e-9
assert maps.lost_fraction[6, 6] == 0 and maps.lost_fraction[5, 12] > 0
def modes(values):
    slope = np.sign(np.diff(values)[np.abs(np.diff(values)) > 1e-9])
    return int(np.sum((slope[:-1] > 0) & (slope[1:] < 0)))


assert modes(two) == 2
assert modes(et.erf("1d: conv3*10, conv2/d30/w[1,1], conv3*1000", normalize="peak").values) == 1
""",
    ),
]

LESSON_6 = [
    (
        "md",
        r"""
# Lesson 6 — Measuring an ERF and checking it against theory

**Question.** You measured an ERF in your own framework: the gradient of the centre unit,
averaged over images. Is it what the theory predicts? And does it change with training?

**The workflow.** Save the per-image gradients as an array `(images, channels, H, W)`;
`erftheory validate` aggregates them by a named protocol (|g|, g^2, the positive part...),
aligns the map with the receptive field of the architecture, and compares it with the analytic
map that protocol implies. Here a stand-in "measurement" is produced by the NumPy autograd, so
the lesson runs anywhere.

**Which theory for which protocol.** With random zero-mean weights $\mathbb{E}[g] = 0$, so the
informative maps are $\mathbb{E}[g^2]$, computed exactly as a composition of variance kernels, and
$\mathbb{E}|g|$; for a Gaussian $g$, $\mathbb{E}|g| = \sqrt{2/\pi}\,\sqrt{\mathbb{E}[g^2]}$, the
same shape as $\sqrt{\mathbb{E}[g^2]}$. Both maps are compared as distributions $p, q$ over
positions, by the total variation distance $\mathrm{TV}(p, q) = \tfrac12 \sum_x |p(x) - q(x)|$
and the standard deviations per axis.
""",
    ),
    (
        "code",
        r"""
%matplotlib inline
import numpy as np
import erftheory as et
from erftheory import autograd as ag
from erftheory.validate import validate
from erftheory.plot import plot_validation
""",
    ),
    (
        "code",
        r"""
# "measure": 300 random 4-channel networks conv3*6, input 24x24, gradient of the centre unit
rng = np.random.default_rng(0)
grads = []
for _ in range(300):
    x = ag.Tensor(rng.normal(size=(1, 4, 24, 24)), requires_grad=True)
    y = x
    for _ in range(6):
        y = ag.conv(y, ag.Tensor(rng.normal(size=(4, 4, 3, 3))), (1, 1), (1, 1), ((0, 0), (0, 0)))
    ag.total(ag.select(y, (6, 6))).backward()
    grads.append(x.grad[0])
grads = np.array(grads)           # (images, channels, H, W), as a framework would save it
print(grads.shape)
""",
    ),
    (
        "code",
        r"""
v = validate(grads, "conv3*6", aggregate="sq")
print(v)
plot_validation(v).figure
""",
    ),
    (
        "md",
        r"""
The random network matches the theory within the noise of 300 measurements. Trained networks do
not: Luo et al. report that the ERF grows during training. A small experiment shows why a task
that needs a wide view pulls the ERF outwards.

## Watching an ERF grow

A linear CNN of six 3-tap layers learns to output the mean of its input over its whole field. The
best solution has a *flat* ERF; training starts from a bump.
""",
    ),
    (
        "code",
        r"""
from erftheory.training import train_erf_growth
from matplotlib.figure import Figure

r = train_erf_growth(layers=6, steps=600, seed=0)
print(r.to_dict())
fig = Figure(figsize=(8, 3.2), layout="constrained")
ax = fig.subplots()
ax.plot(np.abs(r.erf_before) / np.abs(r.erf_before).sum(), "o-", label=f"before, std {r.std_before[0]:.2f}")
ax.plot(np.abs(r.erf_after) / np.abs(r.erf_after).sum(), "s-", label=f"after, std {r.std_after[0]:.2f}")
ax.axhline(1 / r.erf_after.size, color="k", ls=":", label="flat optimum")
ax.set(xlabel="input position", ylabel="|ERF|, sum 1", title="a linear CNN before and after training")
ax.legend()
fig
""",
    ),
    (
        "md",
        r"""
## Exercises

1. Validate the same gradients with `aggregate="abs"`: which theory does erftheory compare with,
   and why is it the square root of E[g^2]?
2. Shift the measured maps by two pixels (`np.roll(grads, 2, axis=-1)`) and validate again with
   `unit=(...)` set to the *old* centre: what does the error message tell you?
3. Train the 2-D version (`dims=2, image=32`). How much wider is the ERF after training?

## Solutions

<details>
<summary>Show the solutions (try the exercises first)</summary>

1. For a Gaussian g, E|g| = sqrt(2/pi) sqrt(E[g^2]): same shape as sqrt(E[g^2]). Each
   pixel's g is only close to Gaussian (a sum over channels and paths of products of
   weights), so expect std ratios a few percent below 1 with few channels.
2. Part of the mass falls outside the receptive field around the declared centre: the
   architecture or the alignment is wrong, and erftheory says so rather than comparing.
3. `train_erf_growth(dims=2, image=32, lr=0.02)` (seed 0): the std grows from 1.89 x 2.18 to
   2.68 x 2.99 pixels, 1.41 x 1.37 times, still short of the flat optimum's 3.74. Note what
   this experiment shows and what it does not: the task rewards a flat ERF, so training
   *must* widen it; the lesson is how far gradient descent moves it in a given budget, and
   that a wider field is learnt rather than built in.

</details>
""",
    ),
    (
        "code",
        r"""
assert v.tv < 0.08 and all(abs(e / t - 1) < 0.05 for e, t in zip(v.empirical_std, v.theoretical_std))
assert r.growth[0] > 1.2
assert validate(grads, "conv3*6", aggregate="abs").theory.startswith("sqrt")
""",
    ),
]

LESSON_2 = [
    (
        "md",
        r"""
# Lesson 2 — The central limit theorem at work

**Question.** Lesson 1 showed path counts turning into a bell. How fast? How wide is the bell
compared with the theoretical receptive field, and what happens when kernels are not uniform?

**Theory.** Normalised, the ERF of $n$ layers is the law of a sum of $n$ independent offsets,
one per layer. Means and variances add:
$\mu_n = \sum_l s_l\,\mathbb{E}_l[m]$, $\sigma_n^2 = \sum_l s_l^2\,\mathrm{Var}_l[m]$ with $s_l$ the
layer's scale. A uniform kernel of size $k$ has variance $(k^2-1)/12$, so
$\sigma_n = \sqrt{n (k^2-1)/12}$ while the TRF is $n(k-1)+1$: **ERF/TRF $\sim 1/\sqrt{n}$**
(Luo et al. 2016). The local CLT says the pointwise error shrinks like $1/n$ for symmetric
kernels and $1/\sqrt n$ otherwise; an Edgeworth correction (skewness, kurtosis) does better.
""",
    ),
    (
        "code",
        r"""
%matplotlib inline
import numpy as np
from matplotlib.figure import Figure
import erftheory as et
from erftheory.gaussian import compare_to_gaussian, gaussian_prediction, moments
from erftheory.moments import predicted_moments
from erftheory.rates import clt_rates
from erftheory.sweep import sweep
from erftheory.plot import plot_sweep
""",
    ),
    ("md", "## Exact ERF against its Gaussian, as depth grows"),
    (
        "code",
        r"""
fig = Figure(figsize=(12, 3.2), layout="constrained")
for ax, n in zip(fig.subplots(1, 4), (2, 4, 8, 32)):
    erf = et.erf(f"1d: conv3*{n}", normalize="sum").values
    m = moments(erf)
    gauss = gaussian_prediction(erf.shape, m.mean, m.covariance, discretisation="point").values
    ax.bar(np.arange(erf.size), erf, color="lightgray", label="exact")
    ax.plot(gauss, "r.-", label="Gaussian")
    ax.set_title(f"n = {n}, TV = {0.5 * np.abs(erf - gauss).sum():.4f}")
    ax.legend(fontsize="small")
fig
""",
    ),
    (
        "md",
        r"""
## sqrt(n) against n

A depth sweep repeats the layer and fits the slope of ERF std / TRF against depth on a log-log
scale. The fitted exponent approaches $-1/2$ as depth grows (the $+1$ of the TRF bends short
ranges).
""",
    ),
    (
        "code",
        r"""
s = sweep("conv3*n", "2:200:22")
print(s)
plot_sweep(s).figure
""",
    ),
    (
        "md",
        r"""
## How fast does the Gaussian arrive?

For $n$ layers of one kernel, `clt_rates` gives the exact Kolmogorov distance of the CDF (bounded
by Berry-Esseen, $C\rho/(\sigma^3\sqrt n)$) and the scaled local error. Symmetric kernels
converge like $1/n$ pointwise, a skewed kernel like $[1, 2, 4]$ like $1/\sqrt n$.
""",
    ),
    (
        "code",
        r"""
depths = np.array([4, 8, 16, 32, 64, 128])
fig = Figure(figsize=(7, 4), layout="constrained")
ax = fig.subplots()
for kernel, label in (([1, 1, 1], "uniform [1,1,1]"), ([1, 2, 4], "skewed [1,2,4]")):
    local = [clt_rates(kernel, int(n)).local_error for n in depths]
    slope = np.polyfit(np.log(depths), np.log(local), 1)[0]
    ax.loglog(depths, local, "o-", label=f"{label}: slope {slope:.2f}")
    be = [clt_rates(kernel, int(n)).berry_esseen for n in depths]
    ax.loglog(depths, be, ":", label=f"{label}: Berry-Esseen bound (CDF)")
ax.set(xlabel="depth n", ylabel="error", title="local CLT error against depth")
ax.legend(fontsize="small")
fig
""",
    ),
    (
        "md",
        r"""
## Where the Edgeworth correction helps

A check by hand: for $k = 3$, $n = 5$ the exact peak over the Gaussian peak is 0.9605, and the
first Edgeworth correction predicts $1 - 1.5 \cdot 3/(24 \cdot 5) = 0.9625$. For shallow or
skewed stacks the corrected prediction is much closer:
""",
    ),
    (
        "code",
        r"""
for arch in ("1d: conv3*5", "1d: conv3*30", "1d: conv3/w[1,2,4]*4", "1d: conv3/w[1,2,4]*30"):
    c = compare_to_gaussian(et.erf(arch, normalize="sum").values)
    d = c.to_dict()
    print(f"{arch:24s} TV to Gaussian {d['tv_gaussian']:.5f}   with Edgeworth {d['tv_edgeworth']:.5f}")
erf5 = et.erf("1d: conv3*5", normalize="sum").values
sigma = np.sqrt(5 * 8 / 12)
peak_ratio = erf5[5] / (1 / (sigma * np.sqrt(2 * np.pi)))
print("peak ratio", round(peak_ratio, 4))
""",
    ),
    (
        "md",
        r"""
## Kernels that are not uniform

Means and variances still add, so the width follows from the kernels alone, without computing
the ERF: `predicted_moments` does exactly that.
""",
    ),
    (
        "code",
        r"""
arch = "conv3/w[[1,2,1],[2,4,2],[1,2,1]]*6, conv5/s2, conv3/d3*3"
pred = predicted_moments(arch)
print("predicted from kernels:", [round(v, 6) for v in pred.std])
print("from the composed ERF :", [round(v, 6) for v in et.erf(arch).std])
""",
    ),
    (
        "md",
        r"""
## Exercises

1. Which exponent do you get for a sweep of `"conv5*n"` over depths 100 to 1000? Why is it
   closer to $-1/2$ than the 2 to 200 sweep above?
2. With dilations `conv3/d2*n`, what is the lattice the ERF lives on, and what does
   `compare_to_gaussian` report as `lattice_span`?
3. Predict $\sigma$ of `"1d: conv3/s2*4"` by hand (scales 1, 2, 4, 8) and check it.

## Solutions

<details>
<summary>Show the solutions (try the exercises first)</summary>

1. About $-0.50$: the TRF's $+1$ and the $\sqrt{\cdot}$ are negligible at large $n$.
2. The even positions only: span 2 (gridding); the local CLT holds on that lattice.
3. $\sigma^2 = (1 + 4 + 16 + 64) \cdot 2/3 = 56.67$, $\sigma \approx 7.53$.

</details>
""",
    ),
    (
        "code",
        r"""
assert abs(sweep("1d: conv5*n", "100:1000:300").exponent + 0.5) < 0.01
assert abs(peak_ratio - 0.9605) < 5e-4
assert np.allclose(pred.std, et.erf(arch).std, rtol=1e-10)
assert abs(et.erf("1d: conv3/s2*4").std[0] - np.sqrt(85 * 2 / 3)) < 1e-9
assert compare_to_gaussian(et.erf("1d: conv3/d2*8").values).lattice_span == (2,)
""",
    ),
]

LESSON_4 = [
    (
        "md",
        r"""
# Lesson 4 — Making the field larger

**Question.** A deep stack of 3x3 convolutions sees only a small Gaussian patch. Which design
choices make the *effective* field larger — subsampling, dilation, residual connections, large
kernels — and at what price?

**Theory.** Every layer is a kernel at scale $d_l J_{l-1}$ (dilation times the stride below), so
strides and dilations multiply later layers' contributions to the variance by $s^2$. Residual
blocks $y = x + F(x)$ mix short and long paths (Veit et al. 2016): the ERF is a binomial
mixture, narrower than the plain stack of the same depth. A large kernel of size $k$ adds
$(k^2-1)/12$ at once.
""",
    ),
    (
        "code",
        r"""
%matplotlib inline
import numpy as np
from matplotlib.figure import Figure
import erftheory as et
from erftheory.metrics import all_metrics
from erftheory.report import table
""",
    ),
    (
        "code",
        r"""
designs = {
    "plain 3x3 x8": "conv3*8",
    "stride 2 first": "conv3/s2, conv3*7",
    "dilation 2": "conv3/d2*8",
    "dilations 1,2,4,8 x2": "(conv3, conv3/d2, conv3/d4, conv3/d8)*2",
    "residual x4": "conv3, res(conv3, conv3)*4",
    "large kernel 31": "conv31, conv3*7",
}
rows, maps = [], {}
for name, arch in designs.items():
    r = et.erf(arch, normalize="sum")
    m = all_metrics(r.values)
    maps[name] = r.values
    rows.append([name, r.receptive_field.size[0], f"{r.std[0]:.2f}",
                 f"{r.std[0] / r.receptive_field.size[0]:.3f}", m["area_ratio_raw_side"][2],
                 f"{m['effective_area']:.0f}"])
print(table(["design", "TRF", "ERF std", "std/TRF", "50% square side", "effective area"], rows))
""",
    ),
    (
        "code",
        r"""
fig = Figure(figsize=(12, 6), layout="constrained")
for ax, (name, values) in zip(fig.subplots(2, 3).ravel(), maps.items()):
    ax.imshow(values ** 0.25, cmap="magma")
    ax.set_title(f"{name} (x^0.25)")
    ax.set_xticks([]); ax.set_yticks([])
fig
""",
    ),
    (
        "md",
        r"""
Dilation widens the field at no cost in depth, but the dilation-2 stack puts its mass on a
sublattice: every other pixel is never used (the "gridding" artefact, visible as a checkerboard).
Mixing dilations 1, 2, 4, 8 fills the lattice. Subsampling early multiplies every later
layer's reach. Residual blocks *narrow* the ERF at a given depth: most of the mass flows through
short paths. A single large kernel adds as much variance as many small layers.

## Exercises

1. Which design has the largest std/TRF, and why is that not the same as the largest ERF?
2. Show the gridding numerically: what fraction of the dilation-2 ERF's pixels are zero?
3. How many plain 3x3 layers give the same std as one 31x31 kernel? (Variances add.)

## Solutions

<details>
<summary>Show the solutions (try the exercises first)</summary>

1. The large kernel: its TRF grows only by 30 but its variance by $(31^2-1)/12 = 80$; the
   widest ERF in pixels is a different question from the best use of the TRF.
2. Only the 17 even positions of the 33 per axis are ever used: $1 - (17/33)^2 \approx 73\%$ of
   the pixels are zero.
3. $n \cdot 8/12 = 80$ gives $n = 120$ layers.

</details>
""",
    ),
    (
        "code",
        r"""
dil = maps["dilation 2"]
assert abs(np.mean(dil == 0) - (1 - (17 / 33) ** 2)) < 1e-12   # 17 of 33 positions per axis used
stds = {name: np.sqrt(((np.arange(v.shape[0]) - np.arange(v.shape[0]) @ v.sum(1)) ** 2) @ v.sum(1))
        for name, v in maps.items()}
assert stds["residual x4"] < et.erf("conv3*9").std[0]
assert stds["large kernel 31"] > stds["plain 3x3 x8"]
assert abs(et.erf("1d: conv3*120").std[0] - et.erf("1d: conv31").std[0]) < 1e-9
""",
    ),
]

LESSONS = {
    "01_counting_paths": LESSON_1,
    "02_central_limit_theorem": LESSON_2,
    "03_random_weights_and_activations": LESSON_3,
    "04_making_the_field_larger": LESSON_4,
    "05_borders_and_the_fovea": LESSON_5,
    "06_measuring_and_validating": LESSON_6,
}
