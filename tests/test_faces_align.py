"""Alignment: templates, the similarity fit, and that aligned landmarks land on the template."""

from __future__ import annotations

import numpy as np
import pytest

from tfgnet_desk.faces import (
    align_face,
    arcface_template,
    dlib_template,
    estimate_alignment,
    ffhq_template,
    invert_transform,
    similarity_transform,
    transform_points,
)


def test_templates_scale_with_size_and_keep_layout():
    for fn, ref in ((ffhq_template, 512), (arcface_template, 112), (dlib_template, 150)):
        small, big = fn(ref), fn(2 * ref)
        assert small.shape == (5, 2)
        np.testing.assert_allclose(big, 2 * small, rtol=1e-5)
        # eyes above nose above mouth; image-left eye has the smaller x
        assert small[0, 0] < small[1, 0] and small[3, 0] < small[4, 0]
        assert small[:2, 1].max() < small[2, 1] < small[3:, 1].min()
        assert np.all((small > 0) & (small < ref))
    assert dlib_template(150, points=68).shape == (33, 2)
    with pytest.raises(ValueError):
        dlib_template(150, points=7)


def test_similarity_transform_recovers_a_known_transform():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 100, size=(12, 2))
    angle, scale, t = 0.3, 1.7, np.array([12.0, -5.0])
    r = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = scale * src @ r.T + t
    m = similarity_transform(src, dst)
    np.testing.assert_allclose(m[:, :2], scale * r, atol=1e-9)
    np.testing.assert_allclose(m[:, 2], t, atol=1e-9)
    back = transform_points(transform_points(src, m), invert_transform(m))
    np.testing.assert_allclose(back, src, atol=1e-3)
    with pytest.raises(ValueError):
        similarity_transform(np.zeros((5, 2)), dst[:5])


def test_align_face_moves_the_pixels_under_the_landmarks_onto_the_template():
    # A synthetic image with a bright dot at each of 5 landmarks; after alignment the dots must sit on
    # the template points (error measured in pixels of the aligned image).
    import cv2

    lm = np.array([[40.0, 50.0], [80.0, 46.0], [62.0, 72.0], [45.0, 92.0], [79.0, 89.0]], dtype=np.float32)
    for template, size, ref in (("ffhq", 256, ffhq_template(256)), ("arcface", 112, arcface_template(112))):
        errors = []
        for k in range(5):
            img = np.zeros((140, 120, 3), np.uint8)
            cv2.circle(img, (int(lm[k, 0]), int(lm[k, 1])), 2, (255, 255, 255), -1)
            aligned, m = align_face(img, lm, template, size, border="constant")
            assert aligned.shape == (size, size, 3) and m.shape == (2, 3)
            ys, xs = np.nonzero(aligned[:, :, 0] > 60)
            weights = aligned[ys, xs, 0].astype(float)
            centroid = np.array([np.average(xs, weights=weights), np.average(ys, weights=weights)])
            errors.append(np.linalg.norm(centroid - transform_points(lm[k : k + 1], m)[0]))
        fit = np.linalg.norm(transform_points(lm, m) - ref, axis=1)
        assert max(errors) < 1.5, (template, errors)  # pixels follow the matrix
        assert fit.mean() < 0.08 * size, (template, fit)  # the matrix puts landmarks on the template


@pytest.fixture(scope="module")
def celeba_face(data_root):
    from tfgnet_desk.faces import detect_faces
    from tfgnet_desk.imaging import load_image

    img = load_image(data_root / "celeba10k" / "images" / "000010.jpg")  # a frontal face
    return img, detect_faces(img)[0]


@pytest.mark.data
def test_real_face_aligned_landmarks_match_template_and_redetection(celeba_face):
    from tfgnet_desk.faces import detect_faces

    img, det = celeba_face
    for template, size in (("ffhq", 256), ("arcface", 112), ("dlib", 150)):
        aligned, m = align_face(img, det.landmarks68, template, size)
        ref = {"ffhq": ffhq_template, "arcface": arcface_template, "dlib": dlib_template}[template](size)
        mapped = transform_points(det.landmarks5, m)
        err = np.linalg.norm(mapped - ref, axis=1)
        assert err.mean() < 0.04 * size, (template, err)  # 0.01-0.03 measured
        again = detect_faces(aligned)
        assert again, f"no face found again after {template} alignment"
        # landmarks found on the aligned image agree with the mapped ones (the warp moved the pixels)
        moved = np.linalg.norm(again[0].landmarks5 - mapped, axis=1)
        assert moved.mean() < 0.02 * size, (template, moved)


@pytest.mark.data
def test_dlib_template_reproduces_dlib_face_chip(celeba_face):
    import cv2
    import dlib

    from tfgnet_desk.faces import detect_faces, get_identity_encoder
    from tfgnet_desk.faces.landmarks import to_full_object_detection

    img, _ = celeba_face
    big = cv2.resize(img, None, fx=5, fy=5, interpolation=cv2.INTER_CUBIC)
    det = detect_faces(big)[0]
    theirs = dlib.get_face_chip(big, to_full_object_detection(det.landmarks68, det.box), 150, 0.25)
    ours, m = align_face(big, det.landmarks68, "dlib", 150, border="constant")
    assert np.abs(theirs.astype(float) - ours).mean() < 8.0  # grey levels; sub-pixel offsets only
    enc = get_identity_encoder("dlib-resnet")
    assert enc.similarity(enc.embed_aligned(theirs), enc.embed_aligned(ours)) > 0.99
    np.testing.assert_allclose(m, estimate_alignment(det.landmarks68, "dlib", 150))
