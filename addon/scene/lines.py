"""Dialogue lines: one sound strip = one line = one action per animated datablock.

Animate writes a line's keys into the line's own action (tagged ``emodiffhead_line`` = the strip's name), never
into an action the artist made:

- the datablock's active action when it is this line's action, or an NLA strip whose action is;
- else a new action: the active action when the datablock has none and no NLA tracks (one line: edit it
  directly in the Graph Editor); otherwise a strip (Replace) on a track that already holds lines and has
  room (e.g. the track you pushed the first line down to), else on a new track ``emodiffhead lines``. Your
  own layers in Add/Combine mode, or as the active action, still play on top. A line that was the active
  action moves to such a track when a second line arrives, so every line plays in its own frames; on a track
  of lines the first strip holds both ways and the later ones hold forward, like Blender's pushed actions.

The line's span (scene frames it covers and where its strip was) is stored on the action as JSON
(``emodiffhead_span``) so render, export, preview and the emotion tools know each line's frames.
"""

from __future__ import annotations

import json
import logging

import bpy

from . import keyframes

log = logging.getLogger(__name__)

LINE_PROP = "emodiffhead_line"
SPAN_PROP = "emodiffhead_span"
TRACK_NAME = "emodiffhead lines"


def _is_line(action, line: str | None = None) -> bool:
    tag = action.get(LINE_PROP) if action is not None else None
    return tag is not None and (line is None or tag == line)


def _nla_strips(id_data):
    ad = id_data.animation_data if id_data is not None else None
    if ad is None:
        return []
    return [(t, s) for t in ad.nla_tracks for s in t.strips]


def line_actions(id_data) -> list:
    """Every line action of ``id_data`` (active and in NLA strips)."""
    ad = id_data.animation_data if id_data is not None else None
    out = []
    if ad is not None and _is_line(ad.action):
        out.append(ad.action)
    out += [s.action for _, s in _nla_strips(id_data) if _is_line(s.action) and s.action not in out]
    return out


def find(id_data, line: str):
    """``line``'s action on ``id_data`` (active or in an NLA strip), or None."""
    for a in line_actions(id_data):
        if a.get(LINE_PROP) == line:
            return a
    return None


def span(action) -> dict | None:
    """The stored span of a line action: {"first", "last" (scene frames, inclusive), "left", "right",
    "content_start" (its sound strip's timing when animated)}."""
    raw = action.get(SPAN_PROP) if action is not None else None
    return json.loads(raw) if isinstance(raw, str) else None


def set_span(action, **values) -> None:
    d = span(action) or {}
    d.update(values)
    action[SPAN_PROP] = json.dumps(d)


def bag(id_data, action):
    """The F-curve container of ``action`` for ``id_data`` (its slot's channelbag on 4.4+)."""
    if not keyframes._layered():  # noqa: SLF001 - one definition of the version switch
        return action
    from bpy_extras import anim_utils

    slot = None
    ad = id_data.animation_data
    if ad is not None and ad.action == action and ad.action_slot is not None:
        slot = ad.action_slot
    if slot is None:
        for _, s in _nla_strips(id_data):
            if s.action == action and getattr(s, "action_slot", None) is not None:
                slot = s.action_slot
    if slot is None:
        slot = next((sl for sl in action.slots if sl.target_id_type == id_data.id_type), None) or \
            action.slots.new(id_type=id_data.id_type, name=id_data.name)
    return anim_utils.action_ensure_channelbag_for_slot(action, slot)


def curves(id_data, action):
    """The ``fcurves`` collection of ``action`` for ``id_data``."""
    return bag(id_data, action).fcurves


def key_range(id_data, action) -> tuple[float, float] | None:
    """(first, last) keyed frame of the action's curves, or None."""
    lo, hi = None, None
    for fc in curves(id_data, action):
        if len(fc.keyframe_points):
            a, b = fc.range()
            lo = a if lo is None else min(lo, a)
            hi = b if hi is None else max(hi, b)
    return None if lo is None else (lo, hi)


