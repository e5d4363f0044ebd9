"""Dialogue editing as an artist does it, in real Blender with the real backend (issue #12's table, one process).

Rows: 1 lines render on their own, 2 NLA layers kept, 5 slid strips, 6 trimmed strips, 7 hand-made emotion keys,
8 Audio: File; and: placement, AV-sync, sparse keys, one movie per line, emotion row, preview, undo, menus, tooltips.
"""

from __future__ import annotations

import json
import shutil
import wave

import pytest
from helpers import need_audio, run_blender_script

FRAMES = 77  # the ARCTIC clip at 25 fps


@pytest.fixture(scope="module")
def dialogue(server, tmp_path_factory, addon_zip, example_audio, example_photo):
    need_audio()
    d = tmp_path_factory.mktemp("dialogue")
    user = d / "blender_user"
    user.mkdir()
    wav2 = d / "line2.wav"
    shutil.copy(example_audio, wav2)
    short = d / "short.wav"
    with wave.open(str(example_audio)) as r, wave.open(str(short), "wb") as w:
        w.setparams(r.getparams())
        w.writeframes(r.readframes(int(0.3 * r.getframerate())))
    url, _, token_file = server
    params = {"url": url, "token_file": str(token_file), "wav": str(example_audio), "wav2": str(wav2),
              "short_wav": str(short), "photo": str(example_photo), "out_dir": str(d), "render_size": 128}
    r = run_blender_script("dialogue.py", addon_zip, json.dumps(params), user_dir=user, timeout=400)
    print(json.dumps(r.get("timings")))
    return r


def test_head_is_placed_clear_of_the_default_cube(dialogue):
    r = dialogue
    assert r["create_head"][0] == "FINISHED"
    (lo, hi), (clo, chi) = r["head_box"], r["cube_box"]
    assert not all(lo[i] < chi[i] and hi[i] > clo[i] for i in range(3)), (r["head_box"], r["cube_box"])


def test_row8_audio_file_leaves_nothing_behind_and_adds_lines_at_the_current_frame(dialogue):
    r = dialogue
    assert r["short_file"][0] == "ERROR" and "too short" in r["short_file"][1]
    assert r["strips_after_short"] == []
    assert r["line1"][0] == "FINISHED"
    (s1,) = r["line1_strip"]
    assert s1["type"] == "SOUND" and s1["left"] == 1 and s1["channel"] == 1 and s1["right"] - s1["left"] == FRAMES
    ch, left, right = r["line2_strip"]
    assert r["line2"][0] == "FINISHED" and left == 100 and right - left == FRAMES
    assert r["music"][0] == 1 and ch != 1  # the artist's music occupies channel 1 there


def test_row2_animate_keeps_the_artists_nla_layers(dialogue):
    r = dialogue
    assert r["line1_active_action"]  # one line, nothing else: the line's action is the active one
    assert r["reanimate_with_nod"][0] == "FINISHED", r["reanimate_with_nod"]
    before, after = r["nod_keys"]
    assert before == after and len(after) == 3  # the nod's keys untouched
    assert r["nod_action_paths"] == ['pose.bones["neck"].rotation_euler']  # nothing written into the nod
    assert r["active_after"][0] == "head nod"
    jaw0, jaw1 = r["jaw"]
    for f in ("20", "40"):
        assert jaw1[f] == pytest.approx(jaw0[f], abs=1e-5)  # the jaw moves 1.0x, not 2.0x
    neck0, neck1 = r["neck"]
    assert neck1["20"][0] == pytest.approx(neck0["20"][0] + 0.15, abs=1e-4)  # the nod adds on top
    assert neck1["40"][0] == pytest.approx(neck0["40"][0], abs=1e-4)
    # line 1 stays in the artist's pushed-down track; line 2 joins it there (room after line 1), one action each
    for tracks in r["nla_after_line2"].values():
        (name, actions), = tracks
        assert name == "artist speech" and len(actions) == 2 and len(set(actions)) == 2, tracks


def test_av_sync_and_sparse_keys_within_the_stated_error(dialogue):
    r = dialogue
    assert r["sync_mode"] == "AUDIO_SYNC"
    sp = r["sparse"]
    assert sp["curves"] >= 50 and sp["keys_total"] < 0.5 * sp["curves"] * sp["frames"], sp
    assert sp["max_error"] <= 0.01 + 1e-4, sp


