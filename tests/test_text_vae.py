"""The sentence VAE: text data specs, the SeqVAE against independent computations (KL against
torch.distributions, the token likelihood against a hand log-softmax, the importance-sampled
likelihood against the exact one where q equals the prior), the diagnostics protocol, the
remedies, bit-for-bit resumption, the CLI, and that the text-remedies claims can fail."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from vaecollapse.cli import app
from vaecollapse.config.text_settings import TextTrainConfig, text_config_from_options
from vaecollapse.data import load
from vaecollapse.data.text import BOS, EOS, PAD, UNK, load_text, split_parts, tokenize, wordnet_dir
from vaecollapse.diagnostics import diagnose
from vaecollapse.diagnostics.streaming import CollapseMonitor
from vaecollapse.errors import DataError, HyperparameterError, UserError
from vaecollapse.models.sequence import SeqVAE, SeqVAEConfig, decoder_inputs, word_dropout
from vaecollapse.runs import text_train
from vaecollapse.runs.text_train import train_text

WORDS = ("the cat dog bird mat log tree sat ran flew on under over a red big small brown "
         "quick and").split()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A seeded file of 300 short distinct sentences."""
    rng = np.random.default_rng(0)
    lines = set()
    while len(lines) < 300:
        lines.add(" ".join(rng.choice(WORDS, size=rng.integers(2, 8))))
    path = tmp_path_factory.mktemp("text") / "sentences.txt"
    path.write_text("\n".join(sorted(lines)) + "\n\n", encoding="utf-8")
    return path


def _spec(corpus, extra: str = "") -> str:
    return f"textfile:{corpus},min_count=1{extra}"


def _options(corpus, **kw):
    return {"data": _spec(corpus), "latent_dim": 4, "embed": 16, "hidden": 16, "epochs": 2,
            "batch_size": 32, "eval_points": 40, "diagnostics_is_samples": 4, "device": "cpu",
            **kw}


# ------------------------------------------------------------------------------ data


def test_tokenize_words_punctuation_and_characters():
    assert tokenize("She's  here, OK?") == ["she's", "here", ",", "ok", "?"]
    assert tokenize("Ab c", "char") == ["a", "b", " ", "c"]


def test_split_is_fixed_disjoint_and_complete():
    sentences = [f"s{i}" for i in range(100)]
    a, b = split_parts(sentences), split_parts(list(sentences))
    assert a == b
    assert len(a["test"]) == 10 and not set(a["test"]) & set(a["train"])
    assert sorted(a["train"] + a["test"]) == sorted(sentences)
    assert a["test"] != sentences[-10:]  # a seeded order, not the last lines


def test_vocabulary_comes_from_the_train_part_only(tmp_path):
    train_only = [f"alpha beta w{i}" for i in range(40)]
    path = tmp_path / "t.txt"
    path.write_text("\n".join(train_only), encoding="utf-8")
    parts = split_parts(sorted(train_only))
    tr = load_text(f"textfile:{path},min_count=1")
    te = load_text(f"textfile:{path},min_count=1,part=test")
    assert tr.vocab == te.vocab
    test_words = {s.split()[2] for s in parts["test"]}
    assert not test_words & set(tr.vocab)  # w<i> of the test part are unknown
    assert (te.tokens[:, 2] == UNK).all() and te.unk_rate > 0


def test_padding_lengths_and_length_limit(corpus):
    d = load_text(_spec(corpus, ",max_len=5"))
    assert d.max_len == 6 and d.dropped > 0
    for row, n in zip(d.tokens, d.lengths, strict=True):
        assert row[n - 1] == EOS and (row[n:] == PAD).all() and (row[:n - 1] > UNK).all()
    assert d.decode(d.tokens[0]) == " ".join(tokenize(d.sentences[0]))