def _line_tracks(ad):
    """Tracks holding line strips (the add-on's own first), then the add-on's named track if missing."""
    own = [t for t in ad.nla_tracks if t.name == TRACK_NAME]
    other = [t for t in ad.nla_tracks if t.name != TRACK_NAME and any(_is_line(s.action) for s in t.strips)]
    return own + other


def _fits(track, lo: float, hi: float) -> bool:
    return all(s.frame_end <= lo or s.frame_start >= hi for s in track.strips)


def _fix_extrapolation(track) -> None:
    """A track of lines plays like Blender's own pushed-down actions: the first strip holds both ways, the later
    ones hold forward (so no line covers another's frames)."""
    if not all(_is_line(s.action) for s in track.strips):
        return  # the artist's own mix of strips: their settings stay
    for i, s in enumerate(sorted(track.strips, key=lambda s: s.frame_start)):
        s.extrapolation = "HOLD" if i == 0 else "HOLD_FORWARD"


def _place_in_track(id_data, action) -> None:
    """Put ``action`` as a strip covering its keys on a track of lines where it fits (a line the artist pushed
    down keeps its track company), else on a new ``emodiffhead lines`` track; replaces an old strip of it."""
    ad = id_data.animation_data
    r = key_range(id_data, action) or (0.0, 1.0)
    for t, s in _nla_strips(id_data):
        if s.action == action:
            t.strips.remove(s)
    track = next((t for t in _line_tracks(ad) if _fits(t, r[0], r[1])), None)
    if track is None:
        track = ad.nla_tracks.new()
        track.name = TRACK_NAME
    strip = track.strips.new(action.name, int(r[0]), action)
    strip.blend_type = "REPLACE"
    _fix_extrapolation(track)


def refresh_strip(id_data, action) -> None:
    """After keys changed: the NLA strip (if any) covers the action's keys again, where the artist put it."""
    for t, s in _nla_strips(id_data):
        if s.action == action:
            r = key_range(id_data, action)
            if r is None:
                return
            name, blend, extra, infl = s.name, s.blend_type, s.extrapolation, s.influence
            t.strips.remove(s)
            try:
                ns = t.strips.new(name, int(r[0]), action)
            except RuntimeError:  # now overlaps a neighbour on that track
                _place_in_track(id_data, action)
                return
            ns.blend_type, ns.extrapolation, ns.influence = blend, extra, infl
            _fix_extrapolation(t)
            return


def ensure(id_data, line: str, name: str):
    """``line``'s action on ``id_data``, created and placed (see the module docstring) when missing.
    Returns (action, created)."""
    act = find(id_data, line)
    if act is not None:
        return act, False
    ad = id_data.animation_data or id_data.animation_data_create()
    if ad.use_tweak_mode:
        raise ValueError("an NLA strip is in tweak mode: leave it (Tab in the NLA editor) before animating a new line")
    act = bpy.data.actions.new(name)
    act[LINE_PROP] = line
    if ad.action is None and not len(ad.nla_tracks):
        ad.action = act
        if keyframes._layered():
            keyframes.ensure_action(id_data, name)  # assigns a slot
        return act, True
    if _is_line(ad.action):  # another line was the active action: it moves to the line track
        other = ad.action
        bag(id_data, other)
        ad.action = None
        _place_in_track(id_data, other)
    bag(id_data, act)
    return act, True


def place(id_data, action) -> None:
    """After keying a newly made action: give it its NLA strip (when it is not the active action)."""
    ad = id_data.animation_data
    if ad is not None and ad.action == action:
        return
    if any(s.action == action for _, s in _nla_strips(id_data)):
        refresh_strip(id_data, action)
    else:
        _place_in_track(id_data, action)


def shift(id_data, action, delta: float) -> None:
    """Move every key of ``action`` (and its handles) by ``delta`` frames; its NLA strip follows."""
    if not delta:
        return
    for fc in curves(id_data, action):
        for kp in fc.keyframe_points:
            kp.co.x += delta
            kp.handle_left.x += delta
            kp.handle_right.x += delta
        fc.update()
    refresh_strip(id_data, action)


