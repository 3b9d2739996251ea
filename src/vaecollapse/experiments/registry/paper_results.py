"""The paper's results, one declarative entry each (docs/experiments.md describes them): its
figures, its appendix tables and the verification of its theorems.

Each :class:`~vaecollapse.experiments.definition.Experiment` names its data and model (shared `train`
options), the series of runs (one swept parameter per series, or a β1 × β2 grid), the paper's
claim and the callable that judges it (``check``), the analysis that draws its figures, the
seeds per grid point, and its minutes per profile on 2 CPU cores. Profiles: ``quick`` (the
embedded MNIST, reduced epochs) and ``paper`` (the paper's settings; point ``mnist:root=DIR`` at
the full data with ``--data-root``). Quick minutes were measured on 2 CPU cores from a fresh
clone (3 seeds per grid point; the whole quick suite: just under an hour); paper minutes are
estimated from them by ``benchmarks/paper_times.py`` (measured epochs scaled to the full data
and the paper's epochs, plus timed importance sampling; see
``benchmarks/RESULTS-paper-times.md``).

Non-linear experiments follow the paper's **nominal β**: its non-linear scripts minimised
‖y − μ‖²/η_dec² + β·KL, so the true β-ELBO weight is nominal / 2 (β, β1 and β2 alike). Entries
list nominal values; the runner trains with half of them and labels the axes with the nominal
value, saying so. Linear models always use the true β (the paper's linear scripts minimised the
theory's objective exactly).
"""

from __future__ import annotations

from vaecollapse.experiments.analyses import curves, grid, linear_sweep, verify
from vaecollapse.experiments.claims import (
    KL,
    ArmComparison,
    agrees_with_closed_form,
    collapsed_counts_match,
    decreasing,
    first_more,
    increasing,
    kl_and_units_decreasing,
    kl_and_units_increasing,
    kl_decreasing,
    recon_rises_with_beta2_falls_with_beta1,
    second_more_burda,
    tracks,
    z2_rises_with_beta2_falls_with_beta1,
)
from vaecollapse.experiments.definition import Experiment, Series
from vaecollapse.experiments.registry.shared_settings import (
    ENCODER_VARIANCE,
    EVAL_PAPER,
    EVAL_QUICK,
    FIG2B_SERIES,
    LINEAR,
    RELU_CVAE,
    RELU_MHVAE,
)

