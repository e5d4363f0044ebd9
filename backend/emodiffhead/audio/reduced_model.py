"""A smaller copy of pocketsphinx's shipped en-US acoustic model, derived from it on first use.

The en-US model is a phonetically tied mixture (PTM) model: one codebook per base phone (42), 3 feature streams
of 13 dimensions, 128 diagonal Gaussians per codebook and stream, and per senone (5126) and stream 128 mixture
weights stored as 8-bit negated logs (``sendump``). Allphone recognition spends most of its time computing the
128 Gaussians of every codebook every 10 ms (``ptm_mgau_frame_eval``). :func:`derive` keeps, per codebook and
stream, the ``n`` Gaussians with the largest total mixture weight over the codebook's context-independent senones
(the only ones the allphone search scores) and hands the weight of the dropped ones to the kept ones in
proportion (each senone's total weight is unchanged), written in pocketsphinx's own formats (``means`` and
``variances``: s3 binary, ``sendump``: the 8-bit dump); the model's ``mdef``, transition matrices, noise
dictionary and feature parameters are used from the shipped folder unchanged.

:func:`reduced_model_files` generates the files once into the user cache (``$EMODIFFHEAD_CACHE_DIR``, else
``$XDG_CACHE_HOME/emodiffhead``, else ``~/.cache/emodiffhead``), deterministically from the installed model (never
downloaded): written into a temporary folder and renamed into place, so a cache folder is complete or absent.
Measured in docs/animator.md ("Parallel phone recognition" and the speed section).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
import tempfile
from pathlib import Path

import numpy as np

#: Gaussians per codebook and stream kept by the allphone default (docs/animator.md: 20 % less decoding CPU,
#: phones as accurate as with all 128).
DEFAULT_GAUSSIANS = 96
#: Bumped whenever the derivation changes, so an older cached copy is never used.
DERIVATION_VERSION = 1
#: pocketsphinx's mixture weights are negated logs in base 1.0001 ** 1024 (its default ``logbase``, shifted by
#: SENSCR_SHIFT = 10), clamped to MAX_NEG_MIXW = 159.
_LOG_BASE = float(np.log(1.0001) * 1024)
_MAX_NEG_MIXW = 159
_BYTE_ORDER_MAGIC = 0x11223344
_CI_STATES = 3  # emitting states of every base phone of the en-US model


class ModelFormatError(ValueError):
    """The shipped model is not in the layout this module reads."""


def _check(ok: bool, what: str) -> None:
    if not ok:
        raise ModelFormatError(what)


# --- pocketsphinx's file formats -----------------------------------------------------------------------------

def read_gaussians(path: str | os.PathLike) -> np.ndarray:
    """An s3 ``means`` or ``variances`` file: (codebooks, streams, Gaussians, dims) float32 (equal stream dims)."""
    b = Path(path).read_bytes()
    _check(b[:3] == b"s3\n" and b"endhdr\n" in b, f"{path}: not an s3 binary file")
    i = b.index(b"endhdr\n") + 7
    magic = struct.unpack_from("<I", b, i)[0]
    _check(magic == _BYTE_ORDER_MAGIC, f"{path}: other byte order or no byte-order magic")
    n_cb, n_feat, n_den = struct.unpack_from("<3i", b, i + 4)
    veclen = struct.unpack_from(f"<{n_feat}i", b, i + 16)
    _check(len(set(veclen)) == 1, f"{path}: streams of different sizes")
    i += 16 + 4 * n_feat
    n = struct.unpack_from("<i", b, i)[0]
    _check(n == n_cb * n_den * sum(veclen), f"{path}: size mismatch")
    data = np.frombuffer(b, "<f4", n, i + 4)
    return data.reshape(n_cb, n_feat, n_den, veclen[0]).copy()


def write_gaussians(path: str | os.PathLike, arr: np.ndarray) -> None:
    """Write (codebooks, streams, Gaussians, dims) float32 as an s3 binary file (no checksum)."""
    n_cb, n_feat, n_den, dims = arr.shape
    with open(path, "wb") as f:
        f.write(b"s3\nversion 1.0\nendhdr\n")
        f.write(struct.pack("<I4i", _BYTE_ORDER_MAGIC, n_cb, n_feat, n_den, dims) + struct.pack("<i", dims) * (n_feat - 1))
        f.write(struct.pack("<i", arr.size))
        f.write(np.ascontiguousarray(arr, "<f4").tobytes())


def read_sendump(path: str | os.PathLike) -> np.ndarray:
    """A ``sendump`` (unclustered 8-bit negated log mixture weights): (streams, Gaussians, senones) uint8."""
    b = Path(path).read_bytes()
    i, n_feat = 0, None
    while True:
        n = struct.unpack_from("<i", b, i)[0]
        _check(0 <= n < 1000, f"{path}: not a little-endian sendump")
        i += 4
        if n == 0:
            break
        s = b[i: i + n - 1].decode("ascii", "replace")
        if s.startswith("feature_count "):
            n_feat = int(s.split()[1])
        _check(not (s.startswith("cluster_count ") and int(s.split()[1]) != 0), f"{path}: clustered weights")
        i += n
    rows, cols = struct.unpack_from("<2i", b, i)
    i += 8
    _check(n_feat is not None and len(b) - i == n_feat * rows * cols, f"{path}: size mismatch")
    return np.frombuffer(b, np.uint8, offset=i).reshape(n_feat, rows, cols).copy()


def write_sendump(path: str | os.PathLike, q: np.ndarray) -> None:
    """Write (streams, Gaussians, senones) uint8 negated log weights as a ``sendump`` pocketsphinx reads."""
    n_feat, n_den, n_sen = q.shape
    with open(path, "wb") as f:
        for s in (b"emodiffhead reduced mixture weights", b"cluster_count 0", b"feature_count %d" % n_feat,
                  b"mixture_count %d" % n_den, b"model_count %d" % n_sen):
            f.write(struct.pack("<i", len(s) + 1) + s + b"\0")
        f.write(struct.pack("<3i", 0, n_den, n_sen))
        f.write(np.ascontiguousarray(q, np.uint8).tobytes())


def read_senone_codebooks(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """A binary ``mdef``: the base phone (= PTM codebook) of every senone, (senones,) int, and the number of
    context-independent senones (the first ones, ``_CI_STATES`` per base phone)."""
    b = Path(path).read_bytes()
    magic, _version, hdr_len = struct.unpack_from("<3i", b, 0)
    _check(b[:4] == b"BMDF" or magic == 0x46444D42, f"{path}: not a little-endian binary mdef")
    i = 12 + hdr_len
    (n_ci, n_phone, n_emit, n_ci_sen, n_sen, _n_tmat, n_sseq, _n_ctx, n_cd_tree, _sil) = struct.unpack_from("<10i", b, i)
    _check(n_emit == _CI_STATES and n_ci_sen == _CI_STATES * n_ci, f"{path}: not 3 states per phone")
    start = i = i + 40
    for _ in range(n_ci):  # CI phone names
        i = b.index(b"\0", i) + 1
    i = start + ((i - start + 3) & ~3) + 8 * n_cd_tree
    phones = np.frombuffer(b, np.dtype([("ssid", "<i4"), ("tmat", "<i4"), ("info", "u1", 4)]), n_phone, i)
    i += 12 * n_phone
    n_ssid = struct.unpack_from("<i", b, i)[0]
    sseq = np.frombuffer(b, "<u2", n_ssid, i + 4).reshape(n_sseq, n_emit)
    base = np.arange(n_phone)
    base[n_ci:] = phones["info"][n_ci:, 1]  # a triphone's base phone (ctx[0])
    sen2cb = np.full(n_sen, -1)
    senones = sseq[phones["ssid"]]  # (phones, states)
    for k in range(n_emit)[::-1]:  # the first phone that uses a senone names its codebook (as in pocketsphinx)
        s, first = np.unique(senones[:, k], return_index=True)
        sen2cb[s] = base[first]
    _check(bool((sen2cb >= 0).all()) and bool((sen2cb[:n_ci_sen] == np.arange(n_ci_sen) // _CI_STATES).all()),
           f"{path}: unexpected senone layout")
    return sen2cb, n_ci_sen


# --- the derivation ------------------------------------------------------------------------------------------

def reduce_model(means: np.ndarray, variances: np.ndarray, mixw: np.ndarray, sen2cb: np.ndarray, n_ci_sen: int,
                 gaussians: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keep ``gaussians`` of the Gaussians of every codebook and stream: those with the largest mixture weight
    summed over the codebook's context-independent senones (each normalised to 1). The weight of the dropped ones
    is shared out over the kept ones in proportion, per senone and stream (each senone keeps its total weight).

    means, variances: (C, F, G, D) float32; mixw: (F, G, S) uint8 negated logs; sen2cb: (S,) codebook per senone.
    Returns means, variances (C, F, gaussians, D) float32 and mixture weights (F, gaussians, S) uint8.
    """
    n_cb, n_feat, n_den, dims = means.shape
    if not 1 <= gaussians <= n_den:
        raise ValueError(f"gaussians must be 1..{n_den}")
    w = np.exp(-mixw.astype(np.float64) * _LOG_BASE)  # (F, G, S)
    out_m = np.empty((n_cb, n_feat, gaussians, dims), np.float32)
    out_v = np.empty_like(out_m)
    out_w = np.empty((n_feat, gaussians, w.shape[2]))
    ci = np.arange(n_ci_sen)
    for cb in range(n_cb):
        sens = np.flatnonzero(sen2cb == cb)
        ci_sens = ci[ci // _CI_STATES == cb]
        for f in range(n_feat):
            wc = w[f][:, ci_sens]
            mass = (wc / wc.sum(0)).sum(1)
            keep = np.sort(np.argsort(-mass, kind="stable")[:gaussians])
            out_m[cb, f], out_v[cb, f] = means[cb, f, keep], variances[cb, f, keep]
            kept = w[f][np.ix_(keep, sens)]
            out_w[f][:, sens] = kept * (w[f][:, sens].sum(0) / kept.sum(0))
    q = np.clip(np.rint(-np.log(out_w) / _LOG_BASE), 0, _MAX_NEG_MIXW).astype(np.uint8)
    return out_m, out_v, q


def derive(src: str | os.PathLike, dst: str | os.PathLike, gaussians: int = DEFAULT_GAUSSIANS) -> None:
    """Write ``means``, ``variances`` and ``sendump`` of the model in folder ``src`` reduced to ``gaussians`` per
    codebook and stream into the existing folder ``dst`` (see :func:`reduce_model`)."""
    src, dst = Path(src), Path(dst)
    sen2cb, n_ci_sen = read_senone_codebooks(src / "mdef")
    m, v, q = reduce_model(read_gaussians(src / "means"), read_gaussians(src / "variances"),
                           read_sendump(src / "sendump"), sen2cb, n_ci_sen, gaussians)
    write_gaussians(dst / "means", m)
    write_gaussians(dst / "variances", v)
    write_sendump(dst / "sendump", q)


FILES = {"mean": "means", "var": "variances", "sendump": "sendump"}


def cache_root() -> Path:
    """``$EMODIFFHEAD_CACHE_DIR``, else ``$XDG_CACHE_HOME/emodiffhead``, else ``~/.cache/emodiffhead``."""
    if os.environ.get("EMODIFFHEAD_CACHE_DIR"):
        return Path(os.environ["EMODIFFHEAD_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "emodiffhead"


def _source_key(src: Path, gaussians: int) -> str:
    """Names the derived copy: the source files' path, sizes and modification times, the count, the version."""
    parts = [str(src.resolve()), str(gaussians), str(DERIVATION_VERSION)]
    for name in ("means", "variances", "sendump", "mdef"):
        st = (src / name).stat()
        parts += [name, str(st.st_size), str(st.st_mtime_ns)]
    return hashlib.sha1("\0".join(parts).encode()).hexdigest()[:16]


def reduced_model_files(src: str | os.PathLike, gaussians: int = DEFAULT_GAUSSIANS,
                        root: str | os.PathLike | None = None) -> dict[str, str]:
    """pocketsphinx Decoder arguments (``mean``, ``var``, ``sendump``: paths) of the model in folder ``src`` reduced
    to ``gaussians`` per codebook and stream; generated on first use into ``root`` (default :func:`cache_root`),
    or, where that cannot be written, into a temporary folder of this process (removed at exit)."""
    src = Path(src)
    root = Path(root) if root is not None else cache_root()
    final = root / f"pocketsphinx-{src.name}-ptm{gaussians}-{_source_key(src, gaussians)}"
    if not all((final / n).is_file() for n in FILES.values()):
        try:
            root.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=".partial-", dir=root))
        except OSError:  # no writable cache: a private copy
            import atexit

            final = tmp = Path(tempfile.mkdtemp(prefix="emodiffhead-model-"))
            atexit.register(shutil.rmtree, tmp, True)
        try:
            derive(src, tmp, gaussians)
            for n in FILES.values():
                with open(tmp / n, "rb") as f:
                    os.fsync(f.fileno())
            if tmp != final:
                try:
                    os.rename(tmp, final)  # atomic: the folder appears complete
                except OSError:  # another process was first, or an incomplete folder (files deleted) is in the way
                    if not all((final / n).is_file() for n in FILES.values()):
                        shutil.rmtree(final, ignore_errors=True)
                        os.rename(tmp, final)
        finally:
            if tmp != final:
                shutil.rmtree(tmp, ignore_errors=True)
    return {arg: str(final / name) for arg, name in FILES.items()}
