"""The settings of one sentence-VAE run (``train --model seqvae``): :class:`TextTrainConfig`,
written to the run's config.json with ``"model": "seqvae"`` and read back to resume.

The remedies (docs/text-vaes.md):

- ``kl_warmup``, ``kl_cycles`` / ``kl_cycle_ratio``, ``free_bits``: the schedules and floor of
  :mod:`vaecollapse.models.objective`, checked by the same rule as the image models';
- ``word_dropout`` p ∈ [0, 1): decoder inputs replaced by ``<unk>`` (Bowman et al. 2016);
- ``aggressive``: He et al. (2019)'s aggressive inference-network training — before each
  decoder update, up to ``aggressive_inner`` encoder-only updates on fresh batches, stopped
  early when the summed loss of the last ``AGGRESSIVE_CHECK`` of them stops falling; the phase
  ends for good after the first epoch whose mutual information I(x; z) on the evaluation
  sentences does not rise;
- ``ae_epochs`` E_ae: Li et al. (2019)'s pretraining — E_ae epochs with the KL weight 0 (an
  autoencoder), then the decoder re-initialised and its optimiser state cleared, then the VAE.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

from vaecollapse.config.settings import check_remedies
from vaecollapse.errors import HyperparameterError, UserError

MODEL = "seqvae"
#: encoder-only updates between two loss checks of aggressive training
AGGRESSIVE_CHECK = 5


DECODERS = ("lstm", "transformer")
Z_INPUTS = ("init", "every", "both")
#: the Transformer decoder's attention heads (vaecollapse.models.sequence.SeqVAEConfig)
HEADS = 4


def check_decoder(decoder: str, z_input: str, embed: int, heads: int = HEADS) -> None:
    """The decoder kind, how z enters it, and (Transformer) embed divisible by the heads."""
    if decoder not in DECODERS:
        raise HyperparameterError(f"decoder must be one of {', '.join(DECODERS)}, got "
                                  f"{decoder!r}")
    if z_input not in Z_INPUTS:
        raise HyperparameterError(f"z_input must be one of {', '.join(Z_INPUTS)}, got "
                                  f"{z_input!r}")
    if decoder == "transformer" and z_input != "every":
        raise HyperparameterError("the Transformer decoder takes z at every position: use "
                                  "z_input=every")
    if decoder == "transformer" and embed % heads:
        raise HyperparameterError(f"embed ({embed}) must be a multiple of heads ({heads})")


@dataclass
class TextTrainConfig:
    """One sentence-VAE run: data, model shape, optimiser, remedies and evaluation."""

    data: str = "text:wordnet"
    eval_data: str | None = None  # default: the test part of ``data``
    latent_dim: int = 16
    embed: int = 128
    hidden: int = 256
    decoder: str = "lstm"
    z_input: str = "both"
    beta: float = 1.0
    epochs: int = 10
    lr: float = 1e-3
    batch_size: int = 64
    clip: float | None = 5.0
    seed: int = 0
    device: str = "auto"
    kl_warmup: int = 0
    kl_cycles: int = 0
    kl_cycle_ratio: float = 0.5
    free_bits: float | None = None
    word_dropout: float = 0.0
    aggressive: bool = False
    aggressive_inner: int = 20
    ae_epochs: int = 0
    eval_points: int = 500
    diagnostics_is_samples: int = 50
    epsilon: float = 1e-2
    delta: float = 0.05

    model: str = MODEL

    @property
    def remedied(self) -> bool:
        return bool(self.kl_warmup or self.kl_cycles or self.free_bits or self.ae_epochs)

    def evaluation_spec(self) -> str:
        """The evaluation sentences: ``eval_data``, else the test part of ``data``."""
        if self.eval_data:
            return self.eval_data
        spec = self.data.strip()
        if "part=" in spec:
            return spec.replace("part=train", "part=test")
        return f"{spec},part=test" if ":" in spec else f"{spec}:part=test"

    def validate(self) -> TextTrainConfig:
        if self.model != MODEL:
            raise HyperparameterError(f"a text run's model is {MODEL}, got {self.model!r}")
        for name in ("latent_dim", "embed", "hidden", "epochs", "batch_size",
                     "aggressive_inner", "eval_points"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise HyperparameterError(f"{name} must be a whole number >= 1, got {v!r}")
        for name in ("seed", "ae_epochs", "diagnostics_is_samples"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise HyperparameterError(f"{name} must be a whole number >= 0, got {v!r}")
        if self.ae_epochs >= self.epochs:
            raise HyperparameterError(f"ae_epochs ({self.ae_epochs}) must leave VAE epochs: fewer "
                                      f"than epochs ({self.epochs})")
        if not (isinstance(self.word_dropout, int | float) and 0 <= self.word_dropout < 1):
            raise HyperparameterError(f"word_dropout must be in [0, 1), got {self.word_dropout!r}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise HyperparameterError(f"lr must be finite and > 0, got {self.lr}")
        if self.clip is not None and not (math.isfinite(self.clip) and self.clip > 0):
            raise HyperparameterError(f"clip must be finite and > 0, got {self.clip}")
        if not isinstance(self.aggressive, bool):
            raise HyperparameterError(f"aggressive must be true or false, got {self.aggressive!r}")
        check_decoder(self.decoder, self.z_input, self.embed)
        check_remedies(self)
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict, where: str = "config") -> TextTrainConfig:
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names - {"runtime", "vocab_size", "max_len"}
        if unknown:
            raise UserError(f"{where}: unknown text-run setting(s) {', '.join(sorted(unknown))}")
        try:
            return cls(**{k: v for k, v in data.items() if k in names}).validate()
        except TypeError as e:
            raise UserError(f"{where}: {e}") from None


def text_config_from_options(**options) -> TextTrainConfig:
    """A validated TextTrainConfig from `train` / sweep / experiment options (``model`` must be
    ``seqvae``); unknown options are a UserError naming them."""
    names = {f.name for f in fields(TextTrainConfig)}
    unknown = sorted(set(options) - names - {"datasets"})
    if unknown:
        raise UserError(f"option(s) {', '.join(unknown)} do not apply to --model {MODEL}")
    options.pop("datasets", None)
    return TextTrainConfig(**options).validate()
