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
import matplotlib
from matplotlib.figure import Figure
import erftheory as et
from erftheory import autograd as ag
from erftheory import check, monte_carlo
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
autograd, $g^2$ averaged over random initialisations and inputs. Deep networks are expensive to
run, so the budget shrinks with depth: 2000 samples of 4-channel networks at 5 and 10 layers,
300 samples of 2-channel networks at 20 and 40. Each ReLU panel is labelled with its normalised
L1 distance to the theory and the L1 that Monte-Carlo noise alone would give.
""",
    ),
    (
        "code",
        r"""
depths = (5, 10, 20, 40)
budget = {5: (2000, 4), 10: (2000, 4), 20: (300, 2), 40: (300, 2)}   # (samples, channels)
fig = Figure(figsize=(12, 9.5), layout="constrained")
axes = fig.subplots(3, 4)
relu_checks = {}
for col, depth in enumerate(depths):
    arch = f"conv3*{depth}"
    uniform = et.erf(arch, normalize="peak")
    random = et.erf(arch, weights="random", normalize="peak")
    samples, channels = budget[depth]
    c = check(arch, samples=samples, seed=depth, channels=channels, activation="relu")
    relu_checks[depth] = c
    for row, (name, values) in enumerate(
        [("uniform", uniform.values), ("random", random.values),
         (f"random + ReLU (MC, {samples} x {channels} ch)", c.empirical)]
    ):
        ax = axes[row, col]
        ax.imshow(values / values.max(), cmap="viridis")
        ax.set_xticks([]); ax.set_yticks([])
        ax.set_title(f"{name}, {depth} layers", fontsize="small")
    axes[0, col].set_xlabel(f"TRF {uniform.receptive_field.size[0]}, std {uniform.std[0]:.2f}")
    axes[2, col].set_xlabel(f"L1 {c.l1:.3f}, noise alone {c.noise_l1:.3f}")
    print(f"{depth:2d} layers, ReLU: L1 {c.l1:.3f}, Monte-Carlo noise alone {c.noise_l1:.3f}")
fig
""",
    ),
    (
        "md",
        r"""
The uniform and random rows coincide after normalisation. What changes with depth is the width
relative to the theoretical field: $\sigma = \sqrt{2n/3}$ against a TRF of $2n + 1$.

The ReLU row must be read with its labels. At 5 and 10 layers the L1 distance to the theory is
below the noise level: the measured map is the theory's bump. At 20 and 40 layers the L1 is
about the noise level itself (0.396 against 0.375 at 20 layers, 0.728 against 0.627 at 40):
**what you see there is mostly Monte-Carlo noise**, neither a confirmation nor a refutation of the
theory, and `check` says so: its verdict there is `inconclusive`, with the number of samples it
would need. The reason is the tail of $g^2$: at each pixel $g$ is a sum over paths of products of $L$
random weights and $L$ gates, so with few channels and many layers $g^2$ is so heavy-tailed that
its mean is carried by rare large draws which a few hundred samples barely see. More samples help
only slowly, and a 40-layer network is costly to run.

## One network at a time: individual ReLU ERFs are sparse

The paper's point about ReLU: the ERF of *one* network is sparse. A gate that is off blocks every
path through its unit, so many pixels get exactly zero gradient, and in half of all draws the
output unit's own gate is off (its pre-activation is symmetric about 0) and the whole map is zero.
Only the average over many networks is the smooth bump (one draw of a linear random network is
not smooth either: a single sample is not its expectation, but it has no zeros). One network with
one channel and 10 layers, with and without its ReLUs (same weights, same input):
""",
    ),
    (
        "code",
        r"""
def one_network(depth, seed, relu, channels=1):
    # g^2 of the output unit of one random network, on an input exactly its receptive field
    rng = np.random.default_rng(seed)
    side = 2 * depth + 1
    x = ag.Tensor(rng.normal(size=(1, channels, side, side)), requires_grad=True)
    y = x
    for _ in range(depth):
        y = ag.conv(y, ag.Tensor(rng.normal(size=(channels, channels, 3, 3))), (1, 1), (1, 1),
                    ((0, 0), (0, 0)))
        if relu:
            y = ag.relu(y)
    ag.total(ag.select(y, (0, 0))).backward()
    return (x.grad[0] ** 2).sum(axis=0)


