"""Load licensed FLAME model files (user-supplied) into a :class:`HeadModel`, without chumpy.

Supported files (download them yourself from https://flame.is.tue.mpg.de after accepting the licence;
emodiffhead never downloads them):

- FLAME 2020 / FLAME 2023 ``generic_model.pkl`` (also ``male_model.pkl``, ``female_model.pkl``,
  ``flame2023.pkl``): Python 2 pickles whose ``shapedirs`` is a ``chumpy.ch.Ch`` object and whose
  ``J_regressor`` is a scipy sparse matrix. A restricted unpickler maps chumpy classes to a shim that only
  keeps their state (the array is in ``state["x"]``) and refuses any other class, so loading a file
  never runs code from it.
- ``.npz`` variants with the same key names (``J_regressor`` dense).
- Landmark embeddings: FLAME's ``flame_static_embedding.pkl`` (51 iBUG points: ``lmk_face_idx``,
  ``lmk_b_coords``), DECA's ``landmark_embedding.npy`` (a pickled dict; its ``full_lmk_faces_idx``/
  ``full_lmk_bary_coords`` give all 68 iBUG points) and MICA's ``mediapipe_landmark_embedding.npz``
  (105 MediaPipe points with ``landmark_indices``).

Layout facts (FLAME): ``v_template`` (5023, 3), ``f`` (9976, 3), ``shapedirs`` (5023, 3, 400) =
300 shape then 100 expression components, ``posedirs`` (5023, 3, 36), ``J_regressor`` (5, 5023),
``weights`` (5023, 5), ``kintree_table`` (2, 5) with parents (-, 0, 1, 1, 1). Metres, y up, +z forward.
"""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import HeadModelError
from .model import JOINT_PARENTS, NUM_JOINTS, HeadModel

__all__ = ["load_flame", "load_landmark_embedding", "read_flame_file", "FLAME_NUM_SHAPE", "FLAME_NUM_EXPRESSION"]

#: Components in an official FLAME file: shapedirs[..., :300] shape, shapedirs[..., 300:] expression.
FLAME_NUM_SHAPE = 300
FLAME_NUM_EXPRESSION = 100
REQUIRED_KEYS = ("v_template", "f", "shapedirs", "J_regressor", "weights", "kintree_table")
#: FLAME expression coefficients are in units of standard deviations; +-3 covers real faces.
FLAME_EXPRESSION_LIMIT = 3.0


# ---- restricted unpickling ---------------------------------------------------------------------

class _ChumpyShim:
    """Stand-in for any chumpy class: keeps the pickled state dict, nothing else."""

    def __new__(cls, *args, **kwargs):
        obj = object.__new__(cls)
        obj.state = {}
        return obj

    def __init__(self, *args, **kwargs) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        self.state = state if isinstance(state, dict) else {"_raw": state}


def _chumpy_class(name: str) -> type:
    return type(name, (_ChumpyShim,), {"__module__": __name__})


_SPARSE = ("csc_matrix", "csr_matrix", "coo_matrix", "lil_matrix", "dok_matrix", "bsr_matrix", "dia_matrix",
           "csc_array", "csr_array", "coo_array")
_NUMPY_OK = {
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
}
_BUILTIN_OK = {"set", "frozenset", "object", "slice", "complex", "bytearray", "tuple", "list", "dict"}


class _FlameUnpickler(pickle.Unpickler):
    """Unpickler that allows numpy arrays, scipy sparse matrices and chumpy objects (as shims) only."""

    def find_class(self, module: str, name: str) -> Any:
        if module.split(".")[0] == "chumpy":
            return _chumpy_class(name)
        if module.startswith("scipy.sparse") and name in _SPARSE:
            import scipy.sparse

            return getattr(scipy.sparse, name)
        if (module, name) in _NUMPY_OK:
            return super().find_class(module, name)
        if module in ("__builtin__", "builtins") and name in _BUILTIN_OK:
            return super().find_class(module, name)
        if (module, name) in (("copy_reg", "_reconstructor"), ("copyreg", "_reconstructor"),
                              ("_codecs", "encode")):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def _unpickle(data: bytes, what: str) -> Any:
    try:
        return _FlameUnpickler(io.BytesIO(data), encoding="latin1").load()
    except EOFError:
        raise HeadModelError(f"{what}: truncated pickle (the file ends early; download it again)") from None
    except pickle.UnpicklingError as e:
        msg = str(e)
        if msg.startswith("refusing"):
            raise HeadModelError(f"{what}: not a FLAME file ({msg})") from None
        if "truncated" in msg or "ran out" in msg.lower():
            raise HeadModelError(f"{what}: truncated pickle (the file ends early; download it again)") from None
        raise HeadModelError(f"{what}: not a readable pickle ({msg})") from None
    except (ValueError, TypeError, AttributeError, IndexError, KeyError, UnicodeDecodeError, MemoryError) as e:
        raise HeadModelError(f"{what}: corrupt or truncated pickle ({type(e).__name__}: {e})") from None


