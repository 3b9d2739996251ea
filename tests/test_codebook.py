"""The codebook collapse monitor: counts, perplexity and dead codes against an independent numpy
computation, streaming, bounds, bad input, DDP over gloo with uneven shards, and the VQ-VAE
example's measured collapse and remedy."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from gloo import run_gloo

from vaecollapse.diagnostics.codebook import CodebookMonitor, codebook_scalars

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "vqvae_codebook.py"


# -- an independent reference -----------------------------------------------------------------

def reference(all_indices: np.ndarray, num_codes: int, levels: int) -> list[dict]:
    """Per level: np.bincount of the concatenated indices, entropy by hand (natural log)."""
    flat = all_indices.reshape(-1, levels) if levels > 1 else all_indices.reshape(-1, 1)
    out = []
    for level in range(flat.shape[1]):
        usage = np.bincount(flat[:, level], minlength=num_codes)
        assert usage.shape == (num_codes,)
        n = int(usage.sum())
        h = 0.0
        for c in usage:
            if c:
                p = c / n
                h -= p * math.log(p)
        dead = [k for k in range(num_codes) if usage[k] == 0]
        out.append({"level": level, "usage": usage.tolist(), "n": n, "perplexity": math.exp(h),
                    "dead_codes": len(dead), "dead_code_ids": dead,
                    "used_fraction": (num_codes - len(dead)) / num_codes})
    return out


def assert_same(got: list[dict], want: list[dict]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert set(g) == set(w)
        for key in ("level", "usage", "n", "dead_codes", "dead_code_ids"):
            assert g[key] == w[key], key
        assert g["perplexity"] == pytest.approx(w["perplexity"], rel=1e-12)
        assert g["used_fraction"] == pytest.approx(w["used_fraction"], rel=1e-15)


def random_batches(seed: int, num_codes: int, levels: int, count: int) -> list[np.ndarray]:
    """Batches of different sizes and shapes; a skewed code distribution (some codes rare or
    never drawn) so that dead codes occur."""
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.full(num_codes, 0.3))
    weights[rng.choice(num_codes, size=num_codes // 4, replace=False)] = 0.0
    weights /= weights.sum()
    shapes = [(7,), (3, 5), (2, 3, 4), (1,), (16,), (4, 1, 2)]
    batches = []
    for b in range(count):
        shape = shapes[b % len(shapes)] if b % 5 else (int(rng.integers(1, 40)),)
        if levels > 1:
            shape = (*shape, levels)
        batches.append(rng.choice(num_codes, size=shape, p=weights).astype(np.int64))
    return batches


def concat(batches: list[np.ndarray], levels: int) -> np.ndarray:
    if levels > 1:
        return np.concatenate([b.reshape(-1, levels) for b in batches])
    return np.concatenate([b.reshape(-1) for b in batches])


# -- the monitor on one process ---------------------------------------------------------------

@pytest.mark.parametrize("levels", [1, 3])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_counts_perplexity_dead_codes_match_numpy(levels, seed):
    K = 24
    batches = random_batches(seed, K, levels, count=40)
    mon = CodebookMonitor(K, levels)
    for b in batches:
        mon.update(torch.from_numpy(b))
    want = reference(concat(batches, levels), K, levels)
    got = mon.compute()
    assert_same(got, want)
    assert mon.n == want[0]["n"] == sum(b.size for b in batches) // levels
    assert any(r["dead_codes"] > 0 for r in got)  # the data do exercise dead codes
    if levels > 1:  # the levels are counted separately
        assert len({tuple(r["usage"]) for r in got}) == levels


@pytest.mark.parametrize("levels", [1, 3])
def test_streaming_equals_all_at_once(levels):
    K = 17
    batches = random_batches(5, K, levels, count=30)
    streamed, once = CodebookMonitor(K, levels), CodebookMonitor(K, levels)
    for b in batches:
        streamed.update(torch.from_numpy(b))
    once.update(torch.from_numpy(concat(batches, levels)))
    assert streamed.compute() == once.compute()
    assert torch.equal(streamed.counts, once.counts)


def test_integer_dtypes_and_int32_from_argmin_are_counted_alike():
    K = 10
    idx = np.random.default_rng(3).integers(0, K, size=(6, 5))
    results = []
    for dtype in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
        mon = CodebookMonitor(K)
        mon.update(torch.from_numpy(idx).to(dtype))
        results.append(mon.compute())
    assert all(r == results[0] for r in results)
    assert_same(results[0], reference(idx, K, 1))


def test_perplexity_bounds():
    K = 32
    one = CodebookMonitor(K)
    one.update(torch.full((5, 7), 11))
    (r,) = one.compute()
    assert r["perplexity"] == 1.0 and r["dead_codes"] == K - 1 and r["used_fraction"] == 1 / K
    assert r["dead_code_ids"] == [k for k in range(K) if k != 11]
    uniform = CodebookMonitor(K)
    for _ in range(3):
        uniform.update(torch.randperm(K))
    (r,) = uniform.compute()
    assert r["perplexity"] == pytest.approx(K, rel=1e-12)
    assert r["dead_codes"] == 0 and r["dead_code_ids"] == [] and r["used_fraction"] == 1.0
    # m codes used equally often: perplexity m; anything else is strictly between 1 and K
    two = CodebookMonitor(K)
    two.update(torch.tensor([3, 9, 3, 9]))
    assert two.compute()[0]["perplexity"] == pytest.approx(2.0, rel=1e-12)
    mixed = CodebookMonitor(K)
    mixed.update(torch.from_numpy(random_batches(0, K, 1, 1)[0]))
    assert 1.0 < mixed.compute()[0]["perplexity"] < K


def test_batch_perplexity_is_bounded_by_batch_size_but_epoch_perplexity_is_not():
    """The reason for epoch-level counts: with batches of B < K codes each batch's perplexity is
    at most B, while the epoch's is K here (each batch a different quarter of the codebook)."""
    K, B = 64, 16
    epoch = CodebookMonitor(K)
    for part in torch.arange(K).split(B):
        batch = CodebookMonitor(K)
        batch.update(part)
        assert batch.compute()[0]["perplexity"] <= B + 1e-9
        epoch.update(part)
    assert epoch.compute()[0]["perplexity"] == pytest.approx(K, rel=1e-12)