def test_subset_is_random_not_the_first(corpus):
    full = load_text(_spec(corpus))
    sub = load_text(_spec(corpus, ",n=20,seed=3"))
    assert sub.n == 20 and sub.sentences != full.sentences[:20]
    assert set(sub.sentences) <= set(full.sentences)
    assert load_text(_spec(corpus, ",n=20,seed=3")).sentences == sub.sentences


@pytest.mark.parametrize("spec, message", [
    ("text:nosuch", "unknown text corpus"),
    ("textfile:/no/such/file.txt", "does not exist"),
    ("text:wordnet,colour=red", "Unknown key"),
    ("text", "needs a corpus name"),
])
def test_bad_text_specs_are_data_errors(spec, message):
    with pytest.raises(DataError, match=message):
        load_text(spec)


def test_image_loader_refuses_text_specs(corpus):
    with pytest.raises(DataError, match="seqvae"):
        load(_spec(corpus))


def test_the_packaged_corpus():
    try:
        wordnet_dir()
    except DataError as e:
        pytest.skip(str(e))
    d = load_text("text:wordnet,n=200")
    assert d.n == 200 and len(d.vocab) > 1000
    test = load_text("text:wordnet,part=test")
    assert 4000 < test.n < 6000  # a tenth of the 48,224 sentences, less the long ones


# ------------------------------------------------------------------------------ model


def _model(decoder="lstm", z_input="both", vocab=12, max_len=6, d=3):
    torch.manual_seed(0)
    return SeqVAE(SeqVAEConfig(vocab, max_len, latent_dim=d, embed=8, hidden=8, decoder=decoder,
                               z_input=z_input))


