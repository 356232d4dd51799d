"""`rcc fuzz` and `rcc-diffusion fuzz`: mutated and crafted blobs and files give a result of the
declared shape or a DecodeError.

The fast tests run a small sample of every target and mutation; the slow ones are the runs
recorded in docs/reliability.md (``rcc fuzz --cases 2000``, ``rcc-diffusion fuzz --cases 200``).
"""

import json

import pytest

from rcc import fuzz


def _failures(rows):
    return sum(r[k] for r in rows for k in fuzz.FAILURES)


def test_fuzz_smoke_every_target_and_mutation(tmp_path):
    path = tmp_path / "fuzz.json"
    assert fuzz.run(cases=len(fuzz.TARGETS) * 12, seed=1, json_path=str(path), progress=False) == 0
    report = json.loads(path.read_text())
    rows = report["rows"]
    assert {r["target"] for r in rows} == set(fuzz.TARGETS)
    assert {r["mutation"] for r in rows} == {"raw", "reframed", "huge", "prior"}
    assert _failures(rows) == 0
    # raw mutations, crafted huge shapes and wrong priors never decode
    for r in rows:
        if r["mutation"] in ("raw", "huge", "prior"):
            assert r["decoded"] == 0, r
    assert report["crashes"] == []


def test_fuzz_counts_a_decoder_that_accepts_garbage():
    """The harness itself: a decoder that ignores its input is caught as 'accepted'/'wrong'."""
    import numpy as np

    rng = np.random.default_rng(0)
    case = fuzz.TARGETS["pfr"](rng, 3)
    assert fuzz._classify(case.sample + 1.0, case, "raw", case.blob) == "accepted"
    assert fuzz._classify(case.sample + 1.0, case, "prior", case.blob) == "wrong"
    assert fuzz._classify(case.sample, case, "raw", case.blob) == "decoded"


def test_outcome_counts_a_base_exception_as_a_crash():
    """constriction's PanicException derives from BaseException: a crash to count, not an abort
    of the run; tracemalloc is stopped whatever happens."""
    import tracemalloc

    class Panic(BaseException):
        pass

    def panic():
        raise Panic("constriction panicked")

    kind, out, _ = fuzz.outcome(panic, 10.0, 2**30)
    assert kind.startswith("crash:Panic") and out is None
    assert not tracemalloc.is_tracing()
    with pytest.raises(KeyboardInterrupt):
        fuzz.outcome(lambda: (_ for _ in ()).throw(KeyboardInterrupt()), 10.0, 2**30)
    assert not tracemalloc.is_tracing()


def test_fuzz_rejects_bad_case_count():
    with pytest.raises(ValueError, match="cases"):
        fuzz.run(cases=0, progress=False)


def test_diffusion_fuzz_smoke_every_target(tmp_path):
    """One case of each diffusion target through the shared runner: no failure, every target."""
    pytest.importorskip("torch")
    from diffusion import fuzz as dfuzz

    path = tmp_path / "fuzz.json"
    assert dfuzz.run(cases=len(dfuzz.TARGETS), seed=0, json_path=str(path), progress=False) == 0
    rows = json.loads(path.read_text())["rows"]
    assert {r["target"] for r in rows} == set(dfuzz.TARGETS) and _failures(rows) == 0
    with pytest.raises(ValueError, match="cases"):
        dfuzz.run(cases=0, progress=False)


@pytest.mark.slow
def test_fuzz_full_runs(tmp_path):
    pytest.importorskip("torch")
    from diffusion import fuzz as dfuzz

    for name, run, cases in (("rcc", fuzz.run, 2000), ("diffusion", dfuzz.run, 200)):
        path = tmp_path / f"{name}.json"
        assert run(cases=cases, seed=0, json_path=str(path), progress=False) == 0
        assert _failures(json.loads(path.read_text())["rows"]) == 0