def test_row1_each_line_renders_on_its_own_and_replaces_its_movie(dialogue):
    r = dialogue
    assert r["render_line1"][0] == "FINISHED", r["render_line1"]
    assert r["render_line2"][0] == "FINISHED", r["render_line2"]
    assert r["render_line1_again"][0] == "FINISHED", r["render_line1_again"]
    movies = r["renders_after_row1"]
    assert len(movies) == 2, movies  # the second render of line 1 replaced the first
    by_start = sorted((m["left"], m["right"] - m["left"]) for m in movies)
    assert by_start[0][0] == 1 and by_start[1][0] == 100
    assert all(abs(d - FRAMES) <= 1 for _, d in by_start)


def test_row5_keys_follow_a_slid_strip(dialogue):
    r = dialogue
    assert r["line2_keys_right_after_slide"] == [110.0, float(110 + FRAMES - 1)]  # at once, not only at render
    assert r["render_slid"][0] == "FINISHED", r["render_slid"]
    sp = r["line2_span_after_slide"]
    assert sp["left"] == 110 and sp["first"] == 110 and sp["last"] == 110 + FRAMES - 1
    assert r["line2_keys_after_slide"] == [110.0, float(110 + FRAMES - 1)]


def test_row6_trimmed_strip_is_the_line(dialogue):
    r = dialogue
    assert r["render_trimmed_before"][0] == "ERROR" and "animate the line again" in r["render_trimmed_before"][1]
    assert r["animate_trimmed"][0] == "FINISHED", r["animate_trimmed"]
    sp = r["line1_span_trimmed"]
    assert (sp["first"], sp["left"], sp["right"]) == (20, 20, 61)
    assert abs(sp["last"] - 60) <= 1
    assert r["line1_keys_trimmed"][0] >= 20 and r["line1_keys_trimmed"][1] <= 61
    assert r["render_trimmed"][0] == "FINISHED", r["render_trimmed"]
    line1 = [m for m in r["renders_after_trim"] if m["left"] == 20]
    assert len(line1) == 1 and abs(line1[0]["right"] - line1[0]["left"] - 41) <= 1
    assert len(r["renders_after_trim"]) == 2


def test_row7_hand_made_emotion_keys_survive_reanimate(dialogue):
    r = dialogue
    assert r["reanimate_hand"][0] == "FINISHED"
    hand, after = r["hand_keys"]
    assert hand == after and [k[2] for k in after].count("BEZIER") == 4
    assert r["other_keys"][0] == r["other_keys"][1]
    assert r["line2_speech_curves"] >= 52


def test_the_emotion_row_is_honoured_after_the_first_animate(dialogue):
    r = dialogue
    assert r["emotion_row"][0] == "FINISHED"
    sad, happy = r["emotion_row_values"]
    assert sad == pytest.approx(0.9, abs=0.02) and happy == pytest.approx(0.0, abs=0.02)


def test_preview_frame_and_live_preview(dialogue):
    r = dialogue
    assert r["preview"][0] == "FINISHED" and r["preview_second"][0] == "FINISHED", r["preview"]
    assert min(r["preview_image"]) == 512
    assert r["preview_message"].startswith("frame 40")
    assert r["live_due_after_frame"] and r["live_message_frame"].startswith("frame 52")
    assert r["live_due_after_edit"]
    # one request per change, then idle (the export's own frame stepping does not ask for more)
    assert r["live_requests_frame"] == 1 and r["live_edit"][1] == 1, (r["live_requests_frame"], r["live_edit"])
    frame_change, curve_edit = r["live_pixel_change"]
    assert frame_change > 0.001 and curve_edit > 0.001


def test_undo_menus_and_tooltips(dialogue):
    r = dialogue
    for op in ("emodiffhead.import_track", "emodiffhead.render_clip", "emodiffhead.animate",
               "emodiffhead.emotion_key", "emodiffhead.create_head"):
        assert "UNDO" in r["undo"][op], (op, r["undo"][op])
    assert r["menus"]["TOPBAR_MT_file_import"] == ["menu_import"]
    assert r["menus"]["TOPBAR_MT_file_export"] == ["menu_export"]
    assert r["no_tooltip"] == []
