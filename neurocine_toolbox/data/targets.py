"""CLIP targets of fMRI windows: what the encoder's pooled output is compared with."""

import torch.nn.functional as F


def window_targets(batch):
    """Mean unit-norm CLIP text and image embeddings over a window's TRs (and frames).

    Parameters
    ----------
    batch : dict
        ``text_embeds`` ``[N, w, d]`` and ``image_embeds`` ``[N, w, frames_per_tr, d]`` as given
        by :class:`~neurocine_toolbox.data.dataset.FMRIWindowDataset` with embeddings.

    Returns
    -------
    text, image : Tensor ``[N, d]``
    """
    text = F.normalize(batch["text_embeds"].float(), dim=-1).mean(dim=1)
    image = F.normalize(batch["image_embeds"].float(), dim=-1).mean(dim=(1, 2))
    return text, image
