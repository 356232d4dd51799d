"""The bounds `rcc bench` sets beside real bits: D_CS (the least any exact scheme pays; Goc &
Flamich, ISIT 2024) and the TV bound P(K > N) of a race cut at N candidates."""
from __future__ import annotations

import math

import numpy as np
import pytest

from rcc import bench
from rcc._index_law import pfr_index_pmf
from rcc.bounds import dcs_bits_equal_variance


@pytest.mark.parametrize("kl", [2.0, 6.0, 10.0])
def test_tv_bound_is_the_exact_index_tail(kl):
    ns = [1, 4, 64, 1024]
    tails = [bench.tv_bound(kl, n) for n in ns]
    assert tails[0] == pytest.approx(1.0 - pfr_index_pmf(kl, 1)[0], abs=1e-9)
    for n, t in zip(ns, tails):
        assert t == pytest.approx(1.0 - float(np.sum(pfr_index_pmf(kl, n))), abs=1e-9)
    assert all(a > b for a, b in zip(tails, tails[1:])) and 0.0 < tails[-1] < 1.0


def test_core_and_equal_variance_rows_carry_dcs_and_tv():
    (row,) = bench.pfr_rows(kls=(2.0,), num_seeds=8)
    assert row["kl_bits"] < row["dcs_bits"] < row["kl_bits"] + 4.0
    (t,) = bench.pfr_truncated_rows(log2_candidates=(10,), num_seeds=4)
    assert t["dcs_bits"] == pytest.approx(dcs_bits_equal_variance(12.0))
    assert t["tv_bound"] == pytest.approx(bench.tv_bound(12.0, 2**10)) and 0.3 < t["tv_bound"] < 0.9
    rows = bench.equal_variance_rows(kls=(4,), extra_log2=(2, 8), num_seeds=8, methods=("pfr", "mrc"))
    pfr = [r for r in rows if r["method"] == "pfr"]
    assert pfr[0]["tv_bound"] > pfr[1]["tv_bound"] > 0.0  # more candidates: a smaller bound
    assert all(math.isnan(r["tv_bound"]) for r in rows if r["method"] == "mrc")
    assert all(r["dcs_bits"] == pytest.approx(dcs_bits_equal_variance(4.0)) for r in rows)


def test_compress_rows_carry_the_chunks_dcs_floor():
    rows = bench.compress_rows(dim=128, num_seeds=1)
    for r in rows:
        assert r["kl_bits"] < r["dcs_bits"] < r["kl_bits"] + 4.0 * r["chunks"], r
    assert rows[0]["dcs_bits"] == rows[1]["dcs_bits"]  # one floor per message layout, same q and p