def _tokens(n=5, vocab=12, max_len=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    t = torch.randint(4, vocab, (n, max_len), generator=g)
    lengths = torch.randint(1, max_len, (n,), generator=g)
    for i, k in enumerate(lengths):
        t[i, k - 1] = EOS
        t[i, k:] = PAD
    return t


@pytest.mark.parametrize("decoder, z_input", [("lstm", "both"), ("lstm", "init"),
                                              ("lstm", "every"), ("transformer", "every")])
def test_token_nll_equals_a_hand_log_softmax(decoder, z_input):
    m, x = _model(decoder, z_input), _tokens()
    z = torch.randn(x.shape[0], 3)
    logits = m.logits(decoder_inputs(x), z)
    logp = logits - logits.exp().sum(-1, keepdim=True).log()
    want = torch.stack([-sum(logp[i, t, x[i, t]] for t in range(x.shape[1]) if x[i, t] != PAD)
                        for i in range(x.shape[0])])
    torch.testing.assert_close(m.token_nll(x, z), want, rtol=1e-5, atol=1e-5)


def test_kl_matches_torch_distributions():
    m, x = _model(), _tokens()
    out = m(x, generator=torch.Generator().manual_seed(0))
    mean, logvar = m.encode(x)
    q = torch.distributions.Normal(mean, (0.5 * logvar).exp())
    p = torch.distributions.Normal(torch.zeros_like(mean), torch.ones_like(mean))
    torch.testing.assert_close(out.kl_dims["z"], torch.distributions.kl_divergence(q, p).mean(0))
    torch.testing.assert_close(out.loss, out.recon + out.kl["z"])


def test_importance_sampling_is_exact_when_q_is_the_prior():
    m, x = _model(), _tokens()
    with torch.no_grad():  # q(z|x) = N(0, I) = p(z): every weight is log p(x|z_s)
        m.enc_out.weight.zero_()
        m.enc_out.bias.zero_()
        m.z_init.weight.zero_()  # and p(x|z) ignores z, so log p(x) = log p(x|z) exactly
        m.dec_rnn.weight_ih_l0[:, 8:].zero_()
    exact = -m.token_nll(x, torch.zeros(x.shape[0], 3))
    w = m.log_weights(x.float(), samples=7, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(w, exact[:, None].expand(-1, 7), rtol=1e-5, atol=1e-5)
    r = diagnose(m, x.float(), is_samples=7)
    assert r["log_likelihood"]["estimate"] == pytest.approx(float(exact.detach().mean()), rel=1e-5)
    assert r["levels"][0]["active_units"] == 0


def test_transformer_decoder_is_causal():
    m, x = _model("transformer", "every"), _tokens()
    z = torch.randn(x.shape[0], 3)
    a = m.logits(decoder_inputs(x), z)
    inputs = decoder_inputs(x)
    changed = inputs.clone()  # a later input may not change an earlier position's logits
    changed[:, 3] = 7
    b = m.logits(changed, z)
    torch.testing.assert_close(a[:, :3], b[:, :3])
    assert not torch.allclose(a[:, 3:], b[:, 3:])


def test_diagnostics_protocol_diagnose_and_monitor_agree():
    m, x = _model(), _tokens(40)
    r = diagnose(m, x.float(), is_samples=0)
    mon = CollapseMonitor()
    for sl in (slice(0, 17), slice(17, 40)):
        mon.update(m.posteriors(x[sl]))
    level = mon.compute()[0]
    assert level["active_units"] == r["levels"][0]["active_units"]
    np.testing.assert_allclose(level["kl_per_dim"], r["levels"][0]["kl_per_dim"], rtol=1e-5)


def test_word_dropout_replaces_words_only():
    inputs = decoder_inputs(_tokens(400, max_len=8))
    out = word_dropout(inputs, 0.5, torch.Generator().manual_seed(0))
    assert (out[:, 0] == BOS).all() and ((inputs == PAD) == (out == PAD)).all()
    words = (inputs > UNK) & (torch.arange(8) > 0)
    rate = float((out[words] == UNK).float().mean())
    assert 0.45 < rate < 0.55
    assert torch.equal(word_dropout(inputs, 0.0, None), inputs)


def test_greedy_stops_at_eos():
    m = _model()
    ids = m.greedy(torch.zeros(3, 3), max_len=6)
    for row in ids.tolist():
        if EOS in row:
            assert all(t == PAD for t in row[row.index(EOS) + 1:])


def test_config_errors():
    with pytest.raises(HyperparameterError):
        SeqVAEConfig(10, 5, decoder="gru").validate()
    with pytest.raises(HyperparameterError, match="z_input=every"):
        SeqVAEConfig(10, 5, decoder="transformer", z_input="both").validate()
    with pytest.raises(HyperparameterError, match="ae_epochs"):
        TextTrainConfig(epochs=2, ae_epochs=2).validate()
    with pytest.raises(HyperparameterError, match="word_dropout"):
        TextTrainConfig(word_dropout=1.0).validate()
    with pytest.raises(HyperparameterError, match="not both"):
        TextTrainConfig(kl_warmup=1, kl_cycles=2).validate()
    with pytest.raises(UserError, match="do not apply"):
        text_config_from_options(backbone="mlp")


# ------------------------------------------------------------------------------ training


def _lines(d):
    return [json.loads(s) for s in (d / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("remedy", [{}, {"word_dropout": 0.3, "free_bits": 0.1},
                                    {"aggressive": True, "aggressive_inner": 6},
                                    {"ae_epochs": 1, "kl_cycles": 1},
                                    {"decoder": "transformer", "z_input": "every",
                                     "kl_warmup": 1}])
def test_resume_is_bit_for_bit(corpus, tmp_path, remedy):
    cfg = text_config_from_options(**_options(corpus, epochs=3, **remedy))
    whole = train_text(cfg, tmp_path / "whole", progress=False)
    train_text(text_config_from_options(**_options(corpus, epochs=3, **remedy)), tmp_path / "cut",
               progress=False, stop_after=2)
    assert not (tmp_path / "cut" / "diagnostics.json").exists()
    again = train_text(text_config_from_options(**_options(corpus, epochs=3, **remedy)),
                       tmp_path / "cut", resume=True, progress=False)
    drop = ("seconds",)
    strip = [{k: v for k, v in line.items() if k not in drop} for line in _lines(tmp_path / "whole")]
    assert strip == [{k: v for k, v in line.items() if k not in drop}
                     for line in _lines(tmp_path / "cut")]
    assert whole["loss"] == again["loss"]
    a = torch.load(tmp_path / "whole" / "checkpoint.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    lang = json.loads((tmp_path / "whole" / "language.json").read_text())
    assert lang["perplexity"] == pytest.approx(math.exp(lang["nll_per_token"]))
    assert lang["nll_per_token"] == pytest.approx(lang["nll_per_sentence"]
                                                  / lang["tokens_per_sentence"])


def test_aggressive_inner_updates_move_the_encoder_only(corpus):
    cfg = text_config_from_options(**_options(corpus, aggressive=True, aggressive_inner=5))
    data = load_text(cfg.data)
    model = text_train.build(cfg, data)
    s = text_train._State(cfg, model, torch.device("cpu"))
    enc = [p.detach().clone() for p in model.encoder_parameters()]
    dec = [p.detach().clone() for p in model.decoder_parameters()]
    done = text_train._aggressive_inner(cfg, s, torch.from_numpy(data.tokens), 1.0)
    assert 1 <= done <= 5
    assert all(torch.equal(a, b) for a, b in zip(dec, model.decoder_parameters(), strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(enc, model.encoder_parameters(), strict=True))


def test_autoencoder_pretraining_then_decoder_reset(corpus, tmp_path):
    cfg = text_config_from_options(**_options(corpus, epochs=2, ae_epochs=1))
    train_text(cfg, tmp_path / "r", progress=False)
    first, second = _lines(tmp_path / "r")
    assert first["kl_weight"] == 0.0 and first["decoder_reset"] and second["kl_weight"] == 1.0
    assert first["objective"] == pytest.approx(first["recon"], rel=1e-6)  # KL weight 0
    # the reset decoder is a fresh seeded initialisation: a second run holds the same weights
    data = load_text(cfg.data)
    m = text_train.build(cfg, data)
    torch.manual_seed(cfg.seed + text_train.RESET_SEED_OFFSET)
    m.reset_decoder()
    m2 = text_train.build(cfg, data)
    torch.manual_seed(cfg.seed + text_train.RESET_SEED_OFFSET)
    m2.reset_decoder()
    assert all(torch.equal(a, b) for a, b in zip(m.decoder_parameters(), m2.decoder_parameters(),
                                                 strict=True))
    fresh = text_train.build(cfg, data)
    assert not all(torch.equal(a, b) for a, b in zip(m.decoder_parameters(),
                                                     fresh.decoder_parameters(), strict=True))


def test_a_second_writer_and_an_existing_run_are_refused(corpus, tmp_path):
    cfg = text_config_from_options(**_options(corpus, epochs=1))
    train_text(cfg, tmp_path / "r", progress=False)
    with pytest.raises(UserError, match="already holds a run"):
        train_text(cfg, tmp_path / "r", progress=False)


# ------------------------------------------------------------------------------ CLI


def test_cli_trains_resumes_and_refuses_image_options(corpus, tmp_path):
    runner = CliRunner()
    base = ["train", "--model", "seqvae", "--data", _spec(corpus), "--latent-dim", "4",
            "--embed", "16", "--hidden", "16", "--batch-size", "32", "--eval-points", "40",
            "--threads", "1"]
    r = runner.invoke(app, [*base, "--epochs", "1", "--out", str(tmp_path / "r")])
    assert r.exit_code == 0, r.output
    assert "active units" in r.output
    r = runner.invoke(app, ["train", "--resume", "--out", str(tmp_path / "r"), "--epochs", "2"])
    assert r.exit_code == 0, r.output
    assert len(_lines(tmp_path / "r")) == 2
    r = runner.invoke(app, [*base, "--backbone", "linear", "--out", str(tmp_path / "x")])
    assert r.exit_code == 2 and "--backbone" in r.output and "Traceback" not in r.output
    r = runner.invoke(app, ["train", "--aggressive", "--out", str(tmp_path / "y")])
    assert r.exit_code == 2 and "seqvae" in r.output
    r = runner.invoke(app, [*base, "--data", "textfile:/no/such.txt", "--out", str(tmp_path / "z")])
    assert r.exit_code == 2 and "does not exist" in r.output


# ------------------------------------------------------------------------------ the claims


def _fake_runs(tmp_path, arms):
    from vaecollapse.runs.text_train import LANGUAGE

    records = []
    for arm, per_seed in arms.items():
        for seed, (kl, au, nll) in enumerate(per_seed):
            d = tmp_path / f"{arm}-{seed}"
            d.mkdir(parents=True)
            (d / LANGUAGE).write_text(json.dumps({"nll_per_sentence": nll, "perplexity": 50.0,
                                                  "mutual_information": 0.1}))
            records.append({"series": arm, "seed": seed, "run_dir": str(d), "kl_total": kl,
                            "active_units": au})
    return records


def test_text_claims_can_fail(tmp_path):
    from vaecollapse.experiments.registry import REGISTRY
    from vaecollapse.experiments.significance import mean_sd
    from vaecollapse.experiments.text_remedies import _arms, text_claims

    exp = REGISTRY["text-remedies"]
    collapsed = _fake_runs(tmp_path / "a", {"vanilla": [(0.01, 0, 30.0)] * 3,
                                            "free bits": [(3.0, 16, 31.0)] * 3})
    one_active = _fake_runs(tmp_path / "b", {"vanilla": [(0.01, 0, 30.0), (0.2, 1, 30.0),
                                                         (0.01, 0, 30.0)],
                                             "free bits": [(3.0, 16, 31.0), (0.0, 0, 30.0),
                                                           (3.0, 16, 31.0)]})
    holds, _ = text_claims(exp, _arms(collapsed), None)
    fails, _ = text_claims(exp, _arms(one_active), None)
    assert [c["holds"] for c in holds] == [True, True]
    assert [c["holds"] for c in fails] == [False, False]
    assert f"NLL cost against vanilla {mean_sd([1.0, 1.0, 1.0])}" in holds[1]["evidence"]


def test_a_small_text_experiment_runs_end_to_end(corpus, tmp_path, monkeypatch):
    """The registry's text-remedies, shrunk onto the test corpus: every arm trains, the claims
    follow the published schema, the figure and both tables are written."""
    import dataclasses

    import jsonschema

    from vaecollapse.experiments import runner
    from vaecollapse.experiments.registry import REGISTRY
    from vaecollapse.output.documents import json_schema
    from vaecollapse.output.experiment_figures import draw

    small = dataclasses.replace(
        REGISTRY["text-remedies"],
        base={**REGISTRY["text-remedies"].base, "data": _spec(corpus), "embed": 8, "hidden": 8,
              "latent_dim": 3, "batch_size": 64},
        quick={"epochs": 4, "eval_points": 30, "diagnostics_is_samples": 3,
               "aggressive_inner": 5}, seeds={"quick": 2, "paper": 5})
    monkeypatch.setitem(runner.REGISTRY, "text-remedies", small)
    claims = runner.run_experiment("text-remedies", "quick", tmp_path, draw=draw, jobs=1)
    jsonschema.validate(claims, json_schema("claims"))
    assert len(claims) == 7 and all(c["holds"] in (True, False) for c in claims)
    d = tmp_path / "text-remedies"
    for name in ("training.png", "summary.md", "interpolation.md", "results.csv", "meta.json"):
        assert (d / name).exists(), name
    table = (d / "interpolation.md").read_text()
    # the header, its rule, sentence a, the 5 steps and sentence b
    assert "t = 0.50" in table and "input a:" in table and table.count("\n|") == 9
