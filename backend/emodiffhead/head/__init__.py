"""The head model: arrays (``model``), pure skinning math (``lbs``), providers, the camera and mesh geometry.

``load_head("builtin")`` gives the built-in CC0 head that ships in the package;
``load_head(path)`` loads a user's licensed FLAME file (``generic_model.pkl`` or ``.npz``).
"""

from __future__ import annotations

import os
from pathlib import Path

from .model import JOINT_NAMES, JOINT_PARENTS, NUM_JOINTS, HeadModel, HeadOutput

__all__ = ["HeadModel", "HeadOutput", "JOINT_NAMES", "JOINT_PARENTS", "NUM_JOINTS", "load_head"]


def load_head(spec: str | os.PathLike = "builtin", **kwargs) -> HeadModel:
    """Load a head model.

    spec: ``"builtin"`` for the shipped CC0 head, or a path to a FLAME model file
    (``.pkl`` chumpy pickle or ``.npz``). kwargs go to the FLAME loader
    (``num_shape``, ``num_expression``, ``landmark_embedding``).
    """
    if str(spec) == "builtin":
        from .builtin import load_builtin_head

        return load_builtin_head()
    from .flame import load_flame

    return load_flame(Path(spec), **kwargs)
