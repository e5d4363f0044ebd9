"""The reduced acoustic model: pocketsphinx's file formats, the derivation, the cache, and ARCTIC decoded with it."""

from __future__ import annotations

import os

import numpy as np
import pytest

from emodiffhead.audio import phonemes as P
from emodiffhead.audio import reduced_model as R
from emodiffhead.audio.io import load_audio
from emodiffhead.animate.visemes import BILABIALS


@pytest.fixture(scope="module")
def src():
    return P.model_dir() / "en-us"


@pytest.fixture(scope="module")
def shipped(src):
    sen2cb, n_ci = R.read_senone_codebooks(src / "mdef")
    return (R.read_gaussians(src / "means"), R.read_gaussians(src / "variances"), R.read_sendump(src / "sendump"),
            sen2cb, n_ci)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EMODIFFHEAD_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _segments(cfg: dict, clip) -> list[tuple]:
    import pocketsphinx as ps

    d = ps.Decoder(**cfg)
    d.reinit_feat()
    d.start_utt()
    d.process_raw(P._pcm16(clip), full_utt=True)
    d.end_utt()
    return [(s.word, s.start_frame, s.end_frame, s.ascore) for s in d.seg()]


def test_reads_the_shipped_model(shipped):
    means, var, mixw, sen2cb, n_ci = shipped
    assert means.shape == var.shape == (42, 3, 128, 13) and mixw.shape == (3, 128, len(sen2cb))
    assert n_ci == 126 and sen2cb.min() == 0 and sen2cb.max() == 41
    assert np.bincount(sen2cb[:n_ci]).tolist() == [3] * 42
    # every senone's weights are a distribution (8-bit quantised: within a few %)
    total = np.exp(-mixw.astype(np.float64) * R._LOG_BASE).sum(1)
    assert 0.85 < total.min() and total.max() < 1.05


def test_all_gaussians_kept_is_the_shipped_model(shipped, src, tmp_path, example_audio):
    """Writers and readers round-trip: reducing to all 128 gives the shipped arrays, and pocketsphinx decodes ARCTIC
    with the files written here exactly as with the shipped ones."""
    means, var, mixw, sen2cb, n_ci = shipped
    m, v, q = R.reduce_model(means, var, mixw, sen2cb, n_ci, 128)
    assert np.array_equal(m, means) and np.array_equal(v, var) and np.array_equal(q, mixw)
    R.derive(src, tmp_path, 128)
    assert np.array_equal(R.read_sendump(tmp_path / "sendump"), mixw)
    assert np.array_equal(R.read_gaussians(tmp_path / "means"), means)
    clip = load_audio(example_audio)
    cfg = P._allphone_config("full")
    written = dict(cfg, mean=str(tmp_path / "means"), var=str(tmp_path / "variances"), sendump=str(tmp_path / "sendump"))
    assert len(_segments(cfg, clip)) >= 25 and _segments(written, clip) == _segments(cfg, clip)


def test_reduction_keeps_the_heaviest_gaussians(shipped):
    means, var, mixw, sen2cb, n_ci = shipped
    m, v, q = R.reduce_model(means, var, mixw, sen2cb, n_ci, 64)
    assert m.shape == v.shape == (42, 3, 64, 13) and q.shape == (3, 64, len(sen2cb))
    w = np.exp(-mixw.astype(np.float64) * R._LOG_BASE)
    for cb, f in ((0, 0), (8, 1), (32, 2)):  # +NSN+, B, SIL
        rows = [int(np.flatnonzero((means[cb, f] == r).all(1))[0]) for r in m[cb, f]]
        assert sorted(rows) == rows and len(set(rows)) == 64  # a subset, in the shipped order
        assert np.array_equal(v[cb, f], var[cb, f, rows])
        ci = w[f][:, 3 * cb: 3 * cb + 3]
        mass = (ci / ci.sum(0)).sum(1)
        assert mass[rows].min() >= np.delete(mass, rows).max()  # the heaviest ones
    # each senone keeps its total weight (up to the 8-bit quantisation)
    kept = np.exp(-q.astype(np.float64) * R._LOG_BASE).sum(1)
    assert np.allclose(kept, w.sum(1), rtol=0.06)
    with pytest.raises(ValueError, match="gaussians"):
        R.reduce_model(means, var, mixw, sen2cb, n_ci, 0)


