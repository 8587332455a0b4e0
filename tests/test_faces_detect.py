"""Detection paths: HOG on real faces, multi-face, no face, whole-crop fallback, hand-drawn boxes."""

from __future__ import annotations

import numpy as np
import pytest

from tfgnet_desk.faces import FaceDetection, NoFaceError, detect_faces, landmarks_in_box, largest_face


def _load(data_root, name: str) -> np.ndarray:
    from tfgnet_desk.imaging import load_image

    return load_image(data_root / "celeba10k" / "images" / name)


def _inside(points: np.ndarray, box, margin: float) -> bool:
    x0, y0, x1, y1 = box
    return bool(
        np.all(points[:, 0] >= x0 - margin)
        and np.all(points[:, 0] <= x1 + margin)
        and np.all(points[:, 1] >= y0 - margin)
        and np.all(points[:, 1] <= y1 + margin)
    )


def test_flat_image_has_no_face_and_largest_face_raises():
    grey = np.full((120, 100, 3), 128, np.uint8)
    assert detect_faces(grey, use_cnn=False) == []  # the CNN path has its own test
    with pytest.raises(NoFaceError, match="no face found in a 100x120 image"):
        largest_face(grey, use_cnn=False)


def test_wide_noise_image_is_not_taken_for_a_face_crop():
    noise = np.random.default_rng(0).integers(0, 256, (100, 300, 3), dtype=np.uint8)
    assert detect_faces(noise, use_cnn=False) == []  # aspect 3:1 is no face crop


def test_forced_whole_crop_on_anything_gives_a_whole_crop_detection():
    grey = np.full((96, 80), 90, np.uint8)  # greyscale input is accepted too
    (det,) = detect_faces(grey, use_cnn=False, whole_crop=True)
    assert det.method == "whole-crop" and det.box == (0, 0, 80, 96) and det.score == 0.0
    assert det.landmarks68.shape == (68, 2) and det.landmarks5.shape == (5, 2)
    assert _inside(det.landmarks68, det.box, margin=8)


@pytest.mark.data
def test_hog_finds_a_celeba_face_with_landmarks_inside_its_box(data_root):
    img = _load(data_root, "000010.jpg")
    faces = detect_faces(img)
    assert len(faces) == 1
    det = faces[0]
    assert isinstance(det, FaceDetection) and det.method == "hog" and det.score > 0
    x0, y0, x1, y1 = det.box
    assert 0 <= x0 < x1 <= img.shape[1] and 0 <= y0 < y1 <= img.shape[0]
    assert 30 <= x1 - x0 <= 80  # CelebA faces are ~45 px wide at 89x109
    assert _inside(det.landmarks68, det.box, margin=10)
    eyes = det.landmarks5[:2]
    assert eyes[0, 0] < eyes[1, 0] and abs(eyes[0, 1] - eyes[1, 1]) < 6
    assert det.to_dict()["method"] == "hog"


@pytest.mark.data
def test_two_tiled_faces_are_both_found_largest_first(data_root):
    import cv2

    a = _load(data_root, "000010.jpg")
    b = cv2.resize(_load(data_root, "000002.jpg"), (67, 82), interpolation=cv2.INTER_AREA)
    canvas = np.full((109, 89 + 67 + 10, 3), 127, np.uint8)
    canvas[:, :89] = a
    canvas[10:92, 99:] = b
    faces = detect_faces(canvas)
    assert len(faces) == 2
    assert faces[0].area >= faces[1].area
    assert faces[0].box[2] <= 95 and faces[1].box[0] >= 89  # the big face is the left tile
    centres = [np.mean(f.landmarks68, axis=0)[0] for f in faces]
    assert centres[0] < 89 < centres[1]


@pytest.mark.data
def test_heavily_degraded_crop_falls_back_and_says_how(data_root):
    import cv2

    img = _load(data_root, "000010.jpg")[30:100, 10:80]
    blurred = cv2.GaussianBlur(cv2.resize(img, (16, 16), interpolation=cv2.INTER_AREA), (0, 0), 1.5)
    blurred = cv2.resize(blurred, (128, 128), interpolation=cv2.INTER_LINEAR)
    faces = detect_faces(blurred, use_cnn=False)
    assert len(faces) == 1
    assert faces[0].method == "whole-crop" and faces[0].box == (0, 0, 128, 128)
    assert _inside(faces[0].landmarks68, (0, 0, 128, 128), margin=20)
    eyes_y, mouth_y = faces[0].landmarks5[:2, 1].mean(), faces[0].landmarks5[3:, 1].mean()
    assert eyes_y < mouth_y


@pytest.mark.data
def test_cnn_detector_catches_what_hog_misses(data_root):
    img = _load(data_root, "000003.jpg")  # a turned head that HOG misses
    assert detect_faces(img, use_cnn=False, whole_crop=False) == []
    (det,) = detect_faces(img)
    assert det.method == "cnn" and det.score > 0
    assert _inside(det.landmarks68, det.box, margin=12)


@pytest.mark.data
def test_hand_drawn_box_gives_landmarks_in_that_box(data_root):
    img = _load(data_root, "000010.jpg")
    auto = detect_faces(img)[0]
    manual = landmarks_in_box(img, auto.box)
    assert manual.method == "manual" and manual.box == auto.box
    assert np.abs(manual.landmarks68 - auto.landmarks68).mean() < 1.5
    (via_detect,) = detect_faces(img, box=auto.box)
    np.testing.assert_allclose(via_detect.landmarks68, manual.landmarks68)