seed = next(s for s in range(100) if one_network(10, s, relu=True).any())  # output gate open
single_relu, single_linear = one_network(10, seed, True), one_network(10, seed, False)
zero_relu, zero_linear = np.mean(single_relu == 0), np.mean(single_linear == 0)
print(f"seed {seed}: exactly zero gradient at {zero_relu:.0%} of the pixels with ReLU, "
      f"{zero_linear:.0%} without")
fig = Figure(figsize=(10, 3.6), layout="constrained")
cmap = matplotlib.colormaps["viridis"].with_extremes(bad="white")
for ax, (name, values) in zip(fig.subplots(1, 3), [
        ("one network, ReLU", single_relu), ("the same network, no ReLU", single_linear),
        ("average of 2000 4-channel ReLU networks", relu_checks[10].empirical)]):
    shown = np.ma.masked_equal(values / values.max(), 0) ** 0.25
    ax.imshow(shown, cmap=cmap)
    ax.set_xticks([]); ax.set_yticks([])
    ax.set_title(f"{name}\n(g^2)^0.25, white: exactly 0", fontsize="small")
fig
""",
    ),
    (
        "md",
        r"""
## The real network, by Monte Carlo

`check` draws fresh N(0, 1) weights (4 channels per layer) and a fresh normal input for every
sample, backpropagates from the centre unit and averages $g^2$. Its verdict rests on two tests,
and the field `basis` of the result says which ones ran:

1. **L1**: the normalised L1 distance between the estimate and the theory (both scaled to sum 1)
   must be within 2 times `noise_l1`, the distance the Monte-Carlo error alone would give (a
   correct theory exceeded 2 in none of 2,450 measured runs);
2. **max |z|**, run only from 500 samples on (`z_tested`): every pixel's z-score, the estimate
   minus the theory in units of its standard error, must stay within the Bonferroni 0.1% level
   for that many pixels, plus 1. Below 500 samples the standard errors are too rough for it;
   `notes` then says whether a large |z| went untested.

