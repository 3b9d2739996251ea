"""The sentence VAE (docs/text-vaes.md): posterior collapse where it is best known, with an
autoregressive LSTM decoder on the WordNet example sentences, and the remedies made for it
(:mod:`vaecollapse.experiments.text_remedies` judges them)."""

from __future__ import annotations

from vaecollapse.experiments.definition import Experiment, Series
from vaecollapse.experiments.text_remedies import VANILLA, text_claims, text_remedies

#: the arms: label → the options on top of the base (vanilla: none)
ARMS = {
    VANILLA: {},
    "KL warm-up": {"kl_warmup": 4},
    "cyclical annealing": {"kl_cycles": 2},
    "free bits": {"free_bits": 0.25},
    "word dropout": {"word_dropout": 0.5},
    "aggressive encoder": {"aggressive": True},
    "AE pretraining + decoder reset": {"ae_epochs": 3},
}
TEXT_BASE = {"model": "seqvae", "data": "text:wordnet,vocab=2000,max_len=15", "latent_dim": 16,
             "embed": 64, "hidden": 128, "batch_size": 64, "lr": 1e-3}
TEXT_QUICK = {"data": "text:wordnet,vocab=2000,max_len=15,n=6000", "epochs": 10,
              "eval_points": 500, "diagnostics_is_samples": 50}
TEXT_PAPER = {"epochs": 30, "eval_points": 2000, "diagnostics_is_samples": 200}

TEXT_EXPERIMENTS = [
    Experiment(
        name="text-remedies",
        title="Sentence VAE (LSTM decoder, WordNet sentences): vanilla against the remedies",
        claim="The vanilla sentence VAE collapses (KL below 0.1 nats, no active unit); which "
              "remedies keep units active, and at what NLL cost",
        analysis=text_remedies, check=text_claims, base=TEXT_BASE,
        series=tuple(Series(label=label, param=next(iter(opts), "kl_warmup"),
                            values=(next(iter(opts.values()), 0),))
                     for label, opts in ARMS.items()),
        quick=TEXT_QUICK, paper=TEXT_PAPER, minutes={"quick": 12.0, "paper": 60.0},
        role="beyond",
        note="Measured beyond the paper: the image-model theory says nothing of autoregressive "
             "decoders; the arms share seeds, data and evaluation sentences (the test part)."),
]