def line_at(id_data, frame: float, nearest: bool = True):
    """The line action whose span covers ``frame``, else (with ``nearest``) the nearest line by frames, else the
    active action when it is a line; None when there is none."""
    best, dist = None, None
    for a in line_actions(id_data):
        sp = span(a)
        if not sp:
            continue
        if sp["first"] <= frame <= sp["last"]:
            return a
        d = min(abs(frame - sp["first"]), abs(frame - sp["last"]))
        if nearest and (dist is None or d < dist):
            best, dist = a, d
    if best is not None or not nearest:
        return best
    ad = id_data.animation_data if id_data is not None else None
    return ad.action if ad is not None and _is_line(ad.action) else None


def follow_strip(ids: list, line: str, timing) -> tuple[int, str]:
    """Keep the line's keys on its sound strip. ``ids``: the head's shape keys and armature (None skipped);
    ``timing``: the strip's :class:`..sequencer.StripTiming` now.

    Returns (frames moved, error). A slid strip moves its keys with it (same trim); a strip whose trim changed
    since Animate gives an error that says to re-animate; 0, "" when nothing changed or nothing is stored.
    """
    acts = [(i, find(i, line)) for i in ids if i is not None]
    acts = [(i, a) for i, a in acts if a is not None and span(a) and "left" in span(a)]
    if not acts:
        return 0, ""
    sp = span(acts[0][1])
    if (sp["left"], sp["right"]) == (timing.left, timing.right):
        return 0, ""
    then_offset = int(round(sp["left"] - sp["content_start"]))
    if then_offset != timing.offset or sp["right"] - sp["left"] != timing.duration:
        return 0, (f"the sound strip '{line}' was trimmed after it was animated (frames {sp['left']}-{sp['right'] - 1} "
                   f"then, {timing.left}-{timing.right - 1} now): animate the line again")
    delta = timing.left - sp["left"]
    for i, a in acts:
        shift(i, a, delta)
        s2 = span(a)
        set_span(a, first=s2["first"] + delta, last=s2["last"] + delta, left=timing.left, right=timing.right,
                 content_start=timing.content_start)
    return delta, ""


def follow_all_strips(scene, mesh_obj) -> list[str]:
    """:func:`follow_strip` for every line of the head whose sound strip still exists; returns the notes (lines
    moved, or trimmed ones that need animating again)."""
    from . import mapping, sequencer

    key = mesh_obj.data.shape_keys
    ids = [key, mapping.armature(mesh_obj)]
    strips = {s.name: s for s in sequencer.sound_strips(scene)}
    notes = []
    for a in line_actions(key):
        line = a.get(LINE_PROP)
        if line in strips:
            moved, error = follow_strip(ids, line, sequencer.timing(strips[line]))
            if error:
                notes.append(error)
            elif moved:
                notes.append(f"the keys of '{line}' followed its sound strip ({moved:+d} frames)")
    return notes


_following = {"busy": False}


@bpy.app.handlers.persistent
def follow_strips_handler(scene, depsgraph=None) -> None:
    """``depsgraph_update_post``: when a sound strip of an animated line was slid, its keys follow at once (on
    every scene's heads). Moving keys causes one more update, which finds nothing left to move."""
    if _following["busy"] or scene is None or scene.sequence_editor is None:
        return
    if depsgraph is not None and not any(isinstance(u.id, bpy.types.Scene) for u in depsgraph.updates):
        return  # strips live on the scene: nothing to follow unless the scene changed
    _following["busy"] = True
    try:
        for ob in scene.objects:
            key = ob.data.shape_keys if ob.type == "MESH" else None
            if key is not None and key.animation_data is not None and line_actions(key):
                follow_all_strips(scene, ob)
    except (ReferenceError, AttributeError, KeyError) as e:  # mid-undo or a half-deleted object: the next update
        log.debug("strip follow skipped (%s); the next update tries again", e)  # tries again
    finally:
        _following["busy"] = False



def register_handlers() -> None:
    h = bpy.app.handlers.depsgraph_update_post
    if follow_strips_handler not in h:
        h.append(follow_strips_handler)


def unregister_handlers() -> None:
    h = bpy.app.handlers.depsgraph_update_post
    if follow_strips_handler in h:
        h.remove(follow_strips_handler)
