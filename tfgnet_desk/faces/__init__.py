"""Face analysis: detection, landmarks, alignment, identity encoders and identity-region masks.

Importing this package is light (numpy only); dlib, cv2, onnx and insightface load on first use.
See docs/identity.md for the backends, the calibration and the measured figures.
"""

from .align import (
    TEMPLATES,
    align_face,
    arcface_template,
    dlib_template,
    estimate_alignment,
    ffhq_template,
    invert_transform,
    similarity_transform,
    template_points,
    transform_points,
)
from .detect import FaceDetection, NoFaceError, detect_faces, landmarks_in_box, largest_face
from .identity import (
    IdentityEncoder,
    IdentityScore,
    available_identity_encoders,
    cosine,
    get_identity_encoder,
    register_identity_encoder,
)
from .landmarks import five_from_68
from .masks import ellipse_mask, face_mask, fill_background_noise, identity_mask
from .models import FaceModelError, dlib_model_path

__all__ = [
    "TEMPLATES",
    "FaceDetection",
    "FaceModelError",
    "IdentityEncoder",
    "IdentityScore",
    "NoFaceError",
    "align_face",
    "arcface_template",
    "available_identity_encoders",
    "cosine",
    "detect_faces",
    "dlib_model_path",
    "dlib_template",
    "ellipse_mask",
    "estimate_alignment",
    "face_mask",
    "ffhq_template",
    "fill_background_noise",
    "five_from_68",
    "get_identity_encoder",
    "identity_mask",
    "invert_transform",
    "landmarks_in_box",
    "largest_face",
    "register_identity_encoder",
    "similarity_transform",
    "template_points",
    "transform_points",
]
