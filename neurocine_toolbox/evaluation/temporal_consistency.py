"""Temporal consistency: how alike a clip's consecutive frames look to CLIP.

The mean cosine similarity of the CLIP image embeddings (``get_image_features``) of frames
``k`` and ``k + 1``, over a clip's consecutive pairs. Computed for the decoded clips and for the
truth: a decoder that flickers scores lower than the movie, one that freezes scores higher.
"""

import numpy as np


def consecutive_cosine(embeddings):
    """Mean cosine between consecutive frames' embeddings.

    Parameters
    ----------
    embeddings : float ``[N, F, d]``

    Returns
    -------
    ndarray ``[N]``
    """
    e = np.asarray(embeddings, np.float64)
    if e.ndim != 3 or e.shape[1] < 2:
        raise ValueError(f"temporal consistency needs clips of at least 2 frames, embeddings {e.shape}")
    e = e / np.maximum(np.linalg.norm(e, axis=-1, keepdims=True), 1e-12)
    return np.sum(e[:, 1:] * e[:, :-1], axis=-1).mean(axis=1)


def clip_frame_embeddings(clip, clips, batch_size=32):
    """CLIP image embeddings of every frame, ``[N, F, d]`` float32.

    Parameters
    ----------
    clip : ClipComponents
        From :func:`neurocine_toolbox.models.pretrained.load_clip`.
    clips : uint8 ``[N, F, H, W, 3]``
    batch_size : int
    """
    from ..data.embedding import clip_images

    clips = np.asarray(clips)
    flat = clips.reshape(-1, *clips.shape[2:])
    return clip_images(clip, flat, batch_size).reshape(clips.shape[0], clips.shape[1], -1)
