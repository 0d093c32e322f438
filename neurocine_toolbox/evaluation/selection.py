"""The one number settings are chosen by, on the validation split: content specific to the stimulus.

SSIM and PSNR are won by flat frames and by the average scene, so they cannot choose a setting:
a choice made on them pulls decoders towards grey. The criterion here averages four measures
that only a decoded clip resembling *its own* stimulus can raise, each as its share of the way
from chance to perfect, ``(value − chance) / (1 − chance)``:

- 2-way identification by SSIM (``mindvideo-rgb``) and by PixCorr (low-level: the right layout,
  brightness and colour in the right place; chance 0.5);
- frame and clip 50-way top-1 classification in the peers' protocol (what is shown; chance
  3/52).

It is computed from an ``evaluate`` record of the validation split (``metrics.json``), so the
choice is made with the same code, the same classifiers and the same clips that are scored.
"""

from ..errors import NeurocineError

#: ``(name, protocol, n_way)`` of the rows the criterion averages.
SELECTION_ROWS = (("identification", "ssim:mindvideo-rgb", 2), ("identification", "pixcorr:rgb-pearson", 2),
                  ("frame_nway", "peers", 50), ("clip_nway", "peers", 50))


def selection_terms(record, baseline=None):
    """Each criterion row's share of the way from chance to perfect, ``{"name:protocol:N": value}``.

    Parameters
    ----------
    record : dict
        An ``evaluate`` record (``{"metrics": [rows]}``), e.g. ``metrics.json``.
    baseline : str, optional
        Score this baseline's values (``"flat"``, ``"pixel_ridge"`` …) instead of the decoded clips'.

    Raises
    ------
    NeurocineError
        A criterion row missing from the record (evaluate with ``ssim``, ``pixcorr``, ``frame_nway``
        and ``clip_nway``, 50-way among ``evaluation.n_way``).
    """
    rows = {(r["name"], r["protocol"], r["n_way"]): r for r in record["metrics"]}
    missing = [":".join(map(str, key)) for key in SELECTION_ROWS if key not in rows]
    if missing:
        raise NeurocineError(f"the selection criterion needs the rows {', '.join(missing)}: evaluate with "
                             "--metrics ssim,pixcorr,frame_nway,clip_nway and 50 among evaluation.n_way")
    terms = {}
    for key in SELECTION_ROWS:
        row = rows[key]
        value = row["value"] if baseline is None else row["baselines"].get(baseline)
        if value is None:
            raise NeurocineError(f"the record has no {baseline} baseline")
        terms[":".join(map(str, key))] = (value - row["chance"]) / (1 - row["chance"])
    return terms


def selection_score(record, baseline=None):
    """The criterion: the mean of :func:`selection_terms` (0 at chance, 1 perfect, below 0 worse than chance)."""
    terms = selection_terms(record, baseline)
    return sum(terms.values()) / len(terms)
