"""Codec: lossless round trips per channel, progressive prefixes, corruption, fresh-process decoding."""
from __future__ import annotations

import hashlib
import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import diffusion
from diffusion import codec, data
from diffusion.train import checkpoint_path

torch.set_num_threads(1)

import rcc
from rcc.coding import decode_varint

X = data.swirl()[:48]


def _model(hierarchy, steps=5):
    """The shipped checkpoint if there is one, else a small seeded model (float64)."""
    if checkpoint_path(hierarchy, steps).exists():
        return diffusion.load_pretrained(hierarchy, steps)
    torch.manual_seed(0)
    return diffusion.make(hierarchy, steps=steps, hidden=32).eval()


@pytest.fixture(scope="module")
def uniform_model():
    return _model("uniform")


@pytest.fixture(scope="module")
def gaussian_model():
    return _model("gaussian")


def _channels():
    return [("uniform", "ideal"), ("gaussian", "ideal"), ("uniform", "uq"), ("gaussian", "pfr")]


@pytest.mark.parametrize("hierarchy,channel", _channels())
def test_lossless_round_trip(hierarchy, channel, uniform_model, gaussian_model):
    m = uniform_model if hierarchy == "uniform" else gaussian_model
    res = codec.encode(m, X, channel=channel, seed=11)
    out = codec.decode(res.blob, m)
    np.testing.assert_array_equal(out.x, X)
    assert out.x.dtype == np.uint8 and out.complete and out.steps_decoded == m.num_steps
    np.testing.assert_array_equal(out.z, res.latents[-1])
    assert len(res.step_bytes) == m.num_steps and res.z1.shape == X.shape
    assert len(res.blob) == res.prior_bytes + sum(res.step_bytes) + res.check_bytes + res.data_bytes + res.header_bytes
    assert res.check_bytes == codec.CHECK_BYTES * (m.num_steps + 2)  # the header's, z_1's and each step's
    assert np.all(res.kl_bits >= 0) and res.prior_kl_bits >= 0
    # z_1's KL is the NELBO's prior term at this data (q(z_1 | x) does not depend on the chain)
    with torch.no_grad():
        prior_kl = float(m.prior_kl(m.encode_data(X)).sum()) / np.log(2)
    np.testing.assert_allclose(res.prior_kl_bits, prior_kl, rtol=1e-4)
    real, kl = res.chain_bits, res.prior_kl_bits + res.kl_bits_total
    if channel == "uq":
        # exact channel: index entropy ~ KL, plus < 64 bits of framing per step
        assert real <= 1.25 * kl + 64 * (m.num_steps + 1), (real, kl)
    elif channel == "pfr":
        # chunked, truncated PFR: loose sanity bound (measured ~1.3x KL; see docs/diffusion.md)
        assert real <= 3.0 * kl + 200 * (m.num_steps + 1), (real, kl)
    # the data term costs about its information content (one ANS stream: < 64 bits overhead)
    assert 8 * res.data_bytes <= res.data_nll_bits + 64


def test_uq_bits_track_kl_on_the_full_set(uniform_model):
    """UQDM's promise: file size ~ NELBO. On the 1024-point set every step's real bits lie within
    10 % + 80 bits of its KL, all steps together (one rcc.UQStream) cost their information
    content plus one stream's framing (at most 88 + 8 T bits: 32 of check symbols, <= 32 of ANS
    tail, a 16-bit length prefix, a one-byte word-table entry per step and the last byte's
    rounding), and
    the whole file lies within 1.5 % of KL + data term."""
    x = data.swirl()
    res = codec.encode(uniform_model, x, channel="uq", seed=0)
    info = np.array([d["info_bits"] for d in [res.prior_info] + res.step_info])
    for real, kl, inf in zip([res.prior_bits, *res.step_bits], [res.prior_kl_bits, *res.kl_bits], info):
        assert abs(real - kl) <= 0.10 * kl + 80, (real, kl)
        assert abs(real - inf) <= 0.002 * inf + 48, (real, inf)  # a step's share of one stream
    real = res.chain_bits
    assert real == pytest.approx(8 * (res.prior_bytes + sum(res.step_bytes)), abs=1e-6)
    assert info.sum() - 1e-6 <= real <= info.sum() + 88 + 8 * uniform_model.num_steps, (real, info.sum())
    ideal = res.prior_kl_bits + res.kl_bits_total + res.data_nll_bits
    assert res.total_bits <= 1.015 * ideal + 200
    np.testing.assert_array_equal(codec.decode(res.blob, uniform_model).x, x)


