"""Settings several registry entries share: evaluation sizes per profile, the paper's ReLU CVAE
and MHVAE, the Fig. 2b grid and the linear models' training."""

from __future__ import annotations

from vaecollapse.experiments.definition import Series

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
