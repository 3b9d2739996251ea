"""The sentence VAE (Bowman et al. 2016): an LSTM encoder, a Gaussian latent z and an
autoregressive decoder — an LSTM, or a small causal Transformer — trained with teacher forcing.

For a sentence x = (x_1 … x_T), x_T = ``<eos>``, with decoder inputs (``<bos>``, x_1 … x_{T−1}):

    q(z|x) = N(μ(x), diag σ²(x)),   (μ, log σ²) = W · h_T,   h_T the encoder LSTM's last state
    p(x|z) = Π_t Cat(x_t; softmax(f(x_{<t}, z)_t)),   p(z) = N(0, I)
    loss   = E_batch[ −log p(x|z) + β · KL(q(z|x) ‖ p(z)) ],   z = μ + σ ε

−log p(x|z) is the sum of the token cross-entropies up to and including ``<eos>`` (``recon``, in
nats per sentence). z reaches the decoder through its initial state (``z_input="init"``:
(h_0, c_0) = tanh(A z)), at every step (``"every"``: z concatenated to each input embedding) or
both (``"both"``, the default; He et al. 2019 feed it at every step). The Transformer decoder
adds a projection of z to every position's token and position embeddings ("every" only).

**Word dropout** (Bowman et al. 2016): while training, each decoder input token after ``<bos>``
is replaced by ``<unk>`` with probability p, the draws from the run's generator.

The model speaks the diagnostics protocol (``posteriors`` → one flat level ``z``;
``log_weights`` for the importance-sampled likelihood), so :func:`vaecollapse.diagnostics.diagnose`,
the monitor and the Lightning callback take it unchanged. Its inputs are the token ids of
:class:`vaecollapse.data.text.TextData`, as integers or as the floats ``diagnose`` casts them to.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence

from vaecollapse.config.text_settings import HEADS, check_decoder
from vaecollapse.errors import HyperparameterError
from vaecollapse.models.base import LOG_2PI, Output, Posterior
from vaecollapse.models.kl import kl_diagonal_gaussian

PAD, BOS, EOS, UNK = 0, 1, 2, 3  # the ids of vaecollapse.data.text
#: logits entries (rows × positions × vocabulary) computed at once by ``log_weights``
LOGIT_BUDGET = 1 << 24


@dataclass
class SeqVAEConfig:
    """The sentence VAE's shape: vocabulary size V, ids per sentence (L + 1, ``<eos>``
    included), latent d, embedding E, LSTM hidden H, the decoder kind and how z enters it, β."""

    vocab_size: int
    max_len: int
    latent_dim: int = 16
    embed: int = 128
    hidden: int = 256
    decoder: str = "lstm"
    z_input: str = "both"
    beta: float = 1.0
    layers: int = 2  # Transformer decoder layers
    heads: int = HEADS  # Transformer heads

    def validate(self) -> None:
        check_decoder(self.decoder, self.z_input, self.embed, self.heads)
        for name in ("vocab_size", "max_len", "latent_dim", "embed", "hidden", "layers", "heads"):
            if getattr(self, name) < 1:
                raise HyperparameterError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not (math.isfinite(self.beta) and self.beta >= 0):
            raise HyperparameterError(f"beta must be finite and >= 0, got {self.beta}")

    def to_dict(self) -> dict:
        return asdict(self)


def lengths_of(tokens: Tensor) -> Tensor:
    """Ids per sentence up to and including ``<eos>`` (the non-pad ids), at least 1."""
    return (tokens != PAD).sum(1).clamp(min=1)


def decoder_inputs(tokens: Tensor) -> Tensor:
    """Teacher forcing: ``<bos>`` followed by all but the last id of each row."""
    bos = torch.full_like(tokens[:, :1], BOS)
    return torch.cat([bos, tokens[:, :-1]], 1)


def word_dropout(inputs: Tensor, p: float, generator: torch.Generator | None) -> Tensor:
    """``inputs`` with each id after ``<bos>`` (and not ``<pad>``) set to ``<unk>`` with
    probability p (Bowman et al. 2016)."""
    if p <= 0:
        return inputs
    drop = torch.rand(inputs.shape, generator=generator, device=inputs.device) < p
    drop[:, 0] = False
    return inputs.masked_fill(drop & (inputs != PAD), UNK)


class SeqVAE(nn.Module):
    """The sentence VAE of the module docstring. ``encoder_modules`` / ``decoder_modules`` name
    the two halves (aggressive training updates the encoder alone; a decoder reset
    re-initialises the decoder alone)."""

    def __init__(self, cfg: SeqVAEConfig):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        V, E, H, d = cfg.vocab_size, cfg.embed, cfg.hidden, cfg.latent_dim
        self.enc_embed = nn.Embedding(V, E, padding_idx=PAD)
        self.enc_rnn = nn.LSTM(E, H, batch_first=True)
        self.enc_out = nn.Linear(H, 2 * d)
        self.dec_embed = nn.Embedding(V, E, padding_idx=PAD)
        if cfg.decoder == "lstm":
            every = cfg.z_input in ("every", "both")
            self.dec_rnn = nn.LSTM(E + (d if every else 0), H, batch_first=True)
            self.z_init = nn.Linear(d, 2 * H) if cfg.z_input in ("init", "both") else None
            self.dec_out = nn.Linear(H, V)
        else:
            self.dec_pos = nn.Embedding(cfg.max_len, E)
            self.z_proj = nn.Linear(d, E)
            layer = nn.TransformerEncoderLayer(E, cfg.heads, dim_feedforward=2 * E, dropout=0.0,
                                               batch_first=True, norm_first=True)
            self.dec_tf = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
            self.dec_out = nn.Linear(E, V)

    # -------------------------------------------------------------------- halves

    def encoder_modules(self) -> list[nn.Module]:
        return [self.enc_embed, self.enc_rnn, self.enc_out]

    def decoder_modules(self) -> list[nn.Module]:
        return [m for m in self.children() if m not in self.encoder_modules()]

    def encoder_parameters(self) -> list[Tensor]:
        return [p for m in self.encoder_modules() for p in m.parameters()]

    def decoder_parameters(self) -> list[Tensor]:
        return [p for m in self.decoder_modules() for p in m.parameters()]

    def reset_decoder(self) -> None:
        """Re-initialise every decoder weight (under the caller's torch seed), as at
        construction (Li et al. 2019's decoder reset)."""
        for m in self.decoder_modules():
            for sub in m.modules():
                reset = getattr(sub, "reset_parameters", None) or getattr(sub, "_reset_parameters",
                                                                          None)
                if reset is not None:
                    reset()

    def level_weight(self, level: str) -> float:
        """β of the one level, for :func:`vaecollapse.models.objective.objective`."""
        return self.cfg.beta

    # -------------------------------------------------------------------- maps

    def encode(self, tokens: Tensor) -> tuple[Tensor, Tensor]:
        """(μ, log σ²) of q(z|x), each (n, d)."""
        tokens = tokens.long()
        packed = pack_padded_sequence(self.enc_embed(tokens), lengths_of(tokens).cpu(),
                                      batch_first=True, enforce_sorted=False)
        _, (h, _) = self.enc_rnn(packed)
        mean, logvar = self.enc_out(h[-1]).chunk(2, -1)
        return mean, logvar

    def logits(self, inputs: Tensor, z: Tensor) -> Tensor:
        """Next-token logits (n, T, V) for decoder inputs (n, T) and latents z (n, d)."""
        return self.dec_out(self.states(inputs, z))

    def states(self, inputs: Tensor, z: Tensor) -> Tensor:
        """The decoder's last-layer states (n, T, ·) before the output layer."""
        emb = self.dec_embed(inputs)
        if self.cfg.decoder == "transformer":
            T = inputs.shape[1]
            pos = self.dec_pos(torch.arange(T, device=inputs.device))
            mask = nn.Transformer.generate_square_subsequent_mask(T, device=inputs.device,
                                                                  dtype=emb.dtype)
            return self.dec_tf(emb + pos + self.z_proj(z)[:, None], mask=mask, is_causal=True)
        if self.cfg.z_input in ("every", "both"):
            emb = torch.cat([emb, z[:, None].expand(-1, inputs.shape[1], -1)], -1)
        state = None
        if self.z_init is not None:
            h0, c0 = torch.tanh(self.z_init(z)).chunk(2, -1)
            state = (h0[None].contiguous(), c0[None].contiguous())
        out, _ = self.dec_rnn(emb, state)
        return out

    def token_nll(self, tokens: Tensor, z: Tensor, inputs: Tensor | None = None) -> Tensor:
        """−log p(x|z) per sentence (n,): the summed cross-entropy of the non-pad targets (the
        output layer and softmax run on those positions only)."""
        tokens = tokens.long()
        inputs = decoder_inputs(tokens) if inputs is None else inputs
        h = self.states(inputs, z)
        keep = tokens != PAD
        ce = nn.functional.cross_entropy(self.dec_out(h[keep]), tokens[keep], reduction="none")
        rows = torch.arange(tokens.shape[0], device=tokens.device)[:, None].expand_as(tokens)[keep]
        return torch.zeros(tokens.shape[0], dtype=ce.dtype, device=ce.device).index_add(0, rows, ce)

    # -------------------------------------------------------------------- training

    def forward(self, tokens: Tensor, y=None, *, generator: torch.Generator | None = None,
                word_dropout_rate: float = 0.0) -> Output:
        """The batch mean of −log p(x|z) + β KL with one z ~ q(z|x) per sentence."""
        tokens = tokens.long()
        mean, logvar = self.encode(tokens)
        eps = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        z = mean + (0.5 * logvar).exp() * eps
        inputs = decoder_inputs(tokens)
        if self.training:
            inputs = word_dropout(inputs, word_dropout_rate, generator)
        recon = self.token_nll(tokens, z, inputs).mean()
        kl_dims = kl_diagonal_gaussian(mean, logvar).mean(0)
        kl = kl_dims.sum()
        return Output(loss=recon + self.cfg.beta * kl, recon=recon, kl={"z": kl},
                      posteriors=[Posterior("z", mean, logvar)], kl_dims={"z": kl_dims})

    # -------------------------------------------------------------------- diagnostics protocol

    def posteriors(self, x, y=None, generator=None) -> list[Posterior]:
        mean, logvar = self.encode(x)
        return [Posterior("z", mean, logvar)]

    def log_weights(self, x, y=None, samples: int = 1, generator=None) -> Tensor:
        """log p(x, z_s) − log q(z_s|x) for S samples z_s ~ q(z|x), shape (n, S)."""
        tokens = x.long()
        mean, logvar = self.encode(tokens)
        n, d = mean.shape
        std = (0.5 * logvar).exp()
        rows = max(1, LOGIT_BUDGET // (tokens.shape[1] * self.cfg.vocab_size))
        out = torch.empty(n, samples, device=mean.device, dtype=mean.dtype)
        per = max(1, rows // n) if rows >= n else 1
        for s0 in range(0, samples, per):
            k = min(per, samples - s0)
            eps = torch.randn((k, n, d), generator=generator, device=mean.device,
                              dtype=mean.dtype)
            z = mean + std * eps  # (k, n, d)
            log_q = (-0.5 * (eps.square() + LOG_2PI + logvar)).sum(-1)
            log_p = (-0.5 * (z.square() + LOG_2PI)).sum(-1)
            flat_z, flat_t = z.reshape(k * n, d), tokens.repeat(k, 1)
            nll = torch.cat([self.token_nll(flat_t[i:i + rows], flat_z[i:i + rows])
                             for i in range(0, k * n, rows)])
            out[:, s0:s0 + k] = (log_p - log_q - nll.reshape(k, n)).T
        return out

    # -------------------------------------------------------------------- generation

    @torch.no_grad()
    def greedy(self, z: Tensor, max_len: int | None = None) -> Tensor:
        """Greedy decoding from latents z (n, d): ids (n, max_len), ``<pad>`` after ``<eos>``."""
        T = max_len or self.cfg.max_len
        n = z.shape[0]
        ids = torch.full((n, 1), BOS, dtype=torch.long, device=z.device)
        done = torch.zeros(n, dtype=torch.bool, device=z.device)
        out = []
        for _ in range(T):
            nxt = self.logits(ids, z)[:, -1].argmax(-1)
            nxt = nxt.masked_fill(done, PAD)
            out.append(nxt)
            done |= nxt == EOS
            ids = torch.cat([ids, nxt[:, None]], 1)
            if bool(done.all()):
                break
        return torch.stack(out, 1)