@pytest.mark.parametrize("hierarchy,channel", [("uniform", "uq"), ("gaussian", "pfr"), ("gaussian", "ideal")])
def test_progressive_prefix_decoding(hierarchy, channel, uniform_model, gaussian_model):
    """A byte prefix of the file decodes the first k steps: exactly ``prefix_bytes[k - 1]`` bytes
    hold them (the latent equals the encoder's, bit for bit; the decoder finds the step count by
    itself), one byte fewer holds k - 1 and asking it for k is a DecodeError."""
    m = uniform_model if hierarchy == "uniform" else gaussian_model
    res = codec.encode(m, X, channel=channel, seed=5)
    T = m.num_steps
    assert len(res.prefix_bytes) == T and res.prefix_bytes == sorted(res.prefix_bytes)
    assert res.prefix_bytes[-1] < len(res.blob) and res.prefix_bytes[0] > res.head_bytes
    psnrs = []
    for k in range(0, T + 1):
        n = res.prefix_bytes[k - 1] if k else res.head_bytes
        out = codec.decode(res.blob[:n], m, reconstruct=True)
        assert out.x is None and out.steps_decoded == k and not out.complete
        assert codec.decode(res.blob[:n], m, num_steps=k).steps_decoded == k
        if k:
            np.testing.assert_array_equal(out.z, res.latents[k - 1])
            assert codec.decode(res.blob[:n - 1], m).steps_decoded == k - 1
            with pytest.raises(rcc.DecodeError, match=f"truncated: its {n - 1} bytes hold {k - 1} of the {T} steps"):
                codec.decode(res.blob[:n - 1], m, num_steps=k)
        for rec in (out.denoised, out.ancestral, out.flow):
            assert rec.shape == X.shape and rec.dtype == np.uint8
        psnrs.append(codec.psnr(out.denoised, X))
    # reconstructions improve with the bits received: the last prefix beats the empty one
    assert psnrs[-1] > psnrs[0] + 10
    # a prefix decoding of k steps agrees with the full file's
    full = codec.decode(res.blob, m, num_steps=2)
    np.testing.assert_array_equal(full.z, res.latents[1])
    # all T steps without the data term: a prefix, no x
    out = codec.decode(res.blob[:res.prefix_bytes[-1]], m)
    assert out.steps_decoded == T and out.x is None and not out.complete


