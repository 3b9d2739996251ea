"""Critical values of numerical hierarchy settings (`predict --critical`, theory/hierarchy/
critical.py) against oracles that do not use critical.py:

- Theorem 3 (L = 2 Markov, σ1 fixed, Σ2 learnable), forced through the numerical path: z2 mode i
  collapses iff β2 η_dec² > max(β1 σ1², √β1 σ1 θ_i) (docs/theory.md §4a), so
  critical β2 = max(β1σ1², √β1σ1θ_i)/η_dec², critical η_dec = √(max(…)/β2) (collapsed above) and,
  solving the same inequality for β1, critical β1 = min(β2η_dec²/σ1², (β2η_dec²/(σ1θ_i))²)
  (collapsed below).
- β1 and η_dec of L = 2, 3 settings (Markov and ladder, fixed/learnable mixes): a brute-force
  scan — a log grid 5× finer than critical.py's, the global per-mode optimum at every point
  (one batched solve), the switch of each mode's top-level collapse judged directly from the
  solved weights (w_L = v_L = 0, σ_L = η_enc). The critical value must lie in the bracketing grid
  interval, and global solves (`solve_modes`) at value·(1 ∓ 1e-3) must fall on the two sides
  `critical_direction` says; no switch in the bracket ⇒ no value (or the bounded range's edge).
- The CLI: `--critical beta1` on a 3-level setting writes those values and null with a note.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from test_hierarchy import close, random_A, stats_of
from typer.testing import CliRunner

from vaecollapse.cli import app
from vaecollapse.theory import solve
from vaecollapse.theory.hierarchy.chain import solve_chain
from vaecollapse.theory.hierarchy.critical import critical_for
from vaecollapse.theory.hierarchy.optimum import solve_modes
from vaecollapse.theory.hierarchy.setting import boundedness, make_hierarchy

#: the documented scan bracket (docs/numerical-theory.md §5): ×/÷ 1e4 for a β, 1e2 for η_dec
FACTOR = {"beta1": 1e4, "eta_dec": 1e2}
PER_DECADE = 20  # brute-force grid density (critical.py scans 4 per decade)
TOL = 1e-6  # "exactly collapsed": |w_L|, |v_L| and |σ_L/η_enc − 1| relative to the scale


# ---------------------------------------------------------------- Theorem 3, closed form


@pytest.mark.parametrize("parameter", ["beta2", "eta_dec", "beta1"])
def test_theorem3_critical_values_by_the_numerical_path(parameter):
    rng = np.random.default_rng({"beta2": 80, "eta_dec": 81, "beta1": 82}[parameter])
    for _ in range(4):
        A, _ = random_A(rng, 5)
        st = stats_of(A)
        b1, b2 = rng.uniform(0.5, 2), rng.uniform(0.5, 2)
        ed, s1 = rng.uniform(0.3, 1), rng.uniform(0.2, 0.8)
        # per-level lists route to the numerical solver although a closed form exists
        pred = solve(st, 4, betas=[b1, b2], sigmas=[s1, None], eta_dec=ed, critical=parameter)
        assert pred.solver == "numerical"
        th = st.theta[:4]
        m = np.maximum(b1 * s1**2, np.sqrt(b1) * s1 * th)
        want, side = {
            "beta2": (m / ed**2, "above"),
            "eta_dec": (np.sqrt(m / b2), "above"),
            "beta1": (np.minimum(b2 * ed**2 / s1**2, (b2 * ed**2 / (s1 * th)) ** 2), "below"),
        }[parameter]
        close(pred.modes[f"critical_{parameter}"], want, 1e-7, f"critical {parameter}")
        assert list(pred.modes["critical_direction"]) == [side] * 4


# ---------------------------------------------------------------- brute force


def with_value(h, parameter, v):
    if parameter == "eta_dec":
        return replace(h, eta_dec=float(v))
    b = list(h.betas)
    b[int(parameter[4:]) - 1] = float(v)
    return replace(h, betas=tuple(b))


def top_collapsed_brute(theta, h, parameter, grid):
    """(n, G) top-level collapse of every mode at every grid value (None where unbounded), from
    one batched global per-mode solve, judged from the weights themselves."""
    n, G = theta.size, grid.size
    hs = [with_value(h, parameter, v) for v in grid]
    ok = np.array([boundedness(hv)[0] for hv in hs])
    g = np.flatnonzero(ok)
    th = np.repeat(theta, g.size)
    betas = np.tile(np.array([hs[j].betas for j in g]), (n, 1))
    ed = np.tile(np.array([hs[j].eta_dec for j in g]), n)
    ms = solve_chain(th, betas, h.sigmas, ladder=h.inference == "ladder", prior=h.eta_enc,
                     eta_dec=ed)
    scale = th + ed
    coll = ((np.abs(ms.w[:, -1]) <= TOL * scale) & (np.abs(ms.v[:, -1]) <= TOL * scale)
            & (np.abs(ms.sigma[:, -1] / h.eta_enc - 1) <= TOL))
    out = np.full((n, G), None, dtype=object)
    out[:, g] = coll.reshape(n, g.size)
    return out


def collapsed_at(st, h, parameter, modes, values):
    """Top-level collapse of mode modes[k] by a global solve (`solve_modes`) at values[k]; None
    where the loss is unbounded there (beyond an edge of the bounded range)."""
    out = []
    for i, v in zip(modes, values, strict=True):
        hv = with_value(h, parameter, v)
        out.append(solve_modes(st.theta, hv).table["collapsed"][i, -1]
                   if boundedness(hv)[0] else None)
    return out


# L, betas, sigmas, inference, latent sizes — switches in β1 and η_dec, collapse throughout,
# never, a bounded-range edge, a mode without a top coordinate
CASES = [
    (2, [1.0, 0.7], [None, 1.0], "markov", [3, 3]),   # σ2 = η_enc: critical β1 = β2 (docs §3)
    (2, [0.8, 0.6], [0.5, None], "ladder", [3, 3]),
    (2, [0.5, 1.0], [None, None], "markov", [3, 3]),  # collapsed up to the edge β1 = β2
    (3, [0.6, 1.0, 0.8], [None, 0.7, None], "markov", [3, 3, 2]),
    (3, [0.8, 0.6, 0.5], [0.5, 0.6, None], "markov", [3, 3, 3]),
    pytest.param((3, [0.8, 0.6, 0.5], [0.5, 0.6, None], "ladder", [3, 3, 3]),
                 marks=pytest.mark.slow),
    pytest.param((3, [0.7, 1.2, 0.5], [None, 0.6, 1.0], "ladder", [3, 3, 3]),  # top σ = η_enc
                 marks=pytest.mark.slow),
]


@pytest.mark.parametrize("parameter", ["beta1", "eta_dec"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"L{c[0]}-{c[3]}-{c[2]}")
def test_critical_value_brackets_the_brute_force_switch(case, parameter):
    L, b, s, inference, dims = case
    st = stats_of(random_A(np.random.default_rng(90 + L), 4)[0])
    h = make_hierarchy(L, b, dims, s, inference, 1.0, 0.8)
    crit = critical_for(solve_modes(st.theta, h), parameter)
    top = np.arange(h.dims[-1])  # modes with a top-level coordinate
    assert np.isnan(crit.value[h.dims[-1]:]).all() and not crit.direction[h.dims[-1]:].any()
    cur = h.eta_dec if parameter == "eta_dec" else h.betas[0]
    f = FACTOR[parameter]
    grid = np.geomspace(cur / f, cur * f, int(PER_DECADE * 2 * np.log10(f)) + 1)
    C = top_collapsed_brute(st.theta[top], h, parameter, grid)
    inside = np.flatnonzero(C[0] != None)  # noqa: E711 (object array)
    g, C = grid[inside], C[:, inside].astype(bool)
    lo_edge, hi_edge = inside[0] > 0, inside[-1] < grid.size - 1
    for i in top:
        flips = np.flatnonzero(C[i, 1:] != C[i, :-1])
        v, d = crit.value[i], int(crit.direction[i])
        if flips.size == 0:
            if C[i, 0] and lo_edge != hi_edge:  # collapsed up to where the loss turns unbounded
                assert d == (1 if lo_edge else -1), (i, d)
                # the edge lies between the last bounded and the first unbounded grid point
                a, z = (grid[inside[0] - 1], g[0]) if lo_edge else (g[-1], grid[inside[-1] + 1])
                assert a <= v <= z, (i, a, v, z)
            else:
                assert np.isnan(v) and d == 0, (i, v, d, crit.notes)
                assert any("no critical value" in n for n in crit.notes)
            continue
        assert flips.size == 1, f"mode {i}: collapse switches {flips.size} times along the grid"
        j = flips[0]
        assert g[j] <= v <= g[j + 1], (i, g[j], v, g[j + 1])
        assert d == (1 if C[i, j + 1] else -1), (i, d)
    finite = np.flatnonzero(np.isfinite(crit.value))
    if finite.size:  # global solves just either side of each value
        v, d = crit.value[finite], crit.direction[finite]
        for factor, want in ((1 + 1e-3, d == 1), (1 - 1e-3, d == -1)):
            got = collapsed_at(st, h, parameter, finite, v * factor)
            assert all(g is None or g == w for g, w in zip(got, want, strict=True)), (factor, got)


# ---------------------------------------------------------------- the CLI


def test_cli_critical_beta1_three_levels(tmp_path):
    """`predict --levels 3 --critical beta1`: finite values, in the brute-force bracket, where the
    brute force finds a switch; null with a note for the mode with no z3 coordinate."""
    rng = np.random.default_rng(95)
    x = rng.normal(size=(400, 4)) * np.array([0.9, 0.5, 0.3, 0.15])
    path, js = tmp_path / "x.npz", tmp_path / "p.json"
    np.savez(path, x=x.astype(np.float32))
    args = ["predict", "--model", "mhvae", "--data", f"npz:{path}", "--levels", "3",
            "--betas", "0.8,0.6,0.5", "--sigmas", "0.5,0.6,learn", "--latent-dims", "3,3,2",
            "--eta-dec", "0.8", "--critical", "beta1", "--json", str(js)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(js.read_text())
    crit = [m["critical_beta1"] for m in doc["modes"]]
    assert crit[2] is None and doc["modes"][2]["critical_direction"] is None
    assert any("no z3 coordinate" in n for n in doc["notes"])
    # the oracle: θ = √eig E[xxᵀ] of the same float32 data, brute force on a fine grid
    xs = x.astype(np.float32).astype(np.float64)
    theta = np.sqrt(np.sort(np.linalg.eigvalsh(xs.T @ xs / len(xs)))[::-1])
    h = make_hierarchy(3, [0.8, 0.6, 0.5], [3, 3, 2], [0.5, 0.6, None], "markov", 1.0, 0.8)
    grid = np.geomspace(0.8e-4, 0.8e4, 8 * PER_DECADE + 1)
    C = top_collapsed_brute(theta[:2], h, "beta1", grid).astype(bool)
    for i in range(2):
        (j,) = np.flatnonzero(C[i, 1:] != C[i, :-1])
        assert grid[j] <= crit[i] <= grid[j + 1], (i, grid[j], crit[i], grid[j + 1])
        want = "above" if C[i, j + 1] else "below"
        assert doc["modes"][i]["critical_direction"] == want
