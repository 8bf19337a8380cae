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

Solutions are at the end of the notebook.
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

1. $5 \times 5 = 25$ paths to the centre (5 per axis), 1 to the corner; the grid is the outer
   product of `[1, 2, 3, 4, 5, 4, 3, 2, 1]` with itself.
2. Every position $0 \dots 26$ is written in exactly one way as $a + 3b + 9c$ with digits
   $a, b, c \in \{0, 1, 2\}$ (base 3), so every count is 1: 27 ones, no bell at all.
3. `[1, 1, 2, 1, 2, 1, 1]`: positions 2 and 4 are reached through two different strided taps. The
   stride leaves a periodic pattern in the counts, a mild form of the "gridding" of dilated nets.
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

LESSONS = {"01_counting_paths": LESSON_1}