def test_default_model_is_generated_once_into_the_cache_and_decodes_arctic(src, cache, example_audio):
    files = R.reduced_model_files(src, R.DEFAULT_GAUSSIANS)
    folder = cache / os.path.basename(os.path.dirname(files["mean"]))
    assert sorted(os.listdir(cache)) == [folder.name]  # nothing partial left behind
    assert sorted(os.listdir(folder)) == ["means", "sendump", "variances"]
    assert R.read_gaussians(files["mean"]).shape == (42, 3, R.DEFAULT_GAUSSIANS, 13)
    stamp = {n: os.stat(p).st_mtime_ns for n, p in files.items()}
    assert R.reduced_model_files(src, R.DEFAULT_GAUSSIANS) == files  # found, not written again
    assert {n: os.stat(p).st_mtime_ns for n, p in files.items()} == stamp
    # deterministic: another derivation gives the same bytes
    other = R.reduced_model_files(src, R.DEFAULT_GAUSSIANS, root=cache / "again")
    for n in files:
        assert open(files[n], "rb").read() == open(other[n], "rb").read()
    # the default preset decodes with it; "full" with the shipped files
    cfg = P._allphone_config("accurate")
    assert {k: cfg[k] for k in files} == files and "mean" not in P._allphone_config("full")
    # and finds ARCTIC's bilabials (p in "sharply", b in "table") as the shipped model does, boundaries as close
    clip = load_audio(example_audio)
    truth = P.read_lab(example_audio.with_name("arctic_a0009_phone.lab"))
    for preset in ("accurate", "full"):
        phones = [P.Phone(P.normalize_label(w), s * 0.01, (e + 1) * 0.01) for w, s, e, _ in
                  _segments(P._allphone_config(preset), clip)]
        closed = [p for p in truth if p.label in BILABIALS]
        assert len(closed) == 2 and all(
            any(q.label in BILABIALS and q.start_s < p.end_s and q.end_s > p.start_s for q in phones) for p in closed)
        assert np.median(P.boundary_errors(phones, truth)) <= 0.02


def test_cache_is_written_atomically(src, cache, monkeypatch):
    real = R.write_sendump

    def broken(path, q):
        real(path, q[:, :, :10])  # half-written, then the process fails
        raise OSError("disk full")

    monkeypatch.setattr(R, "write_sendump", broken)
    with pytest.raises(OSError, match="disk full"):
        R.reduced_model_files(src, 8)
    assert os.listdir(cache) == []  # no partial folder under any name
    monkeypatch.setattr(R, "write_sendump", real)
    files = R.reduced_model_files(src, 8)
    assert R.read_sendump(files["sendump"]).shape[1] == 8
    # a file deleted from the cache: the folder is derived again
    os.remove(files["var"])
    assert R.reduced_model_files(src, 8) == files and os.path.isfile(files["var"])
    assert len(os.listdir(cache)) == 1


def test_another_process_finishing_first_wins(src, cache, monkeypatch):
    real = R.derive

    def racing(s, dst, gaussians):
        monkeypatch.setattr(R, "derive", real)
        first = R.reduced_model_files(s, gaussians)  # "another process" completes while this one derives
        real(s, dst, gaussians)
        racing.first = first

    monkeypatch.setattr(R, "derive", racing)
    files = R.reduced_model_files(src, 8)
    assert files == racing.first and len(os.listdir(cache)) == 1


def test_unwritable_cache_uses_a_private_copy(src, tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("EMODIFFHEAD_CACHE_DIR", str(blocker / "cache"))
    files = R.reduced_model_files(src, 8)
    assert all(os.path.isfile(p) for p in files.values()) and not str(files["mean"]).startswith(str(blocker))


def test_not_a_pocketsphinx_model(tmp_path):
    (tmp_path / "means").write_bytes(b"version 0.1\n")
    with pytest.raises(R.ModelFormatError, match="s3"):
        R.read_gaussians(tmp_path / "means")