def _to_array(value: Any, key: str, what: str) -> np.ndarray:
    """A plain ndarray from an ndarray, chumpy shim, scipy sparse matrix or list."""
    if isinstance(value, _ChumpyShim):
        if "x" not in value.state:
            raise HeadModelError(
                f"{what}: key {key!r} is a chumpy expression ({type(value).__name__}), not a stored array; "
                "save the model with plain arrays (e.g. np.array(model.{key}))")
        value = value.state["x"]
    if hasattr(value, "toarray") and hasattr(value, "tocsc"):
        value = _sparse_to_dense(value, key, what)
    try:
        arr = np.asarray(value)
    except Exception as e:  # noqa: BLE001
        raise HeadModelError(f"{what}: key {key!r} is not an array ({e})") from None
    if arr.dtype == object:
        raise HeadModelError(f"{what}: key {key!r} is not a numeric array")
    return arr


def _sparse_to_dense(m: Any, key: str, what: str) -> np.ndarray:
    """Dense array of a scipy sparse matrix, also one unpickled from an old scipy (state: data/indices/indptr)."""
    try:
        return np.asarray(m.toarray())
    except Exception:  # noqa: BLE001 - old pickles may miss attributes newer scipy expects
        import scipy.sparse

        d = getattr(m, "__dict__", {})
        try:
            shape = tuple(int(n) for n in d.get("_shape", d.get("shape")))
            return scipy.sparse.csc_matrix((d["data"], d["indices"], d["indptr"]), shape=shape).toarray() \
                if "csc" in type(m).__name__ else \
                scipy.sparse.csr_matrix((d["data"], d["indices"], d["indptr"]), shape=shape).toarray()
        except Exception as e:  # noqa: BLE001
            raise HeadModelError(f"{what}: key {key!r} is a sparse matrix that cannot be read ({e})") from None


def _read_nonempty(path: Path, kind: str) -> bytes:
    """The bytes of ``path``; HeadModelError naming ``kind`` when it is missing or empty."""
    if not path.is_file():
        raise HeadModelError(f"{kind} file not found: {path}")
    data = path.read_bytes()
    if not data:
        raise HeadModelError(f"{kind} {path.name}: the file is empty")
    return data