@pytest.mark.parametrize("bad, levels, match", [
    (torch.tensor([0.0, 1.0]), 1, "integer dtype"),
    (torch.tensor([True, False]), 1, "integer dtype"),
    (torch.tensor([0, 8]), 1, r"\[0, 8\)"),
    (torch.tensor([-1, 2]), 1, r"\[0, 8\)"),
    (torch.tensor([[0, 1, 2]]), 2, "last axis"),
    (torch.tensor([[0], [1]]), 2, "last axis"),
    (torch.tensor(3), 2, "last axis"),
    (torch.tensor([[0, 9], [1, 1]]), 2, r"\[0, 8\)"),
    (np.array([0, 1]), 1, "torch.Tensor"),
])
def test_bad_input_raises_one_clear_error(bad, levels, match):
    mon = CodebookMonitor(8, levels)
    mon.update(torch.zeros(4, levels, dtype=torch.int64) if levels > 1 else torch.zeros(4, dtype=torch.int64))
    before = mon.compute()
    with pytest.raises(ValueError, match=match):
        mon.update(bad)
    assert mon.compute() == before and mon.n == 4  # a rejected batch counts nothing


def test_out_of_range_check_is_not_fooled_by_narrow_dtypes():
    # 300 does not fit a uint8: the check must not wrap K; and 200 is a valid code of 300
    mon = CodebookMonitor(300)
    mon.update(torch.tensor([0, 200, 255], dtype=torch.uint8))
    assert mon.compute()[0]["usage"][200] == 1
    with pytest.raises(ValueError, match=r"\[0, 5\)"):
        CodebookMonitor(5).update(torch.tensor([7], dtype=torch.uint8))


@pytest.mark.parametrize("args", [(0,), (-3,), (2.5,), (True,), (8, 0), (8, 1.0)])
def test_bad_constructor_arguments(args):
    with pytest.raises(ValueError):
        CodebookMonitor(*args)


def test_validate_false_counts_the_same_valid_data():
    batches = random_batches(9, 12, 2, count=10)
    checked, unchecked = CodebookMonitor(12, 2), CodebookMonitor(12, 2)
    for b in batches:
        checked.update(torch.from_numpy(b))
        unchecked.update(torch.from_numpy(b), validate=False)
    assert checked.compute() == unchecked.compute()


def test_reset_empty_and_compute_twice():
    K = 6
    mon = CodebookMonitor(K, 2)
    (r0, r1) = mon.compute()  # nothing seen yet
    assert r0["n"] == 0 and r0["usage"] == [0] * K and r0["dead_codes"] == K
    assert math.isnan(r0["perplexity"]) and r0["used_fraction"] == 0.0 and r1["level"] == 1
    mon.update(torch.empty(0, 2, dtype=torch.int64))  # an empty batch counts nothing
    assert mon.n == 0
    mon.update(torch.tensor([[0, 1], [2, 1], [2, 5]]))
    first = mon.compute()
    assert first == mon.compute()  # compute does not consume the counts
    assert first[0]["usage"] == [1, 0, 2, 0, 0, 0] and first[1]["usage"] == [0, 2, 0, 0, 0, 1]
    mon.reset()
    assert mon.n == 0 and mon.compute()[0]["n"] == 0 and mon.counts.sum() == 0
    mon.update(torch.tensor([[4, 4]]))
    assert mon.compute()[0]["usage"] == [0, 0, 0, 0, 1, 0] and mon.n == 1