PAPER_RESULTS: list[Experiment] = [
    Experiment(
        name="fig2a", title="Fig. 2a: learnable vs unlearnable encoder variance (linear VAE)",
        claim="with a learnable Σ more latent dimensions collapse than with a fixed Σ "
              "(σ ≠ η_enc), which keeps every posterior away from the prior",
        check=first_more, analysis=curves,
        second_check=collapsed_counts_match, second_role="paper",
        measured_claim="each arm's (ε,δ)-collapsed dimensions at ε = 8e-5 equal the closed form's "
                       "collapsed modes (the paper reports 3 of 5 with a learnable Σ and none "
                       "with Σ = I)",
        base={"model": "vae", **LINEAR, "data": "mnist", "latent_dim": 5, "beta": 1.0,
              "eta_enc": 0.5, "eta_dec": 3.5},
        series=(Series(label=ENCODER_VARIANCE, param="sigma", values=(None, 1.0)),),
        quick={"epochs": 40, **EVAL_QUICK}, paper={"epochs": 100, **EVAL_PAPER},
        minutes={"quick": 0.3, "paper": 52}, epsilon=8e-5,
        note="η_enc = 0.5, η_dec = 3.5 (the paper does not give them): the theory then predicts "
             "4 of 5 collapsed dimensions with a learnable Σ (the paper saw 3; the MNIST "
             "spectrum has no comfortable gap for exactly 3) and none with Σ = I, since σ = 1 ≠ "
             "η_enc. Active modes count only the means: with σ = 1 the encoder is rank-deficient "
             "wherever θ_i < √β c σ (Theorem 1; all 5 modes here), yet every posterior keeps a "
             "constant KL > 0, so none collapses in the (ε,δ) sense"),
    Experiment(
        name="fig2b", title="Fig. 2b: (ε,δ)-collapse of the ReLU CVAE against β and η_dec",
        claim="larger β or η_dec ⇒ more collapsed latent dimensions",
        check=increasing, analysis=curves,
        base={**RELU_CVAE, "eta_enc": 1.0}, series=FIG2B_SERIES,
        quick={"epochs": 40, **EVAL_QUICK}, paper={"epochs": 100, **EVAL_PAPER},
        minutes={"quick": 0.9, "paper": 174}, nominal_beta=True),
    Experiment(
        name="fig2c", title="Fig. 2c: (ε,δ)-collapse of z2 in the ReLU MHVAE against β1, β2 and η",
        claim="larger β2 or η ⇒ more collapse of z2; larger β1 mitigates it",
        check=increasing, analysis=curves, base=RELU_MHVAE,
        series=(Series(label="β2 (β1 = 1)", param="beta2", values=(0.1, 0.5, 1.0, 2.0),
                       options={"beta1": 1.0}),
                Series(label="β1 (β2 = 1)", param="beta1", values=(0.1, 0.5, 1.0, 2.0),
                       options={"beta2": 1.0}, direction=-1),
                Series(label="η = η_enc = η_dec", param="eta", values=(0.25, 0.5, 1.0, 2.0),
                       options={"beta1": 1.0, "beta2": 1.0})),
        quick={"epochs": 25, **EVAL_QUICK}, paper={"epochs": 100, **EVAL_PAPER},
        minutes={"quick": 4.7, "paper": 660}, nominal_beta=True),
    Experiment(
        name="fig3a", title="Fig. 3a: collapse against the x–y correlation, one digit at a time (CVAE)",
        claim="digits with smaller θ(E) (1 < 9 < 7) have more collapsed dimensions",
        check=decreasing, analysis=curves,
        base={"model": "cvae", "latent_dim": 16, "eta_enc": 0.5, "eta_dec": 0.5, "beta": 1.0,
              "batch_size": 128, "lr": 1e-3},
        series=(Series(label="linear", param="digit", values=(1, 9, 7), options={**LINEAR},
                       quick={"epochs": 300}),
                Series(label="ReLU (hidden 100)", param="digit", values=(1, 9, 7),
                       options={"backbone": "mlp", "hidden": "100"}),
                Series(label="CNN", param="digit", values=(1, 9, 7), options={"backbone": "cnn"})),
        quick={"epochs": 60, **EVAL_QUICK}, paper={"epochs": 100, **EVAL_PAPER},
        minutes={"quick": 3.6, "paper": 210}, nominal_beta=True,
        data_template="mnist:digit={digit},split=quarter",
        note="digits are ordered 1, 9, 7 (smallest θ(E) first): the collapsed count should "
             "decrease along that order; quick: the linear CVAE trains 300 epochs (a digit is "
             "~1,000 images, 8 steps an epoch: at 60 epochs its near-critical modes had not "
             "grown yet). Its runs do not pass the convergence gate at any affordable budget "
             "(digit 9: exact-loss gap 1.05 / 0.42 / 0.27 nats per point at 300 / 1,200 / 3,000 "
             "epochs; gate 0.01), so the claim, which includes the linear series, is undecided "
             "in the quick profile"),
    Experiment(
        name="fig4", title="Fig. 3b/4: reconstructions of the ReLU MHVAE over a β1 × β2 grid",
        claim="smaller β2 ⇒ less collapse and better reconstructions; smaller β1 the reverse",
        check=z2_rises_with_beta2_falls_with_beta1, analysis=grid, base=RELU_MHVAE,
        second_check=recon_rises_with_beta2_falls_with_beta1, second_role="paper",
        measured_claim="smaller β2 ⇒ better reconstructions (lower error); smaller β1 the "
                       "reverse",
        quick={"epochs": 20, **EVAL_QUICK, "grid": (0.1, 1.0, 4.0)},
        paper={"epochs": 100, **EVAL_PAPER, "grid": (0.1, 1.0, 2.0, 4.0, 6.0)},
        minutes={"quick": 2.2, "paper": 1176}, nominal_beta=True),
    Experiment(
        name="cnn-mhvae-grid", title="CNN MHVAE reconstructions over a β1 × β2 grid",
        claim="as Fig. 4: larger β2 ⇒ more collapse of z2, larger β1 ⇒ less",
        check=z2_rises_with_beta2_falls_with_beta1, analysis=grid,
        second_check=recon_rises_with_beta2_falls_with_beta1, second_role="paper",
        measured_claim="as Fig. 4: smaller β2 ⇒ better reconstructions, smaller β1 the reverse",
        base={**RELU_MHVAE, "backbone": "cnn"},
        quick={"epochs": 15, "data": "mnist:n=2000", **EVAL_QUICK, "diagnostics_is_samples": 0,
               "grid": (1.0, 4.0, 16.0)},
        paper={"epochs": 100, **EVAL_PAPER, "grid": (1.0, 2.0, 4.0, 8.0, 16.0)},
        minutes={"quick": 9.1, "paper": 56226}, nominal_beta=True, decide_epochs=10,
        seeds={"quick": 2, "paper": 5},
        note="quick: 2,000 digits, 15 epochs, no likelihood (the grid does not use it)"),
    Experiment(
        name="fig5", title="Fig. 5: ResNet-18 VAE, learnable vs fixed encoder variance",
        claim="with a learnable Σ more latent dimensions collapse than with Σ = I (the paper: "
              "most at small ε, against none)",
        check=first_more, analysis=curves,
        base={"model": "vae", "backbone": "resnet18", "latent_dim": 16, "eta_enc": 1.0,
              "eta_dec": 1.0, "beta": 1.0, "data": "mnist", "lr": 1e-3, "batch_size": 128},
        series=(Series(label=ENCODER_VARIANCE, param="sigma", values=(None, 1.0)),),
        quick={"epochs": 4, "data": "mnist:n=128", "batch_size": 32, "eval_points": 128,
               "diagnostics_is_samples": 0},
        paper={"epochs": 100, **EVAL_PAPER}, minutes={"quick": 1.5, "paper": 126768},
        nominal_beta=True, delta=0.01, decide_epochs=20, seeds={"quick": 2, "paper": 5},
        note="quick: a smoke run of the pipeline on 128 digits, 4 epochs (16 steps) and 2 "
             "seeds, too small to decide (cut from 256 digits and 10 epochs, equally undecided, to "
             "pay for the linear experiments' convergence-gated epochs). Measured at 20 epochs "
             "(2 seeds, 20 min on 2 cores): "
             "the learnable Σ collapsed 0.225 of the (ε,δ) curve against 0.199, exact p = 0.33. "
             "The paper's 'most dimensions collapse at small ε' needs its 100 epochs on 60,000 "
             "digits (the paper profile, on a GPU)"),
    Experiment(
        name="table-vae", title="Appendix table: ReLU VAE with learnable vs fixed encoder variance",
        claim="a fixed Σ keeps more active units than a learnable one (Burda's AU; the paper's "
              "KL-fraction AU is reported, not judged: a fixed σ ≠ η_enc makes it 1 by design)",
        check=second_more_burda, analysis=curves,
        base={"model": "vae", "backbone": "mlp", "hidden": "256", "latent_dim": 16,
              "data": "mnist", "lr": 1e-4, "batch_size": 128, "eta_enc": 1.0, "eta_dec": 2.0,
              "beta": 1.0},
        series=(Series(label=ENCODER_VARIANCE, param="sigma", values=(None, 0.5)),),
        quick={"epochs": 15, "lr": 1e-3, **EVAL_QUICK},
        paper={"epochs": 100, "eval_points": 10000, "diagnostics_is_samples": 10000},
        minutes={"quick": 0.4, "paper": 324}, nominal_beta=True, test_eval=True,
        note="η_dec = 2 (the paper does not give it) puts the model in a collapsing regime, "
             "where the learnable and fixed encoder variances differ"),
    Experiment(
        name="table-cvae",
        title="Appendix table: NLL, KL and active units of ReLU CVAEs (Fig. 2b grid)",
        claim="larger β or η_dec ⇒ lower KL and fewer active units (Burda's)",
        check=kl_and_units_decreasing, analysis=curves,
        base={**RELU_CVAE, "eta_enc": 1.0}, series=FIG2B_SERIES,
        quick={"epochs": 40, **EVAL_QUICK}, paper={"epochs": 100, **EVAL_PAPER},
        minutes={"quick": 0.9, "paper": 138}, nominal_beta=True, test_eval=True),
    Experiment(
        name="table-mhvae", title="Appendix table: NLL, KL and active units of ReLU MHVAEs",
        claim="larger β2 ⇒ lower KL of z2 (more collapse); larger β1 ⇒ higher (the η_enc series "
              "is reported, not part of the claim: η_enc enters no collapse threshold)",
        check=kl_decreasing, analysis=curves, base=RELU_MHVAE,
        series=(Series(label="β2 (β1 = 1)", param="beta2", values=(0.25, 0.5, 1.0, 2.0, 3.0),
                       options={"beta1": 1.0}),
                Series(label="β1 (β2 = 1)", param="beta1", values=(0.25, 0.5, 1.0, 2.0, 3.0),
                       options={"beta2": 1.0}, direction=-1),
                Series(label="η_enc (β1 = β2 = 1)", param="eta_enc",
                       values=(0.25, 0.5, 0.7, 1.0, 2.0), options={"beta1": 1.0, "beta2": 1.0},
                       checked=False)),
        quick={"epochs": 20, **EVAL_QUICK}, paper={"epochs": 100, **EVAL_PAPER},
        minutes={"quick": 3.8, "paper": 660}, nominal_beta=True, test_eval=True),
    Experiment(
        name="synthetic-correlation",
        title="Synthetic data: x–y correlation against collapse (ReLU CVAE)",
        claim="more correlation between x and y ⇒ more collapse (lower KL, fewer active units)",
        check=kl_and_units_increasing, analysis=curves,
        second_check=ArmComparison("quadratic_lower_kl", KL, 1, series="dependence"),
        second_role="beyond",
        measured_claim="y² − 1 = x, a dependence with no linear correlation, collapses more than "
                       "an independent x (lower KL) — which the linear theory, seeing no "
                       "correlation, does not predict",
        base={"model": "cvae", "backbone": "mlp", "hidden": "128", "latent_dim": 128,
              "eta_enc": 1.0, "eta_dec": 0.5, "beta": 1.0, "batch_size": 16, "lr": 1e-3},
        series=(Series(label="correlation", param="corr",
                       values=("identical", "gaussian-0.5", "gaussian-0.25", "gaussian-0.125",
                               "random")),
                Series(label="dependence", param="corr", values=("quadratic", "random"),
                       checked=False)),
        quick={"epochs": 20, "batch_size": 64, **EVAL_QUICK},
        paper={"epochs": 1000, **EVAL_PAPER}, minutes={"quick": 0.3, "paper": 126},
        nominal_beta=True, data_template="synthetic:corr={corr},n=1000,dim=128,seed=0"),
    Experiment(
        name="linear-cvae-beta", title="Active modes of the linear CVAE against β (Theorem 2)",
        claim="the measured number of active modes tracks the Theorem 2 prediction",
        check=tracks, analysis=linear_sweep,
        base={"model": "cvae", **LINEAR, "data": "mnist:split=quarter", "latent_dim": 64,
              "eta_enc": 1.0, "eta_dec": 1.0},
        series=(Series(label="β", param="beta", values=(0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0)),),
        quick={"epochs": 360, **EVAL_QUICK, "diagnostics_is_samples": 0},
        paper={"epochs": 100, "lr": 1e-4, "schedule": "constant", **EVAL_PAPER},
        minutes={"quick": 17.9, "paper": 210},
        note="quick: 360 epochs, raised behind the convergence gate (the worst run's exact-loss "
             "gap to the optimum, β = 0.1: 0.10 / 0.022 / 0.0068 nats per point at 40 / 120 / 360 "
             "epochs; gate 0.01)"),
    Experiment(
        name="linear-mhvae-beta2", title="Active modes of the linear MHVAE against β2 (Theorem 3)",
        claim="the measured number of active z2 modes tracks the Theorem 3 prediction",
        check=tracks, analysis=linear_sweep,
        base={"model": "mhvae", **LINEAR, "data": "mnist", "latent_dim": 10, "sigma1": 0.5,
              "eta_enc": 0.5, "eta_dec": 0.5, "beta1": 1.0},
        series=(Series(label="β2", param="beta2", values=(0.1, 0.5, 1.0, 2.0, 3.0, 5.0, 7.0)),),
        quick={"epochs": 40, **EVAL_QUICK, "diagnostics_is_samples": 0},
        paper={"epochs": 100, **EVAL_PAPER}, minutes={"quick": 1.1, "paper": 77},
        note="the runs do not pass the convergence gate in the quick profile (β2 = 0.1: exact-loss "
             "gap 1.14 / 0.48 / 0.29 / 0.17 nats per point at 40 / 120 / 360 / 1,200 epochs; gate "
             "0.01): the tracking claim is undecided there, however well the counts match"),
]

