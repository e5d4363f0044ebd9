"""The licensed-FLAME loader on small synthetic files in FLAME's own format (chumpy pickle, npz)."""

from __future__ import annotations

import pickle
import sys

import numpy as np
import pytest

from emodiffhead.errors import HeadModelError
from emodiffhead.head import load_head
from emodiffhead.head.flame import load_flame, load_landmark_embedding
from synthetic_heads import flame_arrays, make_head, write_flame_npz, write_flame_pickle


@pytest.fixture(scope="module")
def head():
    return make_head(posedirs=True, seed=11)


@pytest.fixture()
def pkl(tmp_path, head):
    return write_flame_pickle(tmp_path / "generic_model.pkl", head)


def test_pickle_loads_without_chumpy(pkl, head):
    assert "chumpy" not in sys.modules and "chumpy.ch" not in sys.modules
    raw = pkl.read_bytes()
    assert b"chumpy.ch" in raw and b"scipy.sparse.csc\ncsc_matrix" in raw  # FLAME 2020's classes
    m = load_flame(pkl, num_shape=head.num_shape, num_expression=head.num_expression)
    assert m.name == "flame"
    assert m.expression_names == [f"exp{i:03d}" for i in range(head.num_expression)]
    assert m.shape_names[0] == "shape000"
    for k in ("template", "shape_basis", "expression_basis", "joint_regressor", "weights", "posedirs"):
        np.testing.assert_allclose(getattr(m, k), getattr(head, k), atol=1e-7, err_msg=k)
    np.testing.assert_array_equal(m.faces, head.faces)
    assert m.faces.dtype == np.int32 and m.template.dtype == np.float32
    rng = np.random.default_rng(0)
    shape = rng.normal(size=head.num_shape)
    expr = rng.normal(size=(2, head.num_expression))
    pose = rng.normal(0, 0.2, (2, 5, 3))
    np.testing.assert_allclose(m.forward(shape, expr, pose).vertices, head.forward(shape, expr, pose).vertices,
                               atol=1e-6)


def test_current_scipy_sparse_pickle(tmp_path, head):
    path = write_flame_pickle(tmp_path / "m.pkl", head, old_scipy=False)
    assert b"scipy.sparse._csc" in path.read_bytes()
    m = load_flame(path, num_shape=4, num_expression=6)
    np.testing.assert_allclose(m.joint_regressor, head.joint_regressor, atol=1e-7)


def test_default_sizes_and_selection(pkl, head):
    m = load_flame(pkl)
    assert (m.num_shape, m.num_expression) == (300, 100)
    assert m.meta["file_num_shape"] == 300 and m.meta["file_num_expression"] == 100
    np.testing.assert_allclose(m.expression_basis[:, :, :head.num_expression], head.expression_basis, atol=1e-7)
    assert not np.any(m.expression_basis[:, :, head.num_expression:])  # the fixture pads with zeros
    small = load_head(pkl, num_shape=2, num_expression=3)
    assert (small.num_shape, small.num_expression) == (2, 3)
    np.testing.assert_allclose(small.expression_basis, head.expression_basis[:, :, :3], atol=1e-7)
    np.testing.assert_allclose(small.shape_basis, head.shape_basis[:, :, :2], atol=1e-7)
    assert small.expression_limits.shape == (3, 2)
    with pytest.raises(HeadModelError, match="num_expression must be between 1 and 100"):
        load_flame(pkl, num_expression=101)
    with pytest.raises(HeadModelError, match="num_shape"):
        load_flame(pkl, num_shape=-1)


def test_npz_variant(tmp_path, head):
    path = write_flame_npz(tmp_path / "flame.npz", head)
    m = load_flame(path, num_shape=head.num_shape, num_expression=head.num_expression)
    pose = np.zeros((1, 5, 3))
    pose[0, 2] = [0.3, 0, 0]
    np.testing.assert_allclose(m.forward(pose=pose).vertices, head.forward(pose=pose).vertices, atol=1e-6)


@pytest.mark.parametrize("key", ["v_template", "shapedirs", "J_regressor", "weights", "f", "kintree_table"])
def test_missing_key_is_named(tmp_path, head, key):
    path = write_flame_pickle(tmp_path / "m.pkl", head, drop=(key,))
    with pytest.raises(HeadModelError, match=f"missing key.*'{key}'"):
        load_flame(path)