def test_corrupted_files_raise_clear_errors(uniform_model, gaussian_model):
    m = uniform_model
    res = codec.encode(m, X, channel="uq", seed=3)
    blob = bytearray(res.blob)
    for pos in (len(blob) // 2, len(blob) - 2, 5):
        bad = bytearray(blob)
        bad[pos] ^= 0x10
        with pytest.raises(codec.CodecError):
            codec.decode(bytes(bad), m)
    with pytest.raises(rcc.DecodeError, match="data term is corrupted or truncated"):
        codec.decode(bytes(blob[:-7]), m)
    cut = codec.decode(bytes(blob[:-7]), m, num_steps=m.num_steps)  # the steps alone are fine
    np.testing.assert_array_equal(cut.z, res.latents[-1])
    assert cut.x is None and not cut.complete
    with pytest.raises(rcc.DecodeError, match="magic"):
        codec.decode(b"XX" + bytes(blob[2:]), m)
    with pytest.raises(ValueError, match="hierarchy"):
        codec.decode(bytes(blob), gaussian_model)
    other = diffusion.make("uniform", steps=m.num_steps, hidden=16)
    with pytest.raises(rcc.DecodeError, match="header fails its check"):  # before any work
        codec.decode(bytes(blob), other)
    # a corrupted stream inside a prefix (no CRC) is caught by the channel: the first pop reads
    # the top of the ANS stack (stored first, after the record's length and table) and its
    # check symbol, while decoding z_1
    pos = res.header_bytes - 4 + codec.CHECK_BYTES  # after the header and its check
    for _ in range(m.num_steps + 1):  # the payload length, then T table entries (z_1 and T - 1 steps)
        _, pos = decode_varint(bytes(blob), pos)
    bad = bytearray(blob)
    for j in range(pos, pos + 8):  # the ANS state (top two words), where the check symbol is
        bad[j] ^= 0xFF
    n = res.prefix_bytes[0]
    with pytest.raises(rcc.DecodeError, match="check symbol"):
        codec.decode(bytes(bad[:n]), m, num_steps=1)
    # a prefix that cuts the first step's part of the stream is reported as truncated
    with pytest.raises(rcc.DecodeError, match="truncated"):
        codec.decode(bytes(blob[: n - 1]), m, num_steps=1)


def test_both_chunk_layouts_round_trip(gaussian_model):
    """The chunked channels' layout ("even": equal-size chunks, no sizes sent; "kl": KL-balanced
    chunks, sizes sent) is read back from each step's payload, so either file decodes as is."""
    res = {}
    for layout, size_multiple in (("even", "auto"), ("kl", "auto"), ("kl", 2)):
        r = codec.encode(gaussian_model, X, channel="pfr", seed=5, layout=layout, size_multiple=size_multiple)
        np.testing.assert_array_equal(codec.decode(r.blob, gaussian_model).x, X)
        if layout == "even":
            assert [i["size_multiple"] for i in r.step_info] == [1] * gaussian_model.num_steps
        res[layout, size_multiple] = r
    assert res["kl", 2].blob != res["kl", "auto"].blob != res["even", "auto"].blob
    assert [i["size_multiple"] for i in res["kl", 2].step_info] == [2] * gaussian_model.num_steps
    with pytest.warns(DeprecationWarning, match="size_multiple"):  # the old name, one more release
        old = codec.encode(gaussian_model, X, channel="pfr", seed=5, layout="kl", size_step=2)
    assert old.blob == res["kl", 2].blob


def test_bad_arguments(uniform_model, gaussian_model):
    with pytest.raises(ValueError, match="layout"):
        codec.encode(gaussian_model, X, channel="pfr", layout="zip")
    with pytest.raises(ValueError, match="applies to the 'kl' layout"):
        codec.encode(gaussian_model, X, channel="pfr", layout="even", size_multiple=4)
    with pytest.raises(ValueError, match="uint8"):
        codec.encode(uniform_model, X.astype(np.int64), channel="ideal")
    with pytest.raises(ValueError, match="shape"):
        codec.encode(uniform_model, X[:, :1], channel="ideal")
    with pytest.raises(ValueError, match="channel"):
        codec.encode(uniform_model, X, channel="zip")
    with pytest.raises(ValueError, match="uniform hierarchy"):
        codec.encode(gaussian_model, X, channel="uq")


def test_distortion_measures():
    x = data.swirl()
    assert codec.psnr(x, x) == float("inf")
    y = x.astype(np.int64)
    y[:, 0] += 1
    # one of the two coordinates off by one everywhere: MSE 1/2
    assert codec.psnr(y, x) == pytest.approx(10 * np.log10(255**2 / 0.5), rel=1e-12)
    assert codec.sliced_wasserstein(x, x) == 0.0
    assert codec.sliced_wasserstein(x.astype(float) + 3.0, x) == pytest.approx(3.0 * np.mean(
        np.abs(np.sum(np.random.default_rng(0).standard_normal((256, 2)) /
                      np.linalg.norm(np.random.default_rng(0).standard_normal((256, 2)), axis=1, keepdims=True), axis=1))),
        rel=1e-9)


@pytest.mark.parametrize(
    "hierarchy,channel",
    [
        ("uniform", "uq"),
        ("gaussian", "pfr"),
    ],
)
def test_fresh_process_decodes_bit_for_bit(tmp_path, hierarchy, channel, uniform_model, gaussian_model):
    """Encode here (1 thread), decode in a new interpreter with 2 threads: same x, same latents."""
    model = uniform_model if hierarchy == "uniform" else gaussian_model
    res = codec.encode(model, X, channel=channel, seed=9)
    f = tmp_path / "swirl.rd"
    f.write_bytes(res.blob)
    script = textwrap.dedent(
        f"""
        import hashlib, numpy as np, torch, diffusion
        from diffusion import codec
        from diffusion.train import checkpoint_path
        torch.set_num_threads(2)
        if checkpoint_path({hierarchy!r}, 5).exists():
            m = diffusion.load_pretrained({hierarchy!r}, 5)
        else:
            torch.manual_seed(0)
            m = diffusion.make({hierarchy!r}, steps=5, hidden=32).eval()
        out = codec.decode(open({str(f)!r}, "rb").read(), m)
        print(hashlib.sha256(out.x.tobytes()).hexdigest(), hashlib.sha256(out.z.tobytes()).hexdigest())
        """
    )
    env = dict(os.environ, OMP_NUM_THREADS="2")
    got = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert got.returncode == 0, got.stderr
    hx, hz = got.stdout.split()
    assert hx == hashlib.sha256(X.tobytes()).hexdigest()
    assert hz == hashlib.sha256(res.latents[-1].tobytes()).hexdigest()


# ------------------------------------------------------------------------------------ properties
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra.numpy import arrays  # noqa: E402


@settings(max_examples=8, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(x=arrays(np.uint8, st.tuples(st.integers(1, 12), st.just(2))), seed=st.integers(0, 2**40))
def test_any_uint8_points_round_trip(x, seed, uniform_model):
    """Lossless for any points in 0..255 (far from the swirl too), any seed."""
    res = codec.encode(uniform_model, x, channel="uq", seed=seed)
    np.testing.assert_array_equal(codec.decode(res.blob, uniform_model).x, x)


@settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_corrupted_prefix_without_crc_never_crashes(data, uniform_model):
    """A byte prefix (no CRC to check) with flipped bytes and any step count: a DecodeError, or the
    latent of the right shape, never another exception or a hang (correctness of the latent:
    tests/test_diffusion_codec_hardening.py)."""
    res = codec.encode(uniform_model, X, channel="uq", seed=2)
    n = data.draw(st.integers(0, len(res.blob)))
    blob = bytearray(res.blob[:n])
    for pos in data.draw(st.lists(st.integers(0, max(n - 1, 0)), max_size=3)):
        if n:
            blob[pos] ^= data.draw(st.integers(1, 255))
    k = data.draw(st.integers(0, uniform_model.num_steps))
    try:
        out = codec.decode(bytes(blob), uniform_model, num_steps=k)
    except rcc.DecodeError:
        return
    assert out.steps_decoded == k
    if k:  # a verified step: the header (N) is right too; with no step nothing is verified
        assert out.z.shape == X.shape


@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(junk=st.binary(max_size=64), keep=st.integers(0, 40))
def test_garbage_raises_decode_error(junk, keep, uniform_model):
    """Garbage raises rcc.DecodeError; a valid header followed by garbage too, or it reads as a
    prefix that holds no step (an ideal-channel step needs 64 bytes here): never anything else."""
    good = codec.encode(uniform_model, X[:4], channel="ideal", seed=1).blob
    with pytest.raises(rcc.DecodeError):
        codec.decode(junk, uniform_model)
    try:
        out = codec.decode(good[: min(keep, 8)] + junk, uniform_model)
    except rcc.DecodeError:
        return
    assert out.steps_decoded == 0 and out.x is None and not out.complete


def test_truncation_tradeoff_reports_bits_bias_and_time(tmp_path):
    """`rcc-diffusion tradeoff` on a tiny grid: real bits, the sent chain's excess KL over the
    ideal channel (bias of the truncated races), time, the D_CS floor of the chunking, and the
    plot."""
    from diffusion.report import truncation_tradeoff

    rows = truncation_tradeoff(out_dir=tmp_path, steps=3, grid=[{"channel": "pfr", "chunk_bits": 8.0, "num_candidates": n} for n in (2**8, 2**12)],
                               verbose=False, dcs_chunks=2)
    assert [r["num_candidates"] for r in rows] == [2**8, 2**12]
    # one D_CS floor per chunking, from its least biased file (the larger budget): at least that
    # file's KL + data term (D_CS >= KL chunk by chunk)
    assert rows[0]["dcs_floor"] == rows[1]["dcs_floor"] and rows[0]["dcs_floor_from_row"] == 2
    assert rows[1]["kl_plus_data"] < rows[1]["dcs_floor"] < rows[0]["kl_plus_data"]
    for r in rows:
        assert r["real"] > 0 and r["encode_seconds"] > 0 and np.isfinite(r["bias_excess"])
    # a budget 16 times larger is less biased
    assert rows[1]["bias_excess"] < rows[0]["bias_excess"]
    assert (tmp_path / "truncation_tradeoff.png").stat().st_size > 0


def test_sample_lean_measures_the_pull_towards_the_prior():
    """sample_lean: 0 +- se for exact samples of q, 1 at p's mean, clearly > 0 for a race cut at
    a few candidates; the chunked channel reports it per step."""
    rng = np.random.default_rng(0)
    q_loc, q_scale, p_loc = rng.normal(size=4000), np.full(4000, 0.3), np.zeros(4000)
    lean, se = codec.sample_lean(q_loc + q_scale * rng.normal(size=4000), q_loc, q_scale, p_loc)
    assert abs(lean) < 3 * se and 0 < se < 0.01
    assert codec.sample_lean(p_loc, q_loc, q_scale, p_loc)[0] == pytest.approx(1.0)
    assert codec.sample_lean(q_loc, q_loc, q_scale, q_loc) == (0.0, math.inf)
    q, p = rcc.Gaussian(q_loc, 1.0), rcc.Gaussian(p_loc, 1.0)  # equal variances: every race is cut
    rep = rcc.compress(q, p, method=rcc.PFR(max_candidates=4), chunk_bits=4.0)
    lean, se = codec.sample_lean(rep.sample, q_loc, 1.0, p_loc)
    assert lean > 10 * se
    res = codec.encode(_model("gaussian", 3), X, channel="pfr", seed=1)
    assert all(np.isfinite(i["lean"]) and i["lean_se"] > 0 for i in res.step_info)


def test_report_shows_what_the_step_checks_cost(uniform_model):
    """`rcc-diffusion report` tables and JSON carry the checks: 16 bits a step, 16 for z_1 and 16 for the header."""
    from diffusion import report

    r = report.evaluate(uniform_model, x=X, channel="uq", progressive=False)
    assert r["check_bytes"] == 2 * (uniform_model.num_steps + 2)
    assert r["checks"] == pytest.approx(16 * (uniform_model.num_steps + 2) / X.size)
    assert r["real_total"] == pytest.approx(8 * r["file_bytes"] / X.size)
    assert f"checks {r['checks']:.4f} ({r['check_bytes']} bytes: header, z_1 and steps)" in report.format_steps(r)
    assert report.format_steps(r).splitlines()[2].split()[0] == "z_1"
    assert "checks" in report.format_totals([r]).splitlines()[0]


def test_shared_randomness_is_rcc_random_under_derived_seeds(uniform_model, monkeypatch):
    """Every channel seed comes from rcc.random (Philox) under rcc.random.derive_seed(seed, path):
    step i's channel seed is derive_seed(seed, 2, i), z_1's (sent as step T + 1)
    derive_seed(seed, 2, T + 1); the ideal channel's noise row n is uniforms(., DOMAIN_CANDIDATE,
    0, n, D), so a point's noise does not depend on N; the uq stream's seed is derive_seed(seed,
    1). Nothing is seeded by arithmetic on the seed."""
    from diffusion._exact import _shared_uniforms, _step_seed

    seed, T = 2**40 + 17, uniform_model.num_steps
    u = rcc.random.uniforms(rcc.random.derive_seed(seed, 2, T + 1), rcc.random.DOMAIN_CANDIDATE, 0, np.arange(5), 2)
    np.testing.assert_array_equal(_shared_uniforms(_step_seed(seed, T + 1), (5, 2)), u)
    np.testing.assert_array_equal(_shared_uniforms(_step_seed(seed, T + 1), (3, 2)), u[:3])
    from diffusion._exact import _model64

    res = codec.encode(uniform_model, X[:5], channel="ideal", seed=seed)
    m64 = _model64(uniform_model)
    with torch.no_grad():
        q = m64.top_posterior(m64.encode_data(X[:5]))
        np.testing.assert_array_equal(res.z1, q.sample(torch.as_tensor(u - 0.5)).numpy())
    assert _step_seed(seed, 4) == rcc.random.derive_seed(seed, 2, 4)
    seeds = {_step_seed(s, i) for s in range(50) for i in range(1, 50)}  # seed * K + i collided here
    assert len(seeds) == 50 * 49 and all(0 <= s < 2**63 for s in seeds)
    started = []
    monkeypatch.setattr(rcc, "UQStream", lambda seed: started.append(seed) or pytest.fail("stop"))
    with pytest.raises(pytest.fail.Exception):
        codec.encode(uniform_model, X, channel="uq", seed=seed)
    assert started == [rcc.random.derive_seed(seed, 1)]


@pytest.mark.parametrize("old", [4, 5, 6])
def test_older_versions_are_refused(uniform_model, old):
    """Format 5 changed the shared randomness, format 6 the header (any data shape) and the step
    layout, format 7 sends z_1: older files are refused by name, not misdecoded."""
    blob = bytearray(codec.encode(uniform_model, X[:4], channel="ideal", seed=0).blob)
    blob[2] = (old << 4) | (blob[2] & 0x0F)
    with pytest.raises(rcc.DecodeError, match=f"unsupported format version {old}"):
        codec.decode(bytes(blob), uniform_model)


def test_report_sets_the_dcs_floor_of_each_chunked_push_beside_its_bits(gaussian_model):
    """`report.chunk_floors`: per push (z_1, then each step) sum_c D_CS[q_c || p_c] of the chunks
    the file used, exact (se 0) when every chunk is computed, and a sampled estimate within 4 of
    its standard errors of the exact value; every floor lies between the push's KL and KL + 4
    bits a chunk (D_CS - KL of one chunk is 1.5-3 bits at 8-12 bits of KL); evaluate() puts it
    in the step table."""
    from diffusion import report

    x = X[:16]
    res = codec.encode(gaussian_model, x, channel="pfr", seed=2)
    exact = report.chunk_floors(gaussian_model, x, res, sample=10**6)
    assert len(exact) == gaussian_model.num_steps + 1 and all(se == 0.0 for _, se in exact)
    for (floor, _), info, kl in zip(exact, [res.prior_info] + res.step_info, [res.prior_kl_bits, *res.kl_bits]):
        chunks = len(info["chunk_sizes"])
        assert sum(info["chunk_sizes"]) == x.size
        np.testing.assert_allclose(np.sum(info["chunk_kl_bits"]), kl, rtol=1e-9, atol=1e-9)
        assert kl - 1e-6 <= floor <= kl + 4.0 * chunks, (floor, kl, chunks)
    k = int(np.argmax([len(i["chunk_sizes"]) for i in res.step_info])) + 1  # the push with most chunks
    assert len(res.step_info[k - 1]["chunk_sizes"]) >= 3
    est = report.chunk_floors(gaussian_model, x, res, sample=2, seed=1)
    assert est[k][1] > 0 and abs(est[k][0] - exact[k][0]) <= 4 * est[k][1]
    r = report.evaluate(gaussian_model, x=x, channel="pfr", seed=2, progressive=False, dcs_chunks=2)
    assert all("dcs" in s and "dcs_se" in s for s in [r["prior"], *r["steps"]])
    assert "D_CS" in report.format_steps(r).splitlines()[1]


def test_prefix_bits_of_real_and_ideal_files(uniform_model):
    """report.prefix_bits: a real file's prefix sizes; for the ideal channel (raw float64 latents
    in the file) the KL of z_1 and of each step, plus the header and 16-bit checks a real file
    would carry, so the progressive rate of an ideal file is comparable with a real one."""
    from diffusion import report

    real = codec.encode(uniform_model, X, channel="uq", seed=4)
    np.testing.assert_array_equal(report.prefix_bits(real), 8.0 * np.array([real.head_bytes, *real.prefix_bytes]))
    ideal = codec.encode(uniform_model, X, channel="ideal", seed=4)
    bits = report.prefix_bits(ideal)
    head = 8 * (ideal.header_bytes - 4 + 2 * codec.CHECK_BYTES) + ideal.prior_kl_bits
    np.testing.assert_allclose(bits, head + np.concatenate([[0.0], np.cumsum(ideal.kl_bits + 16.0)]))
    assert bits[0] < 8 * ideal.head_bytes  # not the raw latent's 64 bits a value


@pytest.mark.parametrize("hierarchy", ["uniform", "gaussian"])
def test_top_kl_is_evaluated_once_per_distinct_value(hierarchy, uniform_model, gaussian_model):
    """codec._top_kl_bits (z_1's KL from the distinct values of q's location) equals the direct
    sum over every element, and falls back to it when a field of the pair is not constant."""
    from diffusion._exact import _model64, _prior64

    m = _model64(uniform_model if hierarchy == "uniform" else gaussian_model)
    with torch.no_grad():
        f = m.encode_data(X)
        q, p = m.top_posterior(f), _prior64(m, f, m.num_steps + 1)
        direct = float(m.step_kl(q, p).sum()) / math.log(2)
        assert codec._top_kl_bits(m, q, p) == pytest.approx(direct, rel=1e-12)
        p.loc = p.loc + torch.linspace(0, 0.1, p.loc.numel(), dtype=p.loc.dtype).reshape(p.loc.shape)
        assert codec._top_kl_bits(m, q, p) == pytest.approx(float(m.step_kl(q, p).sum()) / math.log(2), rel=1e-12)