`agree` needs both. A linear network that fails is `disagree` (a bug somewhere); a nonlinear one
gets `gap`: the theory is an approximation there (ReLU) or only a reference (tanh and sigmoid
have no closed form, so they are compared with the linear network's map). And a test must be
able to fail: where two noise levels exceed 0.25 of L1, a theory misplacing an eighth of the mass
could pass, so the verdict is `inconclusive` (as it is below 30 samples), with a note giving the
samples needed. Below, each row also
counts the pixels beyond the z limit, how many of them lie in the two outermost rings of the
field, and how many sit *below* the theory.
""",
    ),
    (
        "code",
        r"""
from scipy.special import ndtri


def beyond_limit(c):
    # pixels whose |z| exceeds the check's limit; how many in the outer two rings, how many low
    limit = ndtri(1 - 0.0005 / c.z.size) + 1
    bad = np.abs(c.z) > limit
    i, j = np.indices(c.z.shape)
    n = c.z.shape[0]
    ring = np.minimum(np.minimum(i, j), np.minimum(n - 1 - i, n - 1 - j))
    return int(bad.sum()), int((bad & (ring < 2)).sum()), int((bad & (c.empirical < c.predicted)).sum())


rows = []
for depth in (5, 10):
    for activation in ("linear", "relu", "tanh", "sigmoid"):
        c = check(f"conv3*{depth}", samples=800, seed=depth, channels=4, activation=activation)
        bad, outer, low = beyond_limit(c)
        rows.append((depth, activation, c.l1, c.noise_l1, c.verdict, bad, outer, low))
        print(f"{depth:3d} layers {activation:8s} L1 {c.l1:.3f} (noise {c.noise_l1:.3f})  "
              f"std ratio {c.std_ratio[0]:.3f}  max |z| {np.abs(c.z).max():8.1f}  {c.verdict}")
        print(f"      basis: {c.basis}")
        print(f"      beyond the z limit: {bad} pixels, {outer} in the outer two rings, "
              f"{low} below the theory")
        for note in c.notes:
            print(f"      note: {note}")
""",
    ),
    (
        "md",
        r"""
Read the rows with their basis. Every row passes the L1 test, but three (tanh at 5 and 10 layers,
sigmoid at 10) are `inconclusive`: their noise is so high that passing it means little. Every
`gap` comes from the z test,
and the pixels that fail it lie mostly in the outer rings of the field and all sit *below* the
theory. That is the signature of undersampling, not of a wrong shape: the edge pixels are
reached by few paths, their $g^2$ is a product of many random factors, and 800 samples rarely
see the large draws that carry its mean, so the estimate *and* its standard error come out too
small. tanh is the extreme case: with N(0, 1) weights and 4 channels a pre-activation has a
standard deviation of about 6 (a sum of 36 unit-variance products in the first layer), so about
three units in four
are saturated ($|a| > 2$, where $\tanh'(a) < 0.08$), and $g^2$ is carried by the rare paths
through unsaturated units.

So the nonlinear verdicts at this budget are **seed-dependent noise**: which rows say `gap`,
and at how many pixels, changes with the seed and the number of samples (with 5000 samples the
10-layer ReLU check agrees for some seeds and not for others). One-dimensional networks are
cheap enough to watch what more samples do to the ReLU check:
""",
    ),
    (
        "code",
        r"""
growing = []
for samples in (1000, 10000, 50000):
    c = check("1d: conv3*10", samples=samples, seed=1, channels=4, activation="relu", batch=1000)
    growing.append(c)
    print(f"{samples:6d} samples: L1 {c.l1:.3f} (noise {c.noise_l1:.3f})  "
          f"max |z| {np.abs(c.z).max():5.1f}  edge pixel estimate / theory "
          f"{c.empirical[0] / c.predicted[0]:.2f}  {c.verdict}")
""",
    ),
    (
        "md",
        r"""
As the samples grow, the edge pixel's estimate climbs to the theory (its rare large draws are
finally seen), L1 stays within the falling noise, and the verdict turns from `inconclusive` (at
1000 samples two noise levels are 0.53, too loose to reject anything) to `agree`: for this plain
ReLU stack the independent-gate model holds within all the noise we can reach. A real modelling
error behaves the other way: its L1 stays put while `noise_l1` falls, and the verdict turns to
`gap` once two noise levels are smaller than it.

The profiles through the centre at 10 layers, with their error bars:
""",
    ),
    (
        "code",
        r"""
fig = Figure(figsize=(12, 3.4), layout="constrained")
axes = fig.subplots(1, 4)
theory = et.erf("conv3*10", weights="random").values[10]
theory = theory / theory.sum()
profiles = {}
for ax, activation in zip(axes, ("linear", "relu", "tanh", "sigmoid")):
    mc = monte_carlo("conv3*10", samples=800, seed=1, channels=4, activation=activation)
    profile, se = mc.sq[10] / mc.sq[10].sum(), mc.sq_se[10] / mc.sq[10].sum()
    z = (profile - theory) / se
    profiles[activation] = (np.abs(z).max(), np.mean(se / profile))
    print(f"{activation:8s} max |z| over the 21 points {np.abs(z).max():4.1f}, "
          f"mean relative error bar {np.mean(se / profile):.0%}")
    ax.errorbar(np.arange(21), profile, yerr=se, fmt=".", label="Monte Carlo")
    ax.plot(theory, label="theory (linear)")
    ax.set(title=f"10 layers, {activation}", xlabel="input column (centre row)",
           ylabel="E[g^2], row sums to 1")
    ax.legend(fontsize="small")
fig
""",
    ),
    (
        "md",
        r"""
The linear, ReLU and sigmoid profiles sit on the theory within their error bars (every point
within 2.5 standard errors). The tanh profile has two points on its flank far below the theory
(the same undersampling as above). The error bars grow with the tails of $g^2$: about 5% of the
value on average for the linear network, 18% with ReLU, 23% with sigmoid and 40% with tanh.
Whether tanh and sigmoid change the shape at all cannot be settled at this budget: they have no
closed form, and they have the heaviest tails.

## Initialisations

A per-offset variance map is just another variance kernel: a "centre-light" initialisation
(smaller weights at the kernel centre, as the paper tried) widens the ERF before any training.
The paper reports what it buys: faster training early on (CIFAR-10), but no gain in final
accuracy.
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
3. Rerun the 10-layer 2-D ReLU check with 5000 samples (seeds 0, 1, 2 and 10). Does the verdict
   move towards `gap` or towards `agree`, and what does the direction tell you?

## Solutions

<details>
<summary>Show the solutions (try the exercises first)</summary>

1. Describe the variance kernel as weights of a network evaluated with `weights="ones"`:
   `et.erf("conv3/w[[1,1,1],[1,0.2,1],[1,1,1]]*10")` composes `light` ten times, which is exactly
   E[g^2] for weights with those variances.
2. He and Xavier scale every weight of a layer by the same factor: E[g^2] is multiplied by a
   constant and its normalised shape does not change.
3. Towards `agree`. L1 and `noise_l1` both fall (seed 10: L1 0.091 to 0.044, noise 0.109 to
   0.051) and L1 stays within the noise; seeds 1 and 2 now agree, seeds 0 and 10 still fail the
   z test at one or two pixels in a corner of the field, still undersampled (below the theory). An
   undersampling artefact fades as samples grow; a modelling error would make the verdict move
   the other way, to `gap`, once the noise fell below it.

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
assert all(verdict == "agree" for depth, act, _, _, verdict, *_ in rows if act == "linear")
assert {(depth, act) for depth, act, _, _, verdict, *_ in rows if verdict == "inconclusive"} == {
    (5, "tanh"), (10, "tanh"), (10, "sigmoid")}
assert all(relu_checks[d].verdict == "inconclusive" for d in (20, 40))
# the statements of the text
assert all(relu_checks[d].l1 < relu_checks[d].noise_l1 for d in (5, 10))
assert [round(relu_checks[d].l1, 3) for d in (20, 40)] == [0.396, 0.728]
assert [round(relu_checks[d].noise_l1, 3) for d in (20, 40)] == [0.375, 0.627]
assert zero_relu > 0.1 and zero_linear == 0
assert all(l1 <= 2 * noise for _, _, l1, noise, *_ in rows)
assert all(low == bad and 2 * outer >= bad for *_, verdict, bad, outer, low in rows if verdict == "gap")
assert [c.verdict for c in growing] == ["inconclusive", "agree", "agree"]
assert all(profiles[a][0] < 2.5 for a in ("linear", "relu", "sigmoid")) and profiles["tanh"][0] > 4
assert [round(profiles[a][1], 2) for a in ("linear", "relu", "sigmoid", "tanh")] == [0.05, 0.18, 0.23, 0.40]
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
2. For a linear network without strides, never: circular padding is then a convolution on the
   torus, and the map is the unbounded ERF wrapped (it only *looks* different when the field is
   larger than the image and wraps onto itself). With strides, it is the wrapped ERF when the
   image size is a multiple of the cumulative stride; otherwise the wrap at the border breaks
   the shift structure: `1d: conv3/s2/p1, conv3/s2/p1` (cumulative stride 4) on 7 pixels gives
   [2, 2, 1, 1, 0, 1, 2] for unit 0 against the wrapped [1, 2, 1, 1, 1, 1, 2], while on 8 pixels
   the two agree (checked in the cell below).
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


def wrapped(arch, n):  # the unbounded ERF of unit 0 wrapped onto n pixels
    out, rf = np.zeros(n), et.receptive_field(arch)
    for i, v in enumerate(et.erf(arch).values):
        out[(rf.start[0] + i) % n] += v
    return out


strided = "1d: conv3/s2/p1, conv3/s2/p1"
for n, same in [(7, False), (8, True), (9, False), (12, True)]:
    torus = finite_erf(strided, (n,), unit=(0,), padding_mode="circular").values
    assert np.allclose(torus, wrapped(strided, n)) == same
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
The random network matches the theory within the noise of 300 measurements.

**Where is the field?** The alignment line gives the fitted centre of the field in input
coordinates. `validate` starts from the map's centre of mass and tries the placements of the
13 x 13 receptive field around it, keeping the one whose theory is closest (least total
variation) to the measured map over the pixels it covers: a skewed map, or a field cut by the
image's edge, would pull a centre of mass off the unit, a fit does not. The measured unit, output
(6, 6) of six unpadded 3x3 layers, reads input pixels 6 to 18 on each axis, centred on input
pixel 12: the line says [12.0, 12.0]. With 300 images the result also carries bootstrap 95%
intervals of the std ratio (resampling the images) and the verdict they give: `consistent`, as
both intervals hold 1.
""",
    ),
    (
        "code",
        r"""
sq = (grads ** 2).sum(axis=(0, 1))                  # the g^2 map on the whole 24 x 24 input
rows_used = np.flatnonzero(sq.sum(axis=1))
centre = [float(np.arange(24) @ sq.sum(axis=1 - axis) / sq.sum()) for axis in (0, 1)]
print("input rows with gradient:", rows_used[0], "to", rows_used[-1])
print("centre of mass in input coordinates:", [round(c, 3) for c in centre])
print("minus the window's start (6):       ", [round(c - 6, 3) for c in centre])
""",
    ),
    (
        "md",
        r"""
Trained networks are not random: Luo et al. report that the ERF grows during training (CIFAR-10,
CamVid). A small experiment shows how gradient descent moves an ERF when the task asks for a
wide view.

## Watching an ERF grow

A linear CNN of six 3-tap layers (one channel, 1-D) learns to output the mean of its input over
its whole 13-pixel field. **The task is synthetic, and it makes a flat ERF optimal by
construction**: the target is exactly a flat average, so growth is built into the experiment.
What it shows is how far and how fast gradient descent moves the ERF towards that optimum, not
that training widens ERFs in general; that is the paper's observation on real tasks.

Training does not start from a bump. The initial kernels are random, so the initial ERF is the
composition of six random signed 3-tap kernels: a jagged map with positive and negative values.
Its "std" is that of $|\mathrm{ERF}|$ taken as a distribution.
""",
    ),
    (
        "code",
        r"""
from erftheory.training import train_erf_growth
from matplotlib.figure import Figure

r = train_erf_growth(layers=6, steps=600, seed=0)
print(r.to_dict())
before = r.erf_before / np.abs(r.erf_before).sum()
after = r.erf_after / np.abs(r.erf_after).sum()
print(f"before: {np.sum(before < 0)} of {before.size} values negative, "
      f"{np.sum(np.diff(np.sign(before)) != 0)} sign changes")
print("after:", np.round(after, 4))
fig = Figure(figsize=(8, 3.4), layout="constrained")
ax = fig.subplots()
ax.axhline(0, color="0.6", lw=0.8)
ax.plot(before, "o-", label=f"before (signed), std of |ERF| {r.std_before[0]:.2f}")
ax.plot(after, "s-", label=f"after, std {r.std_after[0]:.2f}")
ax.axhline(1 / r.erf_after.size, color="k", ls=":", label=f"flat optimum, std {r.flat_std[0]:.2f}")
ax.set(xlabel="input position in the 13-pixel field", ylabel="ERF / sum |ERF|",
       title="a linear CNN before and after training")
ax.legend(fontsize="small")
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
assert np.sum(before < 0) > 3 and np.all(after > 0) and abs(r.std_after[0] - r.flat_std[0]) < 1e-3
assert [round(c - 6, 3) for c in centre] == [5.973, 5.995] and list(rows_used[[0, -1]]) == [6, 18]
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
for i, (ax, n) in enumerate(zip(fig.subplots(1, 4), (2, 4, 8, 32))):
    erf = et.erf(f"1d: conv3*{n}", normalize="sum").values
    m = moments(erf)
    gauss = gaussian_prediction(erf.shape, m.mean, m.covariance, discretisation="point").values
    ax.bar(np.arange(erf.size), erf, color="lightgray", label="exact")
    ax.plot(gauss, "r.-", label="Gaussian")
    ax.set(title=f"n = {n}, TV = {0.5 * np.abs(erf - gauss).sum():.4f}",
           xlabel="input position (from the field's start)",
           ylabel="share of the ERF (sum 1)" if i == 0 else "")
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

For $n$ layers of one kernel, `clt_rates` gives two exact distances to the Gaussian, which answer
different questions and have different bounds:

* the **Kolmogorov distance** $\sup_x |F_n(x) - \Phi(z)|$ between the cumulative distributions,
  which the Berry-Esseen theorem bounds by $C\rho/(\sigma^3\sqrt n)$ ($\rho = \mathbb{E}|X-\mu|^3$,
  $C \le 0.4748$);
* the scaled **local error** $\max_x |\sigma\sqrt n\,P(S_n = x) - \varphi(z)|$, pointwise on the
  lattice: $O(1/n)$ for symmetric kernels, $O(1/\sqrt n)$ otherwise. Berry-Esseen says nothing
  about it.

So the left panel puts each Kolmogorov distance under its Berry-Esseen bound, and the right panel
shows the local errors on their own.
""",
    ),
    (
        "code",
        r"""
depths = np.array([4, 8, 16, 32, 64, 128])
fig = Figure(figsize=(12, 4.2), layout="constrained")
left, right = fig.subplots(1, 2)
slopes = {}
for (kernel, label), colour in zip(
    (([1, 1, 1], "uniform [1,1,1]"), ([1, 2, 4], "skewed [1,2,4]")), ("C0", "C1")
):
    rates = [clt_rates(kernel, int(n)) for n in depths]
    kolmogorov = [r.kolmogorov for r in rates]
    bound = [r.berry_esseen for r in rates]
    local = [r.local_error for r in rates]
    k_slope = np.polyfit(np.log(depths), np.log(kolmogorov), 1)[0]
    l_slope = np.polyfit(np.log(depths), np.log(local), 1)[0]
    slopes[label] = (k_slope, l_slope, max(k / b for k, b in zip(kolmogorov, bound)))
    print(f"{label}: Kolmogorov slope {k_slope:.2f}, at most {slopes[label][2]:.2f} of the bound; "
          f"local error slope {l_slope:.2f}")
    left.loglog(depths, kolmogorov, "o-", color=colour,
                label=f"{label}: Kolmogorov, slope {k_slope:.2f}")
    left.loglog(depths, bound, ":", color=colour, label=f"{label}: Berry-Esseen bound")
    right.loglog(depths, local, "s-", color=colour, label=f"{label}: slope {l_slope:.2f}")
left.set(xlabel="depth n", ylabel="sup |F_n - Phi|",
         title="CDF: Kolmogorov distance and its Berry-Esseen bound")
right.set(xlabel="depth n", ylabel="max |sigma sqrt(n) P(S_n = x) - phi(z)|",
          title="pointwise: scaled local CLT error")
left.legend(fontsize="small"); right.legend(fontsize="small")
fig
""",
    ),
    (
        "md",
        r"""
Both Kolmogorov distances fall like $1/\sqrt n$ (slopes $-0.49$ and $-0.50$), under their bounds
by a factor of 2 to 2.5. A lattice law's CDF jumps by about $\varphi(0)/(\sigma\sqrt n)$ at its
centre while $\Phi$ is continuous, so the distance is at least about half that jump: in the CDF
even a symmetric kernel cannot beat the Berry-Esseen rate. Symmetry pays in
the local error: slope $-0.97$ for $[1, 1, 1]$ against $-0.52$ for $[1, 2, 4]$.
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
assert [round(slopes[k][0], 2) for k in slopes] == [-0.49, -0.50]
assert [round(slopes[k][1], 2) for k in slopes] == [-0.97, -0.52]
assert all(0.39 < slopes[k][2] < 0.5 for k in slopes)   # Kolmogorov at most 1/2 of the bound
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
strides and dilations multiply later layers' contributions to the variance by $s^2$. A large
kernel of size $k$ adds $(k^2-1)/12$ at once. Residual blocks $y = x + F(x)$ mix short and long
paths (Veit et al. 2016): $n$ blocks expand into $\prod_b (\delta + K_{F_b})$, a mixture over the
number $j$ of bodies a path passes through. How the mass splits depends on the **gain** $m$ of a
body, the mass of its kernel ($\sum K_F$): $n$ identical blocks give the binomial
$\mathrm{Bin}(n, m/(1+m))$ over $j$. With $m = 1$ the typical path passes through half of the
bodies, with $m < 1$ the shortest paths dominate, and with $m \gg 1$ nearly all the mass takes
the longest path.
""",
    ),
    (
        "code",
        r"""
%matplotlib inline
import math
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
import erftheory as et
from erftheory.metrics import all_metrics
from erftheory.paths import path_lengths
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
rows, maps, results = [], {}, {}
for name, arch in designs.items():
    r = et.erf(arch, normalize="sum")
    m = all_metrics(r.values)
    maps[name], results[name] = r.values, r
    rows.append([name, r.receptive_field.size[0], f"{r.std[0]:.2f}",
                 f"{r.std[0] / r.receptive_field.size[0]:.3f}", m["area_ratio_raw_side"][2],
                 f"{m['effective_area']:.0f}"])
print(table(["design", "TRF", "ERF std", "std/TRF", "50% square side", "effective area"], rows))
""",
    ),
    (
        "md",
        r"""
All six maps (all-ones weights) on **one pixel scale**: every panel spans the same 63 x 63 pixels
around the output unit's centre, the dashed square is the theoretical field, and the colour is
the map to the power 1/4 (each panel scaled to its own peak) so that the faint tails show.
""",
    ),
    (
        "code",
        r"""
fig = Figure(figsize=(12, 8.4), layout="constrained")
half = 31                                   # the widest field, 61 pixels, fits in +-31
for ax, (name, values) in zip(fig.subplots(2, 3).ravel(), maps.items()):
    h = (values.shape[0] - 1) / 2           # pixel centres at -h ... h
    ax.imshow(values ** 0.25, cmap="magma", extent=(-h - 0.5, h + 0.5, h + 0.5, -h - 0.5),
              interpolation="nearest")
    ax.add_patch(Rectangle((-h - 0.5, -h - 0.5), 2 * h + 1, 2 * h + 1, fill=False,
                           edgecolor="0.7", linestyle="--"))
    ax.set_facecolor("black")
    ax.set(xlim=(-half - 0.5, half + 0.5), ylim=(half + 0.5, -half - 0.5),
           title=f"{name}: TRF {values.shape[0]}, std {results[name].std[0]:.2f}",
           xlabel="pixels from the centre")
fig
""",
    ),
    (
        "md",
        r"""
Read the panels from the same scale. Subsampling early multiplies every later layer's reach,
and so does dilation, at no cost in depth. A single large kernel adds as much variance as many
small layers. Mixing dilations 1, 2, 4, 8 gives the widest field of all.

Two panels have a texture, for two different reasons:

* **dilation 2**: the mass sits on a sublattice. Every other pixel on each axis is never used
  (the "gridding" artefact): a checkerboard of used and unused pixels. Mixing dilations 1, 2, 4, 8
  fills the lattice.
* **stride 2 first**: every pixel is used, but unevenly. The first layer's windows (3 wide,
  stride 2) overlap by one pixel, so every other input pixel is read by two windows and the rest
  by one. In 1-D the path counts are $(1 + x + x^2)\,P(x^2)$ with $P(y) = (1 + y + y^2)^7$ the
  seven later layers: an even position $2m$ gets $P_m + P_{m-1}$, an odd one $P_m$, so
  neighbouring pixels differ about 2:1 — and the centre pixel is one of the weak ones:
""",
    ),
    (
        "code",
        r"""
counts = et.erf("1d: conv3/s2, conv3*7").values
c = counts.size // 2
print("1-D counts around the centre:", counts[c - 3:c + 4].astype(int))
stride_map = maps["stride 2 first"]
k = stride_map.shape[0] // 2
print("2-D map around the centre, over the centre pixel:")
print(np.round(stride_map[k - 1:k + 2, k - 1:k + 2] / stride_map[k, k], 2))
""",
    ),
    (
        "md",
        r"""
In 2-D the two axes multiply: about 4 : 2 : 1 between pixels even on both axes, on one, and on
none (3.64 : 1.91 : 1 around the centre). The mixed-dilation panel has a milder texture of the
same kind: its counts are uneven too, neighbouring pixels near the centre differing by about
1.2 to 1.3 : 1.

## Residual blocks: when do short paths dominate?

The residual panel above is nearly as wide as a plain stack of the same nine convolutions, and
the reason is the gain. With all-ones weights each body (two 3x3 convs) has $9 \times 9 = 81$
paths against the identity's one, so the paths through all four bodies outnumber the single
path through none $81^4$ to 1: long paths carry almost all the mass. Veit et al.'s picture, a
binomial $\binom{n}{j}/2^n$ whose typical path passes through half of the bodies, is the case of
**unit-gain** bodies, bodies that pass as much gradient as the identity: for example random
weights of variance $1/9$ per tap (He initialisation does this with ReLU: variance $2/(9C)$ over
$C$ channels, halved by the gates), or normalised bodies. Bodies initialised small (a zero-initialised last
normalisation, as some training recipes do) push the mass further onto the identity. With random
weights the ERF is $\mathbb{E}[g^2]$ and a body's gain is the product of its convs' variance
sums, $(9v)^2$ for variance $v$ per tap:
""",
    ),
    (
        "code",
        r"""
