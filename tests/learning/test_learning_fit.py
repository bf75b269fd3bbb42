"""The identity head: split, exemplars, calibration, metrics, and the ONNX graph equal to numpy."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from learning_data import faces_of, labelled_set, people_centres

from services.core import registry as reg
from services.core.faces.onnx_head import extract_head, head_only
from services.trainer.fit import FitParams, LabelledSet, choose_exemplars, fit, held_out_split, person_distances


def test_split_is_stable_and_keeps_a_training_face_per_person() -> None:
    data = labelled_set(6, 10)
    first = held_out_split(data.face_ids, data.person, 20)
    assert np.array_equal(first, held_out_split(list(data.face_ids), data.person.copy(), 20))
    assert 0.08 < first.mean() < 0.35
    lone = held_out_split(["a", "b"], np.array([0, 1]), 100)  # everything would be held out
    assert not lone.any()
    # A face keeps its side when other faces come and go.
    more = labelled_set(6, 14)
    again = held_out_split(more.face_ids, more.person, 20)
    shared = {f: h for f, h in zip(more.face_ids, again, strict=True)}
    assert all(shared[f] == h for f, h in zip(data.face_ids, first, strict=True) if f in shared)


def test_fit_calibrates_between_same_and_different_people() -> None:
    data = labelled_set(5, 20, unknown=6)
    result = fit(data, FitParams())
    assert result.calibrated
    assert 0.45 < result.threshold < 0.85
    assert result.metrics["accuracy"] >= 0.95
    assert result.metrics["unknown_rejection"] >= 0.95
    assert set(result.metrics["per_person"]) == set(data.people)
    for values in result.metrics["per_person"].values():
        assert values["recall"] is None or values["recall"] >= 0.75
    # Strangers far from everyone are rejected; new faces of a known person are named.
    centres = people_centres(6, 0)
    stranger = faces_of(np.random.default_rng(5).normal(0, 0.06, 128).astype(np.float32), 5, 77)
    dist = person_distances(stranger, result.gallery, result.gallery_mask)
    assert (dist.min(axis=1) >= result.threshold).all()
    known = person_distances(faces_of(centres[2], 5, 4242), result.gallery, result.gallery_mask)
    assert (known.argmin(axis=1) == 2).all() and (known.min(axis=1) < result.threshold).all()


def test_target_rejection_turns_away_strangers_and_the_published_gallery_has_every_face() -> None:
    data = labelled_set(6, 20, unknown=0)
    # People whose faces overlap: the best (accuracy + rejection) threshold lets strangers through; the target
    # does not, at the price of naming fewer known faces.
    rng = np.random.default_rng(11)
    centres = rng.normal(size=(6, 16))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    person = np.repeat(np.arange(6), 30)
    vectors = (centres[person] + rng.normal(0, 0.375, (180, 16))).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    close = LabelledSet([f"f{i}" for i in range(180)], vectors, person, [f"p{i}" for i in range(6)])
    loose = fit(close, FitParams(threshold_range=(0.2, 1.8)))
    strict = fit(close, FitParams(target_rejection=0.99, threshold_range=(0.2, 1.8)))
    assert loose.metrics["unknown_rejection"] < 0.99 <= strict.metrics["unknown_rejection"]
    assert strict.calibrated and strict.threshold < loose.threshold
    strict = fit(data, FitParams(target_rejection=0.99))
    # The published gallery holds the held-out faces too; the calibration gallery does not.
    assert strict.published_mask.sum() == len(data.face_ids) > strict.gallery_mask.sum()
    held = data.descriptors[strict.held_out]
    from_published = person_distances(held, strict.published_gallery, strict.published_mask).min(axis=1)
    assert np.allclose(from_published, 0.0, atol=1e-3)


def test_given_threshold_is_used_as_is() -> None:
    result = fit(labelled_set(3, 10), FitParams(threshold=0.2))
    assert result.threshold == 0.2 and not result.calibrated
    assert result.metrics["accuracy"] < 0.5


def test_one_person_falls_back_to_a_safe_threshold() -> None:
    result = fit(labelled_set(1, 12), FitParams())
    assert result.threshold <= 0.6
    assert result.notes


def test_exemplars_are_capped_and_spread() -> None:
    vectors = np.random.default_rng(1).normal(0, 0.05, (300, 128)).astype(np.float32)
    chosen = choose_exemplars(vectors, 40)
    assert len(chosen) == 40 and len(set(chosen.tolist())) == 40
    result = fit(labelled_set(3, 60), FitParams(max_exemplars=16))
    assert result.gallery.shape[1] == 16 and result.gallery_mask.sum() == 48


def test_onnx_head_equals_numpy_and_extracts() -> None:
    data = labelled_set(4, 9)
    result = fit(data, FitParams())
    result.gallery_mask[1, 3:] = False  # uneven people: padding must never win
    model = head_only(result.gallery, result.gallery_mask).SerializeToString()
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    queries = data.descriptors[:20]
    dist, index, best = session.run(None, {"descriptors": queries})
    expected = person_distances(queries, result.gallery, result.gallery_mask)
    assert np.abs(dist - expected).max() < 2e-3  # sqrt near 0 magnifies float32 rounding
    assert np.array_equal(index, expected.argmin(axis=1))
    assert np.allclose(best, expected.min(axis=1), atol=2e-3)
    again = ort.InferenceSession(extract_head(model), providers=["CPUExecutionProvider"])
    assert np.allclose(again.run(None, {"descriptors": queries})[0], dist)


@pytest.mark.parametrize(("distance", "named"), [(0.2, True), (0.59, True), (0.61, False), (1.2, False)])
def test_decision_and_confidence(distance: float, named: bool) -> None:
    people, confidences = reg.decide(np.array([1]), np.array([distance], dtype=np.float32), 0.6, ["a", "b"])
    assert people == (["b"] if named else [None])
    assert 0.5 <= confidences[0] <= 1.0
    assert reg.confidence(0.6, 0.6) == pytest.approx(0.5)


def test_not_x_answers_pull_x_threshold_below_the_faces_said_not_to_be_x() -> None:
    data = labelled_set(4, 20)
    base = fit(data, FitParams(target_rejection=0.99))
    # Faces of a look-alike stranger, each said "not person-0": they sit just inside person-0's threshold.
    rng = np.random.default_rng(5)
    anchor = data.descriptors[data.person == 0][0]
    direction = rng.normal(size=(6, anchor.shape[0])).astype(np.float32)
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    look_alikes = (anchor + direction * base.threshold * 0.8).astype(np.float32)
    answered = LabelledSet(data.face_ids, data.descriptors, data.person, data.people, look_alikes,
                           np.zeros(6, dtype=np.int64))
    learnt = fit(answered, FitParams(target_rejection=0.99))
    assert learnt.metrics["not_x_answers"] == 6
    assert learnt.threshold < base.threshold
    assert learnt.metrics["not_x_kept_out"] == 1.0
    distances = person_distances(look_alikes, learnt.published_gallery, learnt.published_mask)[:, 0]
    assert (distances >= learnt.threshold).all()