def test_posedirs_optional(tmp_path, head):
    m = load_flame(write_flame_pickle(tmp_path / "m.pkl", head, drop=("posedirs",)))
    assert m.posedirs is None


@pytest.mark.parametrize("key,value,pattern", [
    ("weights", np.ones((50, 4)), r"'weights' must be \(50, 5\)"),
    ("shapedirs", np.zeros((50, 3, 300)), "300 components"),
    ("posedirs", np.zeros((50, 3, 30)), r"'posedirs' must be \(50, 3, 36\)"),
    ("kintree_table", np.array([[4294967295, 0, 0, 1, 1], [0, 1, 2, 3, 4]]), "kintree_table"),
    ("v_template", np.zeros((50, 2)), "'v_template' must be"),
    ("bs_style", "lbs_dqs", "bs_style"),
])
def test_bad_shapes_are_named(tmp_path, head, key, value, pattern):
    path = write_flame_pickle(tmp_path / "m.pkl", head, **{key: value})
    with pytest.raises(HeadModelError, match=pattern):
        load_flame(path)


def test_nan_and_bad_faces(tmp_path, head):
    t = head.template.astype(np.float64).copy()
    t[3, 1] = np.nan
    with pytest.raises(HeadModelError, match="'v_template' contains NaN"):
        load_flame(write_flame_pickle(tmp_path / "a.pkl", head, v_template=t))
    with pytest.raises(HeadModelError, match="'f' indexes vertices"):
        load_flame(write_flame_pickle(tmp_path / "b.pkl", head, f=head.faces.astype(np.uint32) + 60))


@pytest.mark.parametrize("cut", [0.5, 0.9, 0.999])
def test_truncated_pickle(pkl, tmp_path, cut):
    data = pkl.read_bytes()
    bad = tmp_path / "cut.pkl"
    bad.write_bytes(data[: int(len(data) * cut)])
    with pytest.raises(HeadModelError, match="truncated"):
        load_flame(bad)


def test_truncated_npz(tmp_path, head):
    data = write_flame_npz(tmp_path / "f.npz", head).read_bytes()
    bad = tmp_path / "cut.npz"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(HeadModelError, match="truncated or corrupt npz"):
        load_flame(bad)


def test_not_a_model_file(tmp_path):
    text = tmp_path / "notes.pkl"
    text.write_text("hello, this is not a pickle")
    with pytest.raises(HeadModelError, match="not a FLAME pickle or npz"):
        load_flame(text)
    empty = tmp_path / "empty.pkl"
    empty.write_bytes(b"")
    with pytest.raises(HeadModelError, match="empty"):
        load_flame(empty)
    with pytest.raises(HeadModelError, match="not found"):
        load_flame(tmp_path / "nope.pkl")
    lst = tmp_path / "list.pkl"
    lst.write_bytes(pickle.dumps([1, 2, 3], protocol=2))
    with pytest.raises(HeadModelError, match="expected a dict"):
        load_flame(lst)


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned > /dev/null",))


def test_foreign_classes_are_refused(tmp_path):
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"v_template": _Evil()}, protocol=2))
    with pytest.raises(HeadModelError, match="refusing to load"):
        load_flame(path)


def test_chumpy_expression_without_array_is_reported(tmp_path, head):
    import types

    mod = types.ModuleType("chumpy.ch_ops")
    cls = type("add", (), {"__module__": "chumpy.ch_ops", "__reduce_ex__":
                           lambda self, p: (__import__("copyreg").__newobj__, (type(self),), {"a": 1, "b": 2})})
    mod.add = cls
    sys.modules["chumpy.ch_ops"] = mod
    try:
        path = write_flame_pickle(tmp_path / "m.pkl", head, v_template=cls())
    finally:
        sys.modules.pop("chumpy.ch_ops")
    with pytest.raises(HeadModelError, match="'v_template' is a chumpy expression"):
        load_flame(path)


# ---- landmark embeddings -------------------------------------------------------------------------

