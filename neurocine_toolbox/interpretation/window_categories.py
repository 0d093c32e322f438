"""Group a split's windows into categories: the simulated world's classes, or caption keywords.

A window belongs to a category when the captions of all its TRs do (a window that straddles two
clips of different classes belongs to neither); its contrast set ("the rest") is the windows
none of whose TRs do.
"""

import re
from collections import Counter

import numpy as np

#: Words too common or too empty to name a category.
STOPWORDS = frozenset("""
a an the and or of on in at to with by for from into onto over under up down is are was were be
being been it its this that there their they he she his her him them some while through near
next top bottom left right front back very image picture photo video frame close view
""".split())


def simulated_class_names(captions):
    """Each caption's simulated class name (``"red_disc"`` …), or None when any caption is not one.

    The simulated worlds' captions are generated from their classes
    (:meth:`~neurocine_toolbox.simulate.classes.VisualClass.caption`), so a caption identifies
    its class exactly: the shapes world's is the class's caption; the natural world's starts with
    its shot's first shape (its class), followed by " and " another shape or " in front of " the
    photograph.
    """
    from ..simulate.classes import CLASSES

    by_caption = {c.caption(): c.name for c in CLASSES}
    shapes = {c.caption().removesuffix(" on a dark background"): c.name for c in CLASSES}

    def name(caption):
        caption = str(caption)
        if caption in by_caption:
            return by_caption[caption]
        for shape, class_name in shapes.items():
            if caption.startswith(shape + " and ") or caption.startswith(shape + " in front of "):
                return class_name
        return None

    names = [name(caption) for caption in captions]
    return None if any(n is None for n in names) else names


def _words(caption):
    return set(re.findall(r"[a-z]+", str(caption).lower())) - STOPWORDS


def frequent_keywords(captions, n=5, min_share=0.05, max_share=0.5):
    """The ``n`` commonest content words of the captions, each in between ``min_share`` and ``max_share`` of them."""
    counts = Counter(word for caption in captions for word in _words(caption))
    total = max(len(captions), 1)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [word for word, count in ranked if min_share <= count / total <= max_share][:n]


def window_categories(captions, starts, window, categories="auto", max_categories=5, min_windows=5):
    """Which windows belong to which category.

    Parameters
    ----------
    captions : sequence of str
        One caption per TR row of the store.
    starts : ndarray of int
        Each window's first TR row (its frames are rows ``t … t+window−1``).
    window : int
    categories : "auto", "none" or list of str
        ``auto``: the simulated world's classes when every caption is one, else the commonest
        caption keywords; a list: those caption keywords.
    max_categories : int
        At most this many categories with ``auto`` keywords.
    min_windows : int
        A category needs this many windows in it and in the rest, or it is left out.

    Returns
    -------
    members : dict
        ``{name: (in_category bool [N], rest bool [N])}`` in display order.
    kind : str
        ``"class"``, ``"keyword"`` or ``"none"``.
    """
    if categories == "none":
        return {}, "none"
    captions = np.asarray([str(c) for c in captions], dtype=object)
    rows = np.asarray(starts)[:, None] + np.arange(window)
    if categories == "auto":
        names = simulated_class_names(captions)
        if names is not None:
            labels = np.asarray(names, dtype=object)[rows]
            order = sorted(set(labels.ravel()))
            members = {name: ((labels == name).all(axis=1), ~(labels == name).any(axis=1)) for name in order}
            return _enough(members, min_windows), "class"
        categories = frequent_keywords(captions[np.asarray(starts)], n=max_categories)
    has_word = {word: np.array([word.lower() in _words(c) for c in captions]) for word in categories}
    members = {word: (has[rows].all(axis=1), ~has[rows].any(axis=1)) for word, has in has_word.items()}
    return _enough(members, min_windows), "keyword"


def _enough(members, min_windows):
    return {name: (inside, rest) for name, (inside, rest) in members.items()
            if inside.sum() >= min_windows and rest.sum() >= min_windows}