def test_codebook_scalars():
    mon = CodebookMonitor(4, 2)
    mon.update(torch.tensor([[0, 1], [1, 1], [2, 1], [3, 1]]))
    scalars = codebook_scalars(mon.compute())
    assert scalars == {
        "codebook/0/perplexity": pytest.approx(4.0), "codebook/0/dead_codes": 0.0,
        "codebook/0/used_fraction": 1.0,
        "codebook/1/perplexity": pytest.approx(1.0), "codebook/1/dead_codes": 3.0,
        "codebook/1/used_fraction": 0.25,
    }
    assert all(type(v) is float for v in scalars.values())
    assert codebook_scalars(mon.compute()[1]) == {k: v for k, v in scalars.items() if "/1/" in k}


# -- DDP: two gloo processes, uneven shards ---------------------------------------------------

# case name -> (levels, shard of rank 0, shard of rank 1): batch numbers of one seeded stream
DDP_CASES = {
    "uneven": (1, [0, 2, 3, 5, 6, 7, 9], [1, 4, 8]),
    "uneven-levels": (3, [0, 1], [2, 3, 4, 5, 6, 7, 8, 9, 10]),
    "rank1-sees-none": (3, list(range(8)), []),
    "rank0-sees-none": (1, [], list(range(8))),
}
DDP_K = 20


def _ddp_worker(rank: int, world: int, seed: int) -> dict:
    """Each case's batches regenerated from the seed; this rank feeds its shard. Returns, per
    case, the synchronised answer (twice), the local one (sync=False, and sync_dist=False)."""
    out = {}
    for name, (levels, *shards) in DDP_CASES.items():
        batches = random_batches(seed, DDP_K, levels, count=12)
        mon = CodebookMonitor(DDP_K, levels)
        local = CodebookMonitor(DDP_K, levels, sync_dist=False)
        for b in shards[rank]:
            mon.update(torch.from_numpy(batches[b]))
            local.update(torch.from_numpy(batches[b]))
        out[name] = {"synced": mon.compute(), "again": mon.compute(), "local": mon.compute(sync=False),
                     "unsynced_monitor": local.compute(), "forced": local.compute(sync=True),
                     "n": mon.n}
    return out


def test_ddp_uneven_shards_equal_one_process_on_all_data():
    seed = 11
    ranks = run_gloo(_ddp_worker, 2, seed)
    for name, (levels, *shards) in DDP_CASES.items():
        batches = random_batches(seed, DDP_K, levels, count=12)
        everything = CodebookMonitor(DDP_K, levels)
        for b in sorted(shards[0] + shards[1]):
            everything.update(torch.from_numpy(batches[b]))
        want = everything.compute()
        assert_same(want, reference(concat([batches[b] for b in shards[0] + shards[1]], levels),
                                    DDP_K, levels))
        for rank, res in enumerate(ranks):
            r = res[name]
            assert r["synced"] == want, (name, rank)  # exactly: integer counts
            assert r["again"] == want and r["forced"] == want, (name, rank)
            mine = [batches[b] for b in shards[rank]]
            if mine:
                local_want = reference(concat(mine, levels), DDP_K, levels)
                assert_same(r["local"], local_want)
                assert_same(r["unsynced_monitor"], local_want)
            else:  # this rank saw nothing: locally empty, yet it took part with zeros
                assert all(rec["n"] == 0 for rec in r["local"] + r["unsynced_monitor"])
            assert r["n"] == sum(b.size for b in mine) // levels


# -- the VQ-VAE example -----------------------------------------------------------------------

def load_example():
    spec = importlib.util.spec_from_file_location("vqvae_codebook", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_vqvae_example_collapses_and_the_remedy_keeps_codes_alive():
    mod = load_example()
    K = 64
    histories = mod.main(epochs=6, n=1500, seed=0, keep_indices=True)
    assert set(histories) == {"far-init", "data-init+restarts"}
    collapsed, remedied = histories["far-init"][-1], histories["data-init+restarts"][-1]
    assert [h["epoch"] for h in histories["far-init"]] == list(range(1, 7))
    # measured: the far-initialised codebook collapses, the remedy keeps most codes alive
    assert collapsed["dead_codes"] > K // 2 and collapsed["perplexity"] < K / 8
    assert remedied["dead_codes"] < K // 4 and remedied["perplexity"] > K / 4
    assert remedied["dead_codes"] < collapsed["dead_codes"]
    assert remedied["perplexity"] > 4 * collapsed["perplexity"]
    # the example's monitor equals an independent count of every epoch's indices
    for history in histories.values():
        for h in history:
            idx = h["indices"].numpy()
            assert idx.size == 1500 * 8  # every training step's codes, each epoch afresh
            (want,) = reference(idx, K, 1)
            assert_same([{k: h[k] for k in want}], [want])