res = designs["residual x4"]
plain9 = et.erf("conv3*9").std[0]


def shares(m, n=4):
    # share of the mass through j = 0..n bodies, for n blocks of body gain m
    return [math.comb(n, j) * m**j / (1 + m) ** n for j in range(n + 1)]


def per_tap(v):
    return lambda layer: np.full(layer.kernel, v)


cases = [
    ("all-ones weights (the figure)", 81, et.erf(res, normalize="sum")),
    ("random, variance 1 per tap", 81, et.erf(res, weights="random", normalize="sum")),
    ("random, variance 1/9 (unit gain)", 1, et.erf(res, weights="random", variance=per_tap(1 / 9))),
    ("random, variance 1/36 (gain 1/16)", 1 / 16,
     et.erf(res, weights="random", variance=per_tap(1 / 36))),
]
res_rows = [[name, f"{m:g}", " ".join(f"{s:.4f}" for s in shares(m)), f"{r.std[0]:.3f}",
             f"{r.std[0] / plain9 - 1:+.1%}"] for name, m, r in cases]
print(table(["weights", "body gain", "share through 0..4 bodies", "ERF std", "vs conv3*9"],
            res_rows))
print("plain conv3*9, any weights:", round(plain9, 3))
print("path_lengths, gain='ones':", [round(s, 4) for s in path_lengths(res, gain="ones")])
print("path_lengths, gain='unit':", [round(s, 4) for s in path_lengths(res, gain="unit")])
""",
    ),
    (
        "md",
        r"""