# one per theorem: the linear model (base options) whose closed form is verified
THEOREMS = {
    1: {"model": "vae", **LINEAR, "data": "mnist", "latent_dim": 8, "beta": 1.0, "eta_enc": 1.0,
        "eta_dec": 3.2, "sigma": 0.5},
    2: {"model": "cvae", **LINEAR, "data": "mnist:split=quarter", "latent_dim": 8, "beta": 1.0,
        "eta_enc": 1.0, "eta_dec": 1.14},
    3: {"model": "mhvae", **LINEAR, "data": "mnist", "latent_dim": 8, "sigma1": 0.5, "beta1": 1.0,
        "beta2": 6.0, "eta_enc": 0.5, "eta_dec": 0.5},
    5: {"model": "mhvae", **LINEAR, "data": "mnist", "latent_dim": 8, "sigma1": 0.5, "sigma2": 0.5,
        "beta1": 1.0, "beta2": 6.0, "eta_enc": 0.5, "eta_dec": 0.5},
}
# Quick epochs per theorem, raised behind the convergence gate (experiments/convergence.py): the
# exact-loss gap of the trained run to the optimum, measured at 40 / 120 / 360 / 1200 epochs —
# Theorem 1: 0.002 at 40; Theorem 2: 0.030 / 0.0046; Theorems 3 and 5: 0.062 / 0.036 / 0.018 /
# 0.008 and 0.072 / 0.040 / 0.020 / 0.0089 nats per point (gate 0.01).
THEOREM_QUICK_EPOCHS = {1: 40, 2: 120, 3: 1200, 5: 1200}
PAPER_RESULTS += [
    Experiment(
        name=f"verify-thm{k}",
        title=f"Theorem {k}: closed form vs numerical minimisation and SGD training",
        claim="a linear model trained by SGD approaches the closed form (relative mean "
              "absolute error of λ, ω, σ below 0.1, on a converged run)",
        measured_claim="the closed form agrees with the numerical minimiser of the exact loss "
                       "(a property of the theory)",
        check=agrees_with_closed_form, analysis=verify, base=base,
        quick={"epochs": THEOREM_QUICK_EPOCHS[k], "instances": 20, **EVAL_QUICK,
               "diagnostics_is_samples": 0},
        paper={"epochs": 100, "instances": 100, **EVAL_PAPER},
        minutes={"quick": {1: 0.1, 2: 0.4, 3: 2.8, 5: 2.8}[k], "paper": 5},
        seeds={"quick": 1, "paper": 1})
    for k, base in THEOREMS.items()]