def _load_npz(data: bytes, what: str) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` file's bytes (plain arrays only: nothing is unpickled)."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, EOFError) as e:
        raise HeadModelError(f"{what}: truncated or corrupt npz ({e})") from None
    except ValueError as e:
        if "allow_pickle" in str(e):
            raise HeadModelError(f"{what}: npz holds pickled objects; store plain arrays ({e})") from None
        raise HeadModelError(f"{what}: truncated or corrupt npz ({e})") from None


def _read_file(path: Path, kind: str, formats: str, npy: bool = False) -> Any:
    """The contents of a pickle or ``.npz`` file (and, with ``npy``, an ``.npy`` file), told apart by their
    first bytes. kind names the file in errors ("FLAME model"); formats lists what is accepted."""
    what = f"{kind} {path.name}"
    data = _read_nonempty(path, kind)
    if npy and data[:6] == b"\x93NUMPY":
        return _read_npy_dict(data, what)
    if data[:4] == b"PK\x03\x04":  # npz (zip)
        return _load_npz(data, what)
    if data[:1] == b"\x80" or data[:1] in (b"(", b"}"):  # pickle protocol 2+ or protocol 0
        return _unpickle(data, what)
    raise HeadModelError(f"{what}: not a {formats} file")


def _str_keys(d: dict) -> dict[str, Any]:
    """Python 2 pickles have bytes keys: the dict with str keys."""
    return {(k.decode("latin1") if isinstance(k, bytes) else str(k)): v for k, v in d.items()}


def read_flame_file(path: str | os.PathLike) -> dict[str, Any]:
    """Raw contents of a FLAME ``.pkl`` or ``.npz`` as a dict of numpy arrays (and strings).

    Raises :class:`HeadModelError` for a missing, truncated or foreign file.
    """
    path = Path(path)
    raw = _read_file(path, "FLAME model", "FLAME pickle or npz")
    if not isinstance(raw, dict):
        raise HeadModelError(f"FLAME model {path.name}: expected a dict of arrays, found {type(raw).__name__}")
    out: dict[str, Any] = {}
    for k, v in _str_keys(raw).items():
        if isinstance(v, (str, bytes)):
            out[k] = v.decode("latin1") if isinstance(v, bytes) else v
        elif isinstance(v, np.ndarray) and v.dtype.kind in "US":
            out[k] = str(v)
        else:
            out[k] = v
    return out


# ---- model ---------------------------------------------------------------------------------------

def load_flame(
    path: str | os.PathLike,
    num_shape: int = FLAME_NUM_SHAPE,
    num_expression: int = FLAME_NUM_EXPRESSION,
    landmark_embedding: str | os.PathLike | None = None,
) -> HeadModel:
    """Load a FLAME 2020/2023 model file (``.pkl`` or ``.npz``) as a :class:`HeadModel` named ``"flame"``.

    num_shape: keep the first ``num_shape`` of the file's 300 shape components (0..300).
    num_expression: keep the first ``num_expression`` of its 100 expression components (1..100).
    landmark_embedding: optional FLAME/DECA/MICA landmark embedding file (see module docstring).
    Raises :class:`HeadModelError` naming the missing key, bad shape or unreadable file.
    """
    path = Path(path)
    what = f"FLAME model {path.name}"
    raw = read_flame_file(path)
    arr = _checked_layout(raw, what)
    template, shapedirs = arr["v_template"], arr["shapedirs"]
    file_shape, file_expr = _component_split(shapedirs, what)
    if not 0 <= num_shape <= file_shape:
        raise HeadModelError(f"num_shape must be between 0 and {file_shape} for {path.name}, got {num_shape}")
    if not 1 <= num_expression <= file_expr:
        raise HeadModelError(f"num_expression must be between 1 and {file_expr} for {path.name}, got {num_expression}")
    posedirs = _posedirs(arr, what)
    faces = _checked_values(arr, what)
    lmk_faces = lmk_bary = None
    scheme, lmk_meta = "", {}
    if landmark_embedding is not None:
        lmk_faces, lmk_bary, scheme, lmk_meta = load_landmark_embedding(landmark_embedding, num_faces=len(faces))
    return HeadModel(
        name="flame",
        template=template,
        faces=faces.astype(np.int32),
        shape_basis=shapedirs[:, :, :num_shape],
        expression_basis=shapedirs[:, :, file_shape:file_shape + num_expression],
        expression_names=[f"exp{i:03d}" for i in range(num_expression)],
        shape_names=[f"shape{i:03d}" for i in range(num_shape)],
        joint_regressor=arr["J_regressor"],
        weights=arr["weights"],
        posedirs=posedirs,
        landmark_faces=lmk_faces,
        landmark_bary=lmk_bary,
        landmark_scheme=scheme,
        expression_limits=np.tile(np.array([[-FLAME_EXPRESSION_LIMIT, FLAME_EXPRESSION_LIMIT]], np.float32),
                                  (num_expression, 1)),
        meta={"source": str(path.name), "licence": "FLAME model licence (user-supplied file, not redistributable)",
              "file_num_shape": int(file_shape), "file_num_expression": int(file_expr), **lmk_meta},
    )


def _checked_layout(raw: dict[str, Any], what: str) -> dict[str, np.ndarray]:
    """The model's arrays (REQUIRED_KEYS, and ``posedirs`` when present) with their layout checked:
    shapes, FLAME's joint tree, linear blend skinning."""
    missing = [k for k in REQUIRED_KEYS if k not in raw]
    if missing:
        raise HeadModelError(f"{what}: missing key(s) {missing} (found {sorted(raw)})")
    arr = {k: _to_array(raw[k], k, what) for k in REQUIRED_KEYS}
    if "posedirs" in raw:
        arr["posedirs"] = _to_array(raw["posedirs"], "posedirs", what)

    template = arr["v_template"]
    if template.ndim != 2 or template.shape[1] != 3 or template.shape[0] < 3:
        raise HeadModelError(f"{what}: key 'v_template' must be (V, 3), got {template.shape}")
    V = template.shape[0]
    expect = {
        "f": (None, 3),
        "weights": (V, NUM_JOINTS),
        "J_regressor": (NUM_JOINTS, V),
        "kintree_table": (2, NUM_JOINTS),
    }
    for key, shape in expect.items():
        a = arr[key]
        if a.ndim != 2 or any(s is not None and s != n for s, n in zip(shape, a.shape)):
            want = "(" + ", ".join("F" if s is None else str(s) for s in shape) + ")"
            raise HeadModelError(f"{what}: key {key!r} must be {want}, got {a.shape}")
    parents = arr["kintree_table"][0].astype(np.int64)
    if list(parents[1:]) != list(JOINT_PARENTS[1:]):
        raise HeadModelError(f"{what}: key 'kintree_table' has parents {parents.tolist()}, "
                             f"FLAME's joint tree is {list(JOINT_PARENTS)}")
    style = raw.get("bs_style", "lbs")
    if isinstance(style, str) and style != "lbs":
        raise HeadModelError(f"{what}: key 'bs_style' is {style!r}; only linear blend skinning ('lbs') is supported")
    shapedirs = arr["shapedirs"]
    if shapedirs.ndim != 3 or shapedirs.shape[:2] != (V, 3):
        raise HeadModelError(f"{what}: key 'shapedirs' must be (V, 3, K) with V={V}, got {shapedirs.shape}")
    return arr


def _checked_values(arr: dict[str, np.ndarray], what: str) -> np.ndarray:
    """Finite vertex, basis, weight and regressor values; the faces (F, 3) int64, indices in range."""
    for key in ("v_template", "shapedirs", "weights", "J_regressor"):
        if not np.all(np.isfinite(arr[key])):
            raise HeadModelError(f"{what}: key {key!r} contains NaN or infinite values")
    V = arr["v_template"].shape[0]
    faces = arr["f"].astype(np.int64)
    if faces.size and (faces.min() < 0 or faces.max() >= V):
        raise HeadModelError(f"{what}: key 'f' indexes vertices outside 0..{V - 1}")
    return faces


def _component_split(shapedirs: np.ndarray, what: str) -> tuple[int, int]:
    """(shape, expression) component counts of the file's (V, 3, K) ``shapedirs``: shape first, then expression."""
    K = shapedirs.shape[2]
    file_shape = min(FLAME_NUM_SHAPE, K)
    file_expr = K - file_shape
    if file_expr < 1:
        raise HeadModelError(f"{what}: key 'shapedirs' has {K} components; FLAME files hold "
                             f"{FLAME_NUM_SHAPE} shape + {FLAME_NUM_EXPRESSION} expression components")
    return file_shape, file_expr


def _posedirs(arr: dict[str, np.ndarray], what: str) -> np.ndarray | None:
    """Pose correctives (36, 3V) as FLAME's own loader lays them out; None when absent or all zero."""
    if "posedirs" not in arr:
        return None
    pd, V = arr["posedirs"], arr["v_template"].shape[0]
    if pd.ndim != 3 or pd.shape != (V, 3, 9 * (NUM_JOINTS - 1)):
        raise HeadModelError(f"{what}: key 'posedirs' must be ({V}, 3, 36), got {pd.shape}")
    posedirs = pd.reshape(-1, pd.shape[-1]).T
    return posedirs if np.any(posedirs) else None


# ---- landmark embeddings ---------------------------------------------------------------------------

def _read_npy_dict(data: bytes, what: str) -> Any:
    """Contents of an ``.npy`` file; object arrays (DECA's pickled dict) go through the restricted unpickler."""
    f = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(f)
        shape, fortran, dtype = np.lib.format._read_array_header(f, version)  # noqa: SLF001
    except ValueError as e:
        raise HeadModelError(f"{what}: not a valid .npy file ({e})") from None
    if dtype.hasobject:
        obj = _unpickle(data[f.tell():], what)
        if isinstance(obj, np.ndarray) and obj.dtype == object and obj.size == 1:
            obj = obj.reshape(()).item()
        return obj
    try:
        return np.load(io.BytesIO(data), allow_pickle=False)
    except ValueError as e:
        raise HeadModelError(f"{what}: truncated or corrupt .npy ({e})") from None


def load_landmark_embedding(
    path: str | os.PathLike, num_faces: int | None = None
) -> tuple[np.ndarray, np.ndarray, str, dict]:
    """Read a FLAME/DECA/MICA landmark embedding.

    Returns (face indices (L,) int32, barycentric weights (L, 3) float32, scheme, extra meta), where
    scheme is ``"ibug68"`` (DECA ``full_lmk_*``), ``"ibug51"`` (static embedding: iBUG points 18..68,
    no jaw contour) or ``"mediapipe105"`` (MICA, with ``meta["landmark_indices"]`` into MediaPipe's 478).
    ``num_faces`` checks the face indices against the model.
    """
    path = Path(path)
    what = f"landmark embedding {path.name}"
    d = _read_file(path, "landmark embedding", "pickle, .npy or .npz", npy=True)
    if not isinstance(d, dict):
        raise HeadModelError(f"{what}: expected a dict with lmk_face_idx and lmk_b_coords")
    d = _str_keys(d)
    extra: dict = {"landmark_source": path.name}
    if "full_lmk_faces_idx" in d and "full_lmk_bary_coords" in d:
        fi, bc, scheme = d["full_lmk_faces_idx"], d["full_lmk_bary_coords"], "ibug68"
        keys = ("full_lmk_faces_idx", "full_lmk_bary_coords")
    elif "lmk_face_idx" in d and "lmk_b_coords" in d:
        fi, bc, keys = d["lmk_face_idx"], d["lmk_b_coords"], ("lmk_face_idx", "lmk_b_coords")
        fi_arr = np.asarray(_to_array(fi, keys[0], what)).reshape(-1)
        if "landmark_indices" in d:
            scheme = f"mediapipe{len(fi_arr)}"
            extra["landmark_indices"] = np.asarray(d["landmark_indices"]).astype(int).reshape(-1).tolist()
        elif len(fi_arr) == 68:
            scheme = "ibug68"
        elif len(fi_arr) == 51:
            scheme = "ibug51"
        else:
            scheme = f"custom{len(fi_arr)}"
    else:
        raise HeadModelError(f"{what}: missing keys: need 'lmk_face_idx' and 'lmk_b_coords' "
                             f"(or DECA's 'full_lmk_faces_idx' and 'full_lmk_bary_coords'); found {sorted(d)}")
    fi = _to_array(fi, keys[0], what).reshape(-1)
    bc = _to_array(bc, keys[1], what).reshape(-1, 3) if _to_array(bc, keys[1], what).size % 3 == 0 else None
    if bc is None or len(bc) != len(fi):
        raise HeadModelError(f"{what}: key {keys[1]!r} must hold 3 barycentric weights per landmark "
                             f"({len(fi)} landmarks)")
    if fi.dtype.kind not in "iu":
        raise HeadModelError(f"{what}: key {keys[0]!r} must hold integer face indices")
    if num_faces is not None and len(fi) and (fi.min() < 0 or fi.max() >= num_faces):
        raise HeadModelError(f"{what}: face index {int(fi.max())} is out of range for a model with "
                             f"{num_faces} faces (embedding for another mesh?)")
    if not np.all(np.isfinite(bc)):
        raise HeadModelError(f"{what}: key {keys[1]!r} contains NaN or infinite values")
    return fi.astype(np.int32), bc.astype(np.float32), scheme, extra