With all-ones weights (or unit-variance random weights, the same gain of 81) 95% of the mass flows
through all four bodies and the ERF is only 0.5% narrower than the plain stack (std 2.436 against
2.449). With unit-gain bodies the split is Veit et al.'s 1 : 4 : 6 : 4 : 1 over 16, the average
path passes through two of the four bodies, and the ERF is 25.5% narrower (std 1.826: variance
$2/3 + 2 \cdot 4/3 = 10/3$). With small bodies (gain 1/16) 78% of the mass takes the identity all
the way and the ERF shrinks towards that of the first conv alone (std 0.990 against 0.816). In a
plain stack the gain is one overall factor and cancels in the normalised ERF; in a residual
stack it sets the balance between the identity and the body, so **whether residual connections
narrow the ERF depends on how the bodies are scaled**.

## Exercises

1. Which design has the largest std/TRF, and why is that not the same as the largest ERF?
2. Show the gridding numerically: what fraction of the dilation-2 ERF's pixels are zero?
3. How many plain 3x3 layers give the same std as one 31x31 kernel? (Variances add.)
4. For the four residual blocks with body gain $m$, find $m$ at which the expected number of
   bodies on a path is 3 of 4.

## Solutions

<details>
<summary>Show the solutions (try the exercises first)</summary>

