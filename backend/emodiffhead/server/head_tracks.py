"""Tracks of other head models (FLAME) made renderable: mapped onto the built-in head the renderers drive."""

from __future__ import annotations

from ..errors import TrackError


def builtin_track(track, heads):
    """``track`` as a built-in-head track. ``heads``: the server's ``HeadCache``.

    A FLAME track is found by ``meta["head_model_spec"]`` (the model path or name the client animated with),
    else by its head model name when the server offers exactly one FLAME file. TrackError (422) when the
    server does not know the model.
    """
    if track.head_model == "builtin":
        return track
    from ..animate.transfer import transfer_track

    spec = str((track.meta or {}).get("head_model_spec") or "")
    if spec and spec != "builtin" and spec in heads.flame:
        name = spec
    elif len(set(heads.flame.values())) == 1:
        name = str(next(iter(heads.flame.values())))
    else:
        raise TrackError(f"the track was made for head model {track.head_model!r}, which this server does not offer "
                         f"(it has {', '.join(heads.names())}; add FLAME files with serve --flame PATH)")
    return transfer_track(track, heads.get(name), heads.get("builtin"))
