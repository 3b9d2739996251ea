"""The paper's results as small declarative entries (docs/experiments.md describes each one).

Each :class:`~vaecollapse.experiments.spec.Experiment` names its data and model (shared `train`
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

from vaecollapse.experiments.analyses import curves, depth, grid, linear_sweep, verify
from vaecollapse.experiments.claims import (
    agrees_with_closed_form,
    decreasing,
    first_collapses_more,
    first_more,
    increasing,
    inference_agrees,
    kl_decreasing,
    kl_increasing,
    second_more_au,
    tracks,
    z2_rises_with_beta2_falls_with_beta1,
)
from vaecollapse.experiments.mitigations import (
    advise_check,
    annealing,
    free_bits,
    mitigation,
    separate_maps,
)
from vaecollapse.experiments.spec import PROFILES, SEEDS, Experiment, Series, Variant

__all__ = ["EXPERIMENTS", "PROFILES", "REGISTRY", "SEEDS", "Experiment", "Series", "Variant"]

EVAL_QUICK = {"eval_points": 1000, "diagnostics_is_samples": 50}
EVAL_PAPER = {"eval_points": 10000, "diagnostics_is_samples": 1000}
RELU_CVAE = {"model": "cvae", "backbone": "mlp", "hidden": "16", "latent_dim": 16,
             "data": "mnist:split=quarter", "lr": 1e-3, "clip": 0.01, "batch_size": 128}
RELU_MHVAE = {"model": "mhvae", "backbone": "mlp", "hidden": "256", "latent_dim": 16,
              "data": "mnist", "lr": 1e-3, "clip": 0.1, "batch_size": 128, "sigma1": 0.5,
              "eta_enc": 0.5, "eta_dec": 0.5}
# the Fig. 2b grid, shared by fig2b and table-cvae
FIG2B_SERIES = (Series(label="β (η_dec = 1)", param="beta", values=(0.1, 0.5, 1.0, 2.0),
                       options={"eta_dec": 1.0}),
                Series(label="η_dec (β = 1)", param="eta_dec", values=(0.25, 0.5, 1.0, 2.0),
                       options={"beta": 1.0}))
LINEAR = {"backbone": "linear", "lr": 0.01, "schedule": "cosine", "batch_size": 128}
ENCODER_VARIANCE = "encoder variance"  # a learnable σ (None) against a fixed one

EXPERIMENTS: list[Experiment] = [
    Experiment(
        name="fig2a", title="Fig. 2a: learnable vs unlearnable encoder variance (linear VAE)",
        claim="with a learnable Σ more latent dimensions collapse than with a fixed Σ "
              "(σ ≠ η_enc), which keeps every posterior away from the prior",
        check=first_more, analysis=curves,
        base={"model": "vae", **LINEAR, "data": "mnist", "latent_dim": 5, "beta": 1.0,
              "eta_enc": 0.5, "eta_dec": 3.5},
        series=(Series(label=ENCODER_VARIANCE, param="sigma", values=(None, 1.0)),),
        quick={"epochs": 40, **EVAL_QUICK}, paper={"epochs": 100, **EVAL_PAPER},
        minutes={"quick": 1.6, "paper": 52}, epsilon=8e-5,
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
        minutes={"quick": 3.0, "paper": 174}, nominal_beta=True),
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
        minutes={"quick": 6.3, "paper": 660}, nominal_beta=True),
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
        minutes={"quick": 5.8, "paper": 210}, nominal_beta=True,
        data_template="mnist:digit={digit},split=quarter",
        note="digits are ordered 1, 9, 7 (smallest θ(E) first): the collapsed count should "
             "decrease along that order; quick: the linear CVAE trains 300 epochs (a digit is "
             "~1,000 images, 8 steps an epoch: at 60 epochs its near-critical modes had not "
             "grown yet)"),
    Experiment(
        name="fig4", title="Fig. 3b/4: reconstructions of the ReLU MHVAE over a β1 × β2 grid",
        claim="smaller β2 ⇒ less collapse and better reconstructions; smaller β1 the reverse",
        check=z2_rises_with_beta2_falls_with_beta1, analysis=grid, base=RELU_MHVAE,
        quick={"epochs": 20, **EVAL_QUICK, "grid": (0.1, 1.0, 4.0)},
        paper={"epochs": 100, **EVAL_PAPER, "grid": (0.1, 1.0, 2.0, 4.0, 6.0)},
        minutes={"quick": 3.9, "paper": 1176}, nominal_beta=True),
    Experiment(
        name="cnn-mhvae-grid", title="CNN MHVAE reconstructions over a β1 × β2 grid",
        claim="as Fig. 4: larger β2 ⇒ more collapse of z2, larger β1 ⇒ less",
        check=z2_rises_with_beta2_falls_with_beta1, analysis=grid,
        base={**RELU_MHVAE, "backbone": "cnn"},
        quick={"epochs": 15, "data": "mnist:n=2000", **EVAL_QUICK, "diagnostics_is_samples": 0,
               "grid": (1.0, 4.0, 16.0)},
        paper={"epochs": 100, **EVAL_PAPER, "grid": (1.0, 2.0, 4.0, 8.0, 16.0)},
        minutes={"quick": 10.3, "paper": 56226}, nominal_beta=True, decide_epochs=10,
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
        quick={"epochs": 10, "data": "mnist:n=256", "batch_size": 32, "eval_points": 256,
               "diagnostics_is_samples": 0},
        paper={"epochs": 100, **EVAL_PAPER}, minutes={"quick": 10.6, "paper": 126768},
        nominal_beta=True, delta=0.01, decide_epochs=20, seeds={"quick": 2, "paper": 5},
        note="quick: a smoke run of the pipeline on 256 digits, 10 epochs (80 steps) and 2 "
             "seeds, too small to decide. Measured at 20 epochs (2 seeds, 20 min on 2 cores): "
             "the learnable Σ collapsed 0.225 of the (ε,δ) curve against 0.199, exact p = 0.33. "
             "The paper's 'most dimensions collapse at small ε' needs its 100 epochs on 60,000 "
             "digits (the paper profile, on a GPU)"),
    Experiment(
        name="table-vae", title="Appendix table: ReLU VAE with learnable vs fixed encoder variance",
        claim="a fixed Σ keeps more active units (the paper's KL-fraction AU) than a learnable one",
        check=second_more_au, analysis=curves,
        base={"model": "vae", "backbone": "mlp", "hidden": "256", "latent_dim": 16,
              "data": "mnist", "lr": 1e-4, "batch_size": 128, "eta_enc": 1.0, "eta_dec": 2.0,
              "beta": 1.0},
        series=(Series(label=ENCODER_VARIANCE, param="sigma", values=(None, 0.5)),),
        quick={"epochs": 15, "lr": 1e-3, **EVAL_QUICK},
        paper={"epochs": 100, "eval_points": 10000, "diagnostics_is_samples": 10000},
        minutes={"quick": 0.6, "paper": 324}, nominal_beta=True, test_eval=True,
        note="η_dec = 2 (the paper does not give it) puts the model in a collapsing regime, "
             "where the learnable and fixed encoder variances differ"),
    Experiment(
        name="table-cvae",
        title="Appendix table: NLL, KL and active units of ReLU CVAEs (Fig. 2b grid)",
        claim="larger β or η_dec ⇒ lower KL and fewer active units",
        check=kl_decreasing, analysis=curves,
        base={**RELU_CVAE, "eta_enc": 1.0}, series=FIG2B_SERIES,
        quick={"epochs": 40, **EVAL_QUICK}, paper={"epochs": 100, **EVAL_PAPER},
        minutes={"quick": 2.6, "paper": 138}, nominal_beta=True, test_eval=True),
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
        minutes={"quick": 6.5, "paper": 660}, nominal_beta=True, test_eval=True),
    Experiment(
        name="synthetic-correlation",
        title="Synthetic data: x–y correlation against collapse (ReLU CVAE)",
        claim="more correlation between x and y ⇒ more collapse (lower KL)",
        check=kl_increasing, analysis=curves,
        base={"model": "cvae", "backbone": "mlp", "hidden": "128", "latent_dim": 128,
              "eta_enc": 1.0, "eta_dec": 0.5, "beta": 1.0, "batch_size": 16, "lr": 1e-3},
        series=(Series(label="correlation", param="corr",
                       values=("identical", "gaussian-0.5", "gaussian-0.25", "gaussian-0.125",
                               "random")),),
        quick={"epochs": 20, "batch_size": 64, **EVAL_QUICK},
        paper={"epochs": 1000, **EVAL_PAPER}, minutes={"quick": 0.5, "paper": 126},
        nominal_beta=True, data_template="synthetic:corr={corr},n=1000,dim=128,seed=0"),
    Experiment(
        name="linear-cvae-beta", title="Active modes of the linear CVAE against β (Theorem 2)",
        claim="the measured number of active modes tracks the Theorem 2 prediction",
        check=tracks, analysis=linear_sweep,
        base={"model": "cvae", **LINEAR, "data": "mnist:split=quarter", "latent_dim": 64,
              "eta_enc": 1.0, "eta_dec": 1.0},
        series=(Series(label="β", param="beta", values=(0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0)),),
        quick={"epochs": 40, **EVAL_QUICK, "diagnostics_is_samples": 0},
        paper={"epochs": 100, "lr": 1e-4, "schedule": "constant", **EVAL_PAPER},
        minutes={"quick": 4.2, "paper": 210}),
    Experiment(
        name="linear-mhvae-beta2", title="Active modes of the linear MHVAE against β2 (Theorem 3)",
        claim="the measured number of active z2 modes tracks the Theorem 3 prediction",
        check=tracks, analysis=linear_sweep,
        base={"model": "mhvae", **LINEAR, "data": "mnist", "latent_dim": 10, "sigma1": 0.5,
              "eta_enc": 0.5, "eta_dec": 0.5, "beta1": 1.0},
        series=(Series(label="β2", param="beta2", values=(0.1, 0.5, 1.0, 2.0, 3.0, 5.0, 7.0)),),
        quick={"epochs": 40, **EVAL_QUICK, "diagnostics_is_samples": 0},
        paper={"epochs": 100, **EVAL_PAPER}, minutes={"quick": 2.0, "paper": 77}),
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
EXPERIMENTS += [
    Experiment(
        name=f"verify-thm{k}",
        title=f"Theorem {k}: closed form vs numerical minimisation and SGD training",
        claim="the closed form agrees with the numerical minimiser of the exact loss, and a "
              "linear model trained by SGD approaches it (mean absolute error → 0)",
        check=agrees_with_closed_form, analysis=verify, base=base,
        quick={"epochs": 40, "instances": 20, **EVAL_QUICK, "diagnostics_is_samples": 0},
        paper={"epochs": 100, "instances": 100, **EVAL_PAPER}, minutes={"quick": 0.3, "paper": 5},
        seeds={"quick": 1, "paper": 1})
    for k, base in THEOREMS.items()]

# ------------------------------------------------------------------------------ remedies (issue 14)
# Series are labelled "MODEL · SETTING" (vaecollapse.experiments.mitigations). The linear VAE sits
# where the MNIST spectrum has a wide gap (θ_1² = 38.4, θ_2² = 4.4 on 2,000 digits: with
# βη_dec² = 12.25 one mode lives), so the runs test where training ends, not how slowly a
# near-critical mode settles; the ReLU CVAE is Fig. 2b's at β = 1 (true β-ELBO weight).
# The linear claims are about where training ends, so the linear VAE trains to convergence in
# every profile: 160 epochs (2,560 steps), where every run is within CONVERGED_GAP nats per point
# of the closed-form optimum's exact loss (at 40 epochs: up to 0.08 at η_dec = 3.5 and 0.22 at
# η_dec = 2; the analyses check the gap and leave the claim undecided above it).
REMEDY_LINEAR_EPOCHS = 160
REMEDY_LINEAR_VAE = {"model": "vae", **LINEAR, "data": "mnist:n=2000", "latent_dim": 6,
                     "beta": 1.0, "eta_enc": 1.0, "eta_dec": 3.5, "epochs": REMEDY_LINEAR_EPOCHS}
REMEDY_RELU_CVAE = {**RELU_CVAE, "data": "mnist:n=2000,split=quarter", "beta": 1.0,
                    "eta_enc": 1.0, "eta_dec": 1.0}
REMEDY_QUICK = {"epochs": 40, "eval_points": 500, "diagnostics_is_samples": 20}
# Their quick minutes were measured with the 2 cores shared (load average 8–15, several times an
# idle machine's); paper minutes are rough estimates (2.5 × the epochs, larger evaluation), not
# measured.
# `vaecollapse advise --keep 2` on these data (β = 0.9 × max_beta); analyses check they still agree
ADVISED_BETA = {"linear VAE": 0.992514, "ReLU CVAE": 1.70754}
ADVISE_LINEAR_VAE = {**REMEDY_LINEAR_VAE, "eta_dec": 2.0}


def _remedy_series(model: str, opts: dict, settings: dict[str, dict], checked: bool
                   ) -> tuple[Series, ...]:
    """One single-run series per setting (label → {param: value}), labelled MODEL · SETTING."""
    return tuple(Series(label=f"{model} · {label}", param=param, values=(value,), options=opts,
                        checked=checked)
                 for label, setting in settings.items() for param, value in setting.items())


def _advise_series(model: str, opts: dict, checked: bool = True) -> tuple[Series, ...]:
    """Training at the advised β and at 1.2 × it."""
    beta = ADVISED_BETA[model]
    return (Series(label=f"{model} · advised β", param="beta", values=(beta,), options=opts,
                   checked=checked),
            Series(label=f"{model} · 1.2 × advised β", param="beta", values=(round(1.2 * beta, 6),),
                   options=opts, checked=checked))


def _annealing(warmup: int) -> dict[str, dict]:
    """Plain training, a KL warm-up over ``warmup`` epochs and cyclical annealing (4 cycles)."""
    return {"plain": {"kl_warmup": 0}, "warm-up": {"kl_warmup": warmup}, "cyclical": {"kl_cycles": 4}}


FREE_BITS = {"plain": {"kl_warmup": 0}, "free bits": {"free_bits": 0.25}}
# Fig. 2c's MHVAE at β1 = 1, β2 = 2 on the 2,000 digits (`predict --model mhvae --sigma1 0.5
# --eta-enc 0.5 --eta-dec 0.5 --latent-dim 16 --beta2 B [--inference ladder]`): with true β2 = 2
# (linear) 4 of 16 z2 modes collapse, Markov and ladder alike (β2 = 0.1, 0.5, 1: none); at the
# ReLU model's true weights (nominal / 2) none collapses at any of Fig. 2c's β2. Quick minutes:
# 91 s wall, measured with the 2 cores lightly loaded (load average 0.1–2); paper: a rough guess.
SEPARATE_MAPS_BETA2 = 2.0
REMEDY_LINEAR_MHVAE = {**RELU_MHVAE, **LINEAR, "data": "mnist:n=2000", "beta1": 1.0,
                       "beta2": SEPARATE_MAPS_BETA2, "epochs": REMEDY_LINEAR_EPOCHS}
REMEDY_RELU_MHVAE = {**RELU_MHVAE, "data": "mnist:n=2000", "beta1": 1.0,
                     "beta2": SEPARATE_MAPS_BETA2}
INFERENCE = {"Markov": {"inference": "markov"}, "ladder": {"inference": "ladder"}}

EXPERIMENTS += [
    Experiment(
        name="mitigation-annealing",
        title="Remedies: KL warm-up and cyclical annealing vs plain training",
        claim="in the linear VAE, KL warm-up (over the first quarter of training) and cyclical "
              "annealing (4 cycles, R = 0.5) end at the closed form's collapsed modes, as plain "
              "training does: the global optimum does not depend on the path",
        check=annealing, analysis=mitigation, base={"seed": 0},
        series=(*_remedy_series("linear VAE", REMEDY_LINEAR_VAE,
                                _annealing(REMEDY_LINEAR_EPOCHS // 4), True),
                *_remedy_series("ReLU CVAE", REMEDY_RELU_CVAE, _annealing(10), False)),
        quick=REMEDY_QUICK, paper={"epochs": 100, **EVAL_PAPER},
        minutes={"quick": 3.0, "paper": 40},
        measured_claim="on the ReLU CVAE (Fig. 2b, β = 1), warm-up and cyclical annealing leave "
                       "fewer collapsed modes than plain training",
        note="the linear CVAE is not in this quick experiment (it needs ~300 epochs to settle, "
             "see fig3a); the linear VAE trains 160 epochs (to convergence, checked by its loss "
             "gap to the closed form), the ReLU CVAE 40 (quick); warm-up over a quarter of the "
             "run (40 and 10 epochs) and 4 cycles are Bowman's and Fu's usual settings, not "
             "tuned"),
    Experiment(
        name="mitigation-free-bits", title="Remedies: free bits (λ = 0.25 nats per dimension)",
        claim="with free bits λ every latent dimension keeps at least λ nats (≥ 0.9 λ on the "
              "evaluation points; theory: a mode that collapses without them sits at exactly λ)",
        check=free_bits, analysis=mitigation, base={"seed": 0},
        series=(*_remedy_series("linear VAE", REMEDY_LINEAR_VAE, FREE_BITS, True),
                *_remedy_series("ReLU CVAE", REMEDY_RELU_CVAE, FREE_BITS, True)),
        quick=REMEDY_QUICK, paper={"epochs": 100, **EVAL_PAPER},
        minutes={"quick": 1.5, "paper": 35},
        measured_claim="free bits cost likelihood: the NLL is higher than plain training's (the "
                       "linear VAE at β = 1: its plain optimum is the maximum-likelihood pPCA "
                       "fit)"),
    Experiment(
        name="advise-check",
        title="`vaecollapse advise --keep 2`: training at the advised β and at 1.2 ×",
        claim="the linear VAE trained at the advised β keeps exactly the predicted K = 2 active "
              "modes and at 1.2 × that β exactly K − 1 (every seed)",
        check=advise_check, analysis=mitigation, base={"seed": 0},
        series=(*_advise_series("linear VAE", ADVISE_LINEAR_VAE),
                *_advise_series("ReLU CVAE", REMEDY_RELU_CVAE, checked=False)),
        quick=REMEDY_QUICK, paper={"epochs": 100, **EVAL_PAPER},
        minutes={"quick": 1.9, "paper": 45},
        keep={"linear VAE": 2, "ReLU CVAE": 2},
        measured_claim="the ReLU CVAE (Fig. 2b) trained at the linear theory's advised β keeps "
                       "≥ K = 2 active modes and fewer at 1.2 × that β",
        note="advised β = 0.9 × max_beta (advise's default margin); the K-th mode sits 10% "
             "inside its threshold at the advised β and 8% beyond it at 1.2 ×"),
    Experiment(
        name="mitigation-separate-maps",
        title="Remedies: separate maps from x to each level (ladder vs Markov MHVAE, Fig. 2c)",
        claim="in the linear MHVAE (Fig. 2c's σ1 = 0.5, η = 0.5, β1 = 1, β2 = 2), Markov and "
              "ladder inference both end at the numerical theory's collapsed z2 modes (every "
              "seed); the theory predicts the same collapse for both",
        check=separate_maps, analysis=mitigation, base={"seed": 0},
        series=(*_remedy_series("linear MHVAE", REMEDY_LINEAR_MHVAE, INFERENCE, True),
                *_remedy_series("ReLU MHVAE", REMEDY_RELU_MHVAE, INFERENCE, False)),
        quick=REMEDY_QUICK, paper={"epochs": 100, **EVAL_PAPER}, nominal_beta=True,
        minutes={"quick": 1.5, "paper": 60},
        measured_claim="on the ReLU MHVAE (Fig. 2c, nominal β2 = 2), ladder inference collapses "
                       "fewer z2 modes than Markov inference (the paper's advice)",
        note="β2 = 2 is the one Fig. 2c value where the linear theory collapses part of z2 (4 of "
             "16 modes; none at 0.1, 0.5, 1), so the linear runs test where training ends "
             "with modes on both sides; the ReLU model trains at nominal β (true β1 = 0.5, β2 = "
             "1, where the linear theory collapses no z2 mode). The theory predicts no "
             "difference between the two inferences: the generative chain makes z2 independent "
             "of x given z1, so the best q(z2 | z1, x) ignores x and the ladder's extra map "
             "is zero at the optimum. The linear MHVAE trains 160 epochs, the ReLU MHVAE 40 "
             "(quick); at 160 epochs the linear runs are not yet converged (loss gap 0.14 "
             "Markov, 0.25 ladder nats/point; one Markov seed at 400 epochs: 0.064), so the "
             "linear claim is left undecided"),
]

# ------------------------------------------------------------------------------ hierarchies (issue 13)
# Linear hierarchies where the numerical theory answers (docs/numerical-theory.md): 2,000 digits,
# latent 10 per level, η_enc = η_dec = 0.5; lr 0.03 for 200 epochs (3,200 steps) — at 60 epochs the
# both-learnable MHVAE near β2 = β1 and the ladder's top levels had not converged (up to 3 and 5
# modes off the optimum; at lr 0.01 and 40 epochs 2 active z2 modes of the predicted 0). Quick
# minutes measured with the 2 cores shared (load 3–6: 6.0 and 4.0 min); paper minutes are rough
# estimates (≈ 8 × the data, 100/200 epochs), not measured.
HIERARCHY = {"model": "mhvae", **LINEAR, "data": "mnist:n=2000", "latent_dim": 10, "lr": 0.03,
             "eta_enc": 0.5, "eta_dec": 0.5}
HIERARCHY_QUICK = {"epochs": 200, **EVAL_QUICK, "diagnostics_is_samples": 0}
HIERARCHY_PAPER = {"epochs": 100, **EVAL_PAPER, "data": "mnist"}
DEPTHS = (1, 2, 3, 4)
LEARNABLE_SIGMA1_BETA2 = (1.5, 3.0, 5.0, 7.0)  # both arms, all above β1 = 1


def _depth_series(inference: str, L: int) -> Series:
    """Depth L: β_l = l, σ_l = 0.5 fixed below the top, Σ_L learnable (all learnable would
    collapse everything above z1, a theorem)."""
    return Series(label=f"{inference} · L={L}", param="levels", values=(L,),
                  options={"inference": inference, "betas": ",".join(str(k) for k in range(1, L + 1)),
                           "sigmas": ",".join(["0.5"] * (L - 1) + ["learn"])})


EXPERIMENTS += [
    Experiment(
        name="mhvae-learnable-sigma1",
        title="Linear MHVAE: learnable Σ1 vs fixed σ1 = 0.5 against β2 (numerical theory)",
        claim="each arm's trained active z2 modes track its theory (numerical for the learnable "
              "Σ1, Theorem 3 for σ1 = 0.5)",
        check=tracks, analysis=linear_sweep, second_check=first_collapses_more,
        measured_claim="a learnable Σ1 collapses at least as many z2 modes as a fixed σ1 = 0.5 at "
                       "every β2 and more over all β2 — predicted and trained",
        base={**HIERARCHY, "beta1": 1.0},
        series=(Series(label="Σ1 learnable", param="beta2", values=LEARNABLE_SIGMA1_BETA2),
                Series(label="σ1 = 0.5", param="beta2", values=LEARNABLE_SIGMA1_BETA2,
                       options={"sigma1": 0.5})),
        quick=HIERARCHY_QUICK, paper=HIERARCHY_PAPER,
        minutes={"quick": 6.0, "paper": 30},
        note="β2 > β1 = 1 throughout: with Σ1 and Σ2 both learnable the loss is bounded iff "
             "β1 ≤ β2 (unbounded below for β1 > β2, a flat family of optima at equality), so "
             "the learnable arm is only defined above β1; Σ2 learnable in both arms"),
    Experiment(
        name="hvae-depth",
        title="Linear hierarchies: collapsed modes per level against depth, Markov vs ladder",
        claim="every level's trained collapsed modes equal the numerical theory's (seed median "
              "within the tolerance)",
        check=tracks, analysis=depth, second_check=inference_agrees,
        measured_claim="the numerical theory leaves the same collapsed modes per level for Markov "
                       "and ladder inference at every depth",
        base=HIERARCHY,
        series=tuple(_depth_series(inf, L) for inf in ("markov", "ladder") for L in DEPTHS),
        quick=HIERARCHY_QUICK, paper=HIERARCHY_PAPER,
        minutes={"quick": 4.0, "paper": 60},
        note="β_l = l (1, 2, 3, 4), σ_l = 0.5 fixed below the top level, the top Σ_L learnable, "
             "latent 10 per level: with every variance learnable everything above z1 collapses "
             "(docs/numerical-theory.md), a trivial answer"),
]

REGISTRY: dict[str, Experiment] = {e.name: e for e in EXPERIMENTS}