1. The large kernel: its TRF grows only by 30 but its variance by $(31^2-1)/12 = 80$; the
   widest ERF in pixels (dilations 1, 2, 4, 8) is a different question from the best use of the
   TRF.
2. Only the 17 even positions of the 33 per axis are ever used: $1 - (17/33)^2 \approx 73\%$ of
   the pixels are zero.
3. $n \cdot 8/12 = 80$ gives $n = 120$ layers.
4. The mean of $\mathrm{Bin}(4, m/(1+m))$ is $4m/(1+m) = 3$: $m = 3$, for example random weights
   of variance $\sqrt{3}/9 \approx 0.19$ per tap.

</details>
""",
    ),
    (
        "code",
        r"""
dil = maps["dilation 2"]
assert abs(np.mean(dil == 0) - (1 - (17 / 33) ** 2)) < 1e-12   # 17 of 33 positions per axis used
stds = {name: r.std[0] for name, r in results.items()}
assert stds["residual x4"] < et.erf("conv3*9").std[0]
assert stds["large kernel 31"] > stds["plain 3x3 x8"]
assert max(stds, key=stds.get) == "dilations 1,2,4,8 x2"
assert max(results, key=lambda n: stds[n] / results[n].receptive_field.size[0]) == "large kernel 31"
assert abs(et.erf("1d: conv3*120").std[0] - et.erf("1d: conv31").std[0]) < 1e-9
# the residual numbers of the text
assert np.allclose(path_lengths(res, gain="ones"), shares(81))
assert np.allclose(path_lengths(res, gain="unit"), shares(1))
assert [round(r.std[0], 3) for _, _, r in cases] == [2.436, 2.436, 1.826, 0.990]
assert round(plain9, 3) == 2.449 and round(et.erf("conv3").std[0], 3) == 0.816
assert round(shares(81)[-1], 3) == 0.952 and round(shares(1 / 16)[0], 2) == 0.78
assert abs(1.826 ** 2 - 10 / 3) < 2e-3
# the stride-2 checkerboard: neighbours about 2:1, the centre pixel a weak one
assert list(counts[c - 2:c + 3].astype(int)) == [357, 750, 393, 750, 357]
assert np.allclose(np.round(stride_map[k - 1:k + 2, k - 1:k + 2] / stride_map[k, k], 2),
                   [[3.64, 1.91, 3.64], [1.91, 1, 1.91], [3.64, 1.91, 3.64]])
mixed = et.erf("1d: (conv3, conv3/d2, conv3/d4, conv3/d8)*2").values
ratio = np.maximum(mixed[1:] / mixed[:-1], mixed[:-1] / mixed[1:])
ratio = ratio[mixed.size // 2 - 6:mixed.size // 2 + 6]
assert 1.15 < ratio.min() and ratio.max() < 1.35
assert abs(shares(3)[1] * 1 + 2 * shares(3)[2] + 3 * shares(3)[3] + 4 * shares(3)[4] - 3) < 1e-12
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
