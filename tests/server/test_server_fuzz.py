"""Fuzz every operation of the published OpenAPI spec (schemathesis); no request may get a 5xx."""

from __future__ import annotations

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings

MAX_EXAMPLES = 12  # per operation; bounded time


def test_openapi_fuzz_finds_no_server_errors(live):
    spec = httpx.get(live.url + "/openapi.json", headers=live.auth).json()
    schema = schemathesis.openapi.from_dict(spec)
    operations = [r.ok() for r in schema.get_all_operations()]
    assert len(operations) >= 8
    failures: list[str] = []
    calls = [0]
    for op in operations:
        @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
        @given(case=op.as_strategy())
        def run(case) -> None:
            r = case.call(base_url=live.url, headers=live.auth, timeout=60)
            calls[0] += 1
            if r.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} -> {r.status_code}: {r.text[:300]}")

        run()
    assert calls[0] >= len(operations)
    assert not failures, "\n".join(failures[:10])
    with httpx.Client(base_url=live.url, headers=live.auth) as c:
        assert c.get("/health").status_code == 200  # still alive


def test_fuzz_form_fields_with_real_uploads(live, example_audio, example_photo, job_files):
    """Schema-generated form fields, but with real audio/photo/track files, so the fuzz reaches the animator
    and the job validation instead of stopping at the upload checks."""
    spec = httpx.get(live.url + "/openapi.json", headers=live.auth).json()
    schema = schemathesis.openapi.from_dict(spec)
    real = {"audio": example_audio.read_bytes(), "photo": example_photo.read_bytes(), "track": job_files[2]}
    failures: list[str] = []
    statuses: list[int] = []
    for path in ("/animate", "/jobs"):
        op = schema[path]["POST"]

        @settings(max_examples=8, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
        @given(case=op.as_strategy())
        def run(case) -> None:
            if not isinstance(case.body, dict):
                return
            body = dict(case.body)
            needed = {"audio"} if path == "/animate" else {"audio", "photo"} | ({"track"} & set(body))
            body.update({name: real[name] for name in needed})
            case.body = body
            r = case.call(base_url=live.url, headers=live.auth, timeout=120)
            statuses.append(r.status_code)
            if r.status_code >= 500:
                failures.append(f"{case.method} {path} {sorted(body)} -> {r.status_code}: {r.text[:300]}")

        run()
    assert statuses and not failures, "\n".join(failures[:10])
    assert any(s < 300 for s in statuses), statuses  # some fuzzed requests were accepted (reached the work)


# ---- adversarial JSON: huge numbers, deep nesting, wrong types (beside the schema-shaped cases above) ----
from hypothesis import strategies as st  # noqa: E402

HUGE_NUMBERS = st.one_of(
    st.integers(41, 5000).map(lambda n: "1" + "0" * (n - 1)),  # longer than any number the server reads
    st.integers(309, 100_000).map(lambda e: f"1e{e}"),  # beyond float range
    st.integers(309, 400).map(lambda e: f"-9.5E+{e}"),
    st.sampled_from(["NaN", "Infinity", "-Infinity"]),
)
DEEP_NESTING = st.tuples(st.integers(17, 20_000), st.sampled_from(["[", '{"a":'])).map(
    lambda a: a[1] * a[0] + ("1" if a[1] != "[" else "") + ("]" if a[1] == "[" else "}") * a[0])
WRONG_TYPES = st.sampled_from(["null", "true", "false", '"25"', '""', "{}", "[]", '{"x": [1, 2]}', "[[1, 2], [3]]",
                               '[null]', '["a", 1]', "-1", "0", "5", "[[[[]]]]", '"\\u0000"'])
ADVERSARIAL = st.one_of(HUGE_NUMBERS.map(lambda t: ("huge", t)), DEEP_NESTING.map(lambda t: ("deep", t)),
                        WRONG_TYPES.map(lambda t: ("type", t)))
TRACK_FIELDS = ["fps", "num_frames", "expression", "pose", "translation", "emotion", "joint_names",
                "expression_names", "emotion_names", "head_model", "format", "version", "meta",
                "expression_base", "emotion_basis"]


def _inject(template: dict, path: tuple, text: str) -> bytes:
    """JSON of ``template`` with the value at ``path`` replaced by the raw JSON ``text``."""
    import copy
    import json

    d = copy.deepcopy(template)
    target = d
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = "__ADVERSARIAL__"
    return json.dumps(d).replace('"__ADVERSARIAL__"', text, 1).encode()


def test_adversarial_json_in_every_json_field_is_a_4xx_naming_it(live, job_files):
    import json

    base_track = json.loads(job_files[2])
    photo, audio = job_files[0], job_files[1]
    failures: list[str] = []
    seen: dict[str, int] = {}

    def check(kind: str, field: str, r: httpx.Response) -> None:
        seen[kind] = seen.get(kind, 0) + 1
        if r.status_code >= 500:
            failures.append(f"{field} ({kind}) -> {r.status_code}: {r.text[:200]}")
        elif kind in ("huge", "deep") and not (400 <= r.status_code < 500 and field in r.json()["detail"]):
            failures.append(f"{field} ({kind}) -> {r.status_code} not a 4xx naming '{field}': {r.text[:200]}")
        elif 400 <= r.status_code < 500 and not any(n in r.json()["detail"] for n in (field, "track", "shape")):
            failures.append(f"{field} ({kind}) -> {r.status_code} does not name the field: {r.text[:200]}")

    settings_ = settings(max_examples=30, deadline=None, database=None, derandomize=True,
                         suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])

    with live.client() as c:
        @settings_
        @given(adv=ADVERSARIAL, where=st.sampled_from(TRACK_FIELDS), inner=st.booleans())
        def track_field(adv, where, inner) -> None:
            kind, text = adv
            value = base_track[where] if where in base_track else None
            path = (where, 0) if inner and isinstance(value, list) and value else (where,)
            body = _inject(base_track, path, text)
            r = c.post("/jobs", files={"photo": ("p.jpg", photo, "image/jpeg"), "audio": ("a.wav", audio, "audio/wav"),
                                       "track": ("t.json", body, "application/json")})
            check(kind, "track", r)

        @settings_
        @given(adv=ADVERSARIAL, inner=st.booleans())
        def shape_field(adv, inner) -> None:
            kind, text = adv
            r = c.post("/heads", data={"shape": f"[0.1, {text}]" if inner else text})
            check(kind, "shape", r)

        @settings_
        @given(adv=ADVERSARIAL, key=st.sampled_from(["t", "emotion", "intensity", None]))
        def timeline_field(adv, key) -> None:
            kind, text = adv
            timeline = (text if key is None else
                        _inject({"keys": [{"t": 0.0, "emotion": "sad", "intensity": 1.0}]}, ("keys", 0, key), text)
                        .decode()[len('{"keys": '):-1])
            r = c.post("/animate", files={"audio": ("a.wav", audio, "audio/wav")},
                       data={"emotion_timeline": timeline})
            check(kind, "emotion_timeline", r)

        track_field()
        shape_field()
        timeline_field()
        assert c.get("/health").status_code == 200
        leftovers = [j for j in c.get("/jobs").json() if j["state"] == "failed" and "internal" in j["error"]]
    assert not failures, "\n".join(failures[:10])
    assert {"huge", "deep", "type"} <= set(seen), seen  # every kind was tried
    assert not leftovers
