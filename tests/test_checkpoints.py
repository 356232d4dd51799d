"""Checkpoints are data, never code: safetensors + JSON, validated; the shipped ones load.

Also the argument validation of ``diffusion.make`` / ``load_pretrained`` / ``train``: values of
the wrong type are errors naming the argument, never truncated by ``int()``.
"""
from __future__ import annotations

import json
import os
import pathlib
import pickle

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file, save

import diffusion
from diffusion import cli
from diffusion.train import (_META_KEY, _read, checkpoint_path, export, load_model, load_pretrained,
                             shipped_checkpoints, train)

torch.set_num_threads(1)

SHIPPED = [("gaussian", 3), ("gaussian", 5), ("gaussian", 10), ("gaussian", 20), ("gaussian", 1000),
           ("uniform", 3), ("uniform", 5), ("uniform", 10), ("uniform", 20)]


class _Touch:
    """Unpickling this calls ``pathlib.Path(marker).touch()``: a stand-in for any shell command."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return pathlib.Path.touch, (pathlib.Path(self.marker),)


def _malicious(tmp_path, kind: str) -> tuple[pathlib.Path, pathlib.Path]:
    marker = tmp_path / f"pwned_{kind}"
    path = tmp_path / f"evil_{kind}.pt"
    payload = {"format": "rcc-diffusion-ema/1", "config": {}, "state": {}, "x": _Touch(marker)}
    if kind == "pickle":
        path.write_bytes(pickle.dumps(payload))
    else:  # torch.save's zip container around the same pickle
        torch.save(payload, path)
    # the payload is real: plain unpickling would create the marker
    probe = tmp_path / "probe"
    pickle.loads(pickle.dumps(_Touch(probe)))
    assert probe.exists()
    return path, marker


@pytest.mark.parametrize("kind", ["pickle", "torch"])
def test_pickle_checkpoint_is_refused_without_running(tmp_path, kind):
    path, marker = _malicious(tmp_path, kind)
    with pytest.raises(ValueError, match="not a safetensors file") as err:
        load_model(path)
    assert str(path) in str(err.value)
    assert not marker.exists()


@pytest.mark.parametrize("kind", ["pickle", "torch"])
def test_cli_refuses_pickle_checkpoint_without_running(tmp_path, capsys, kind):
    path, marker = _malicious(tmp_path, kind)
    out = tmp_path / "x.rccd"
    assert cli.main(["compress", "--checkpoint", str(path), "--num-points", "8", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rcc-diffusion: error: ") and err.count("\n") == 1 and "safetensors" in err
    assert not marker.exists() and not out.exists()


def test_resume_refuses_pickle_state_without_running(tmp_path):
    path, marker = _malicious(tmp_path, "torch")
    with pytest.raises(ValueError, match="not a safetensors file"):
        train("uniform", steps=2, iters=2, hidden=8, batch_size=8, pool_sets=1, progress=False,
              state_path=path, resume=True)
    assert not marker.exists()


def test_shipped_checkpoints_are_safetensors_and_load():
    assert shipped_checkpoints() == sorted(SHIPPED)
    for h, t in SHIPPED:
        p = checkpoint_path(h, t)
        assert p.name == f"{h}_T{t}.safetensors"
        tensors = load_file(p)  # a plain safetensors file: any reader gets the weights
        assert tensors["denoiser.hidden_layers.1.weight"].dtype == torch.float16
        assert tensors["schedule.w"].dtype == torch.float64
    m = load_pretrained("uniform", np.int64(3))  # numpy ints are ints
    assert (m.kind, m.num_steps, m.training) == ("uniform", 3, False)
    assert m.info["command"].startswith("rcc-diffusion train --hierarchy uniform --steps 3")
    w = m.state_dict()["denoiser.hidden_layers.1.weight"]
    assert w.dtype == torch.float32 and torch.equal(w, load_file(checkpoint_path("uniform", 3))[
        "denoiser.hidden_layers.1.weight"].float())


@pytest.mark.parametrize("steps", [3.9, 5.0, True, "5", None])
def test_load_pretrained_rejects_non_integer_steps(steps):
    with pytest.raises(ValueError, match="steps must be an integer"):
        diffusion.load_pretrained("uniform", steps)


@pytest.mark.parametrize("hierarchy, steps", [("uniform", 7), ("Uniform", 5), ("vdm", 5), (["uniform"], 5)])
def test_load_pretrained_lists_what_ships(hierarchy, steps):
    with pytest.raises(ValueError, match="shipped: gaussian T=3, gaussian T=5, .*uniform T=20"):
        diffusion.load_pretrained(hierarchy, steps)


@pytest.mark.parametrize("bad, name", [(dict(steps=3.9), "steps"), (dict(steps=True), "steps"), (dict(steps=0), "steps"),
                                       (dict(hidden=2.5), "hidden"), (dict(num_layers=0), "num_layers"),
                                       (dict(learned_variance=1), "learned_variance"),
                                       (dict(learned_schedule="yes"), "learned_schedule"),
                                       (dict(gamma_min=float("nan")), "gamma_min"),
                                       (dict(gamma_min=6.0), "gamma_min"), (dict(hierarchy=["uniform"]), "hierarchy")])
def test_make_validates_instead_of_truncating(bad, name):
    with pytest.raises(ValueError, match=name):
        diffusion.make(**{"hierarchy": "uniform", "hidden": 8, **bad})
    assert diffusion.make("uniform", steps=np.int32(3), hidden=8).num_steps == 3


@pytest.mark.parametrize("bad, name", [(dict(iters=2.5), "iters"), (dict(iters=True), "iters"),
                                       (dict(batch_size=0), "batch_size"), (dict(seed=-1), "seed"),
                                       (dict(seed=1.0), "seed"), (dict(threads=0), "threads"),
                                       (dict(lr=float("inf")), "lr"), (dict(lr=0), "lr"),
                                       (dict(save_every=0), "save_every"), (dict(warmup=1.5), "warmup"),
                                       (dict(schedule_lr_mult=-1.0), "schedule_lr_mult")])
def test_train_validates_numbers(bad, name):
    args = {"hierarchy": "uniform", "steps": 2, "iters": 2, "hidden": 8, "batch_size": 8, "pool_sets": 1,
            "progress": False, **bad}
    with pytest.raises(ValueError, match=name):
        train(**args)


def _small_export(tmp_path) -> pathlib.Path:
    m = diffusion.make("uniform", steps=2, hidden=8)
    path = tmp_path / "small.safetensors"
    export(m, path, {"note": "test"})
    return path


def _rewrite(path, tensors, meta) -> None:
    path.write_bytes(save(tensors, metadata=None if meta is None else {_META_KEY: json.dumps(meta)}))


@pytest.mark.parametrize("change, match", [
    (lambda t, m: (t, None), "no 'rcc-diffusion' metadata"),
    (lambda t, m: (t, {**m, "format": "rcc-diffusion-ema/1"}), "format"),
    (lambda t, m: (t, {**m, "config": {**m["config"], "hidden": 10**6}}), "needs more weights"),
    (lambda t, m: (t, {**m, "config": {**m["config"], "evil": 1}}), "bad model config"),
    (lambda t, m: (t, {**m, "config": {**m["config"], "steps": 2.5}}), "steps must be an integer"),
    (lambda t, m: (t, {**m, "config": "uniform"}), "bad model config"),
    # a known key that this hierarchy does not take (was a TypeError from the constructor)
    (lambda t, m: (t, {**m, "config": {**m["config"], "hierarchy": "gaussian", "base_variance": "kernel"}}),
     "bad model config"),
    (lambda t, m: ({k: v for k, v in t.items() if k != "schedule.w"}, m), "do not match"),
    (lambda t, m: ({**t, "schedule.w": torch.zeros(3, dtype=torch.float64)}, m), "schedule.w"),
])
def test_crafted_safetensors_give_value_errors(tmp_path, change, match):
    path = _small_export(tmp_path)
    tensors, meta = change(*_read(path))
    _rewrite(path, tensors, meta)
    with pytest.raises(ValueError, match=match) as err:
        load_model(path)
    assert str(path) in str(err.value)


def test_not_a_file_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="no checkpoint"):
        load_model(tmp_path / "missing.safetensors")
    with pytest.raises(ValueError, match="not a checkpoint file"):
        load_model(tmp_path)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_checkpoint_loads_or_raises_value_error(tmp_path, data):
    """Flip, cut or extend a valid export: a model or a ValueError, never another exception."""
    path = tmp_path / "m.safetensors"
    if not path.exists():
        export(diffusion.make("uniform", steps=2, hidden=8), path)
        (tmp_path / "orig").write_bytes(path.read_bytes())
    blob = bytearray((tmp_path / "orig").read_bytes())
    op = data.draw(st.sampled_from(["flip", "cut", "extend"]))
    if op == "flip":
        for _ in range(data.draw(st.integers(1, 4))):
            i = data.draw(st.integers(0, min(len(blob) - 1, 600)))  # the header and the first weights
            blob[i] ^= 1 << data.draw(st.integers(0, 7))
    elif op == "cut":
        blob = blob[: data.draw(st.integers(0, len(blob) - 1))]
    else:
        blob += data.draw(st.binary(min_size=1, max_size=16))
    path.write_bytes(bytes(blob))
    try:
        m = load_model(path)
    except ValueError:
        return
    assert isinstance(m, diffusion.Hierarchy)


def test_export_metadata_must_be_json(tmp_path):
    m = diffusion.make("uniform", steps=2, hidden=8)
    with pytest.raises(ValueError, match="JSON"):
        export(m, tmp_path / "e.safetensors", {"bad": object()})
    assert not os.path.exists(tmp_path / "e.safetensors")


@pytest.mark.parametrize("tamper", ["no generator", "negative iteration", "bad group count", "float ema count"])
def test_tampered_training_state_is_a_value_error(tmp_path, tamper):
    args = dict(hierarchy="uniform", steps=2, iters=3, hidden=8, batch_size=8, pool_sets=1, progress=False,
                state_path=tmp_path / "s.state")
    train(**args)
    tensors, meta = _read(tmp_path / "s.state")
    if tamper == "no generator":
        del tensors["generator"]
    elif tamper == "negative iteration":
        meta["iteration"] = -1
    elif tamper == "bad group count":
        meta["optimizer"]["param_groups"] *= 2
    else:
        meta["ema"]["num_updates"] = 2.5
    _rewrite(tmp_path / "s.state", tensors, meta)
    with pytest.raises(ValueError, match="s.state is not a usable training state"):
        train(**args, resume=True)