def _embedding(n, num_faces, seed=0):
    rng = np.random.default_rng(seed)
    b = rng.random((n, 3))
    return rng.integers(0, num_faces, n).astype(np.int64), b / b.sum(1, keepdims=True)


def test_flame_static_embedding_pkl(tmp_path, pkl, head):
    fi, bc = _embedding(51, len(head.faces))
    emb = tmp_path / "flame_static_embedding.pkl"
    emb.write_bytes(pickle.dumps({"lmk_face_idx": fi.astype(np.uint32), "lmk_b_coords": bc}, protocol=2))
    m = load_flame(pkl, num_shape=4, num_expression=6, landmark_embedding=emb)
    assert m.landmark_scheme == "ibug51" and m.num_landmarks == 51
    out = m.forward(pose=np.random.default_rng(1).normal(0, 0.2, (1, 5, 3)))
    tri = out.vertices[0][m.faces[fi]]
    np.testing.assert_allclose(out.landmarks[0], np.einsum("lkc,lk->lc", tri, bc), atol=1e-6)


def test_deca_landmark_embedding_npy(tmp_path, head):
    fi51, bc51 = _embedding(51, len(head.faces), 1)
    fi68, bc68 = _embedding(68, len(head.faces), 2)
    d = {"lmk_face_idx": fi51, "lmk_b_coords": bc51,
         "dynamic_lmk_faces_idx": np.zeros((79, 17), np.int64), "dynamic_lmk_bary_coords": np.zeros((79, 17, 3)),
         "full_lmk_faces_idx": fi68[None], "full_lmk_bary_coords": bc68[None]}
    emb = tmp_path / "landmark_embedding.npy"
    np.save(emb, d, allow_pickle=True)  # DECA stores a pickled dict in an .npy
    faces, bary, scheme, _ = load_landmark_embedding(emb, num_faces=len(head.faces))
    assert scheme == "ibug68"
    np.testing.assert_array_equal(faces, fi68)
    np.testing.assert_allclose(bary, bc68, atol=1e-7)


def test_mica_mediapipe_embedding_npz(tmp_path, head):
    fi, bc = _embedding(105, len(head.faces), 3)
    emb = tmp_path / "mediapipe_landmark_embedding.npz"
    np.savez(emb, lmk_face_idx=fi, lmk_b_coords=bc, landmark_indices=np.arange(105) * 4)
    faces, bary, scheme, extra = load_landmark_embedding(emb)
    assert scheme == "mediapipe105" and extra["landmark_indices"][:3] == [0, 4, 8]


def test_bad_embeddings(tmp_path, pkl, head):
    fi, bc = _embedding(51, len(head.faces))
    far = tmp_path / "far.pkl"
    far.write_bytes(pickle.dumps({"lmk_face_idx": fi + 10_000, "lmk_b_coords": bc}, protocol=2))
    with pytest.raises(HeadModelError, match="out of range"):
        load_flame(pkl, landmark_embedding=far)
    nokeys = tmp_path / "nokeys.pkl"
    nokeys.write_bytes(pickle.dumps({"faces": fi}, protocol=2))
    with pytest.raises(HeadModelError, match="lmk_face_idx"):
        load_landmark_embedding(nokeys)
    mism = tmp_path / "mism.pkl"
    mism.write_bytes(pickle.dumps({"lmk_face_idx": fi, "lmk_b_coords": bc[:10]}, protocol=2))
    with pytest.raises(HeadModelError, match="3 barycentric weights per landmark"):
        load_landmark_embedding(mism)
    cut = tmp_path / "cut.npy"
    np.save(cut, {"lmk_face_idx": fi, "lmk_b_coords": bc}, allow_pickle=True)
    cut.write_bytes(cut.read_bytes()[:-40])
    with pytest.raises(HeadModelError, match="truncated"):
        load_landmark_embedding(cut)


def test_flame_arrays_layout_matches_flame(head):
    # the fixture itself: posedirs (V,3,36) reshaped as FLAME does gives model.py's (36, 3V)
    d = flame_arrays(head)
    np.testing.assert_allclose(d["posedirs"].reshape(-1, 36).T, head.posedirs, atol=1e-7)
    assert d["shapedirs"].shape == (50, 3, 400) and d["J_regressor"].format == "csc"
