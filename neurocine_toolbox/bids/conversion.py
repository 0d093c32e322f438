"""What the release converters (``convert-wen2018``, ``convert-hcp7t``) share: the output checks
and how release files are put into the BIDS tree."""

import os
import shutil
from pathlib import Path

from ..errors import NeurocineError
from .templates import render_json, render_text, write_json


def check_new_output(bids_dir):
    """Refuse a ``bids_dir`` that exists and is not an empty folder.

    Raises
    ------
    NeurocineError
    """
    bids_dir = Path(bids_dir)
    if bids_dir.exists() and not bids_dir.is_dir():
        raise NeurocineError("exists and is not a folder; give a new or empty folder", bids_dir)
    if bids_dir.is_dir():
        entries = sorted(p.name for p in bids_dir.iterdir())
        if entries:
            shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
            raise NeurocineError(f"not empty (holds {shown}); convert into a new or empty folder", bids_dir)


def check_outside(release_root, bids_dir):
    """Refuse a ``bids_dir`` that is the release folder or inside it."""
    inside = Path(bids_dir).resolve()
    if Path(release_root).resolve() in (inside, *inside.parents):
        raise NeurocineError("the BIDS folder must not be inside the release folder", bids_dir)


def place(source, target, copy):
    """Copy ``source`` to ``target``, or link it there with an absolute symbolic link.

    Raises
    ------
    NeurocineError
        If the file system refuses (e.g. no symbolic links on it: the message suggests ``--copy``).
    """
    try:
        if copy:
            shutil.copy2(source, target)
        else:
            # Absolute, so the link survives the move out of the staging folder.
            os.symlink(os.path.abspath(source), target)
    except OSError as err:
        hint = "" if copy else "; try --copy"
        raise NeurocineError(f"cannot {'copy' if copy else 'link'} it ({err.strerror}){hint}", source)


def write_run(stage, derivative, subject, stem, events, cifti, copy, task, sidecar):
    """Write one run: its events.tsv, its dtseries under the BIDS name, and the sidecar.

    Parameters
    ----------
    stage : StagedOutput
    derivative : str
        Folder under ``derivatives/`` holding the dtseries.
    subject : str
        BIDS label, without ``sub-``.
    stem : str
        ``sub-<label>_task-<task>[_…]`` shared by the events and the dtseries.
    events : pandas.DataFrame
        Rows of events.tsv (missing values written as ``n/a``).
    cifti : Path
        The release's dtseries, copied or linked (:func:`place`).
    copy : bool
    task : str
        ``TaskName`` of the sidecar.
    sidecar : dict
        Keys added to ``bids_templates/bold.json`` (``RepetitionTime`` at least).
    """
    events.to_csv(stage.path(f"sub-{subject}/func/{stem}_events.tsv"), sep="\t", index=False, na_rep="n/a")
    bold = f"derivatives/{derivative}/sub-{subject}/func/{stem}_space-fsLR_den-91k_bold"
    place(cifti, stage.path(f"{bold}.dtseries.nii"), copy)
    write_json(stage.path(f"{bold}.json"), render_json("bold.json", task=task, extra=sidecar))


def write_readme(stage, template, copy, **fields):
    """README.md of a converted dataset from ``bids_templates/<template>``.

    ``{mode}`` in the template says whether the release's files were copied or linked; ``fields``
    fill its other placeholders.
    """
    mode = "copied" if copy else "linked (absolute symbolic links)"
    stage.path("README.md").write_text(render_text(template, mode=mode, **fields))


def write_derivative_description(stage, derivative, test_stimuli, extra=None, **fields):
    """``derivatives/<derivative>/dataset_description.json``, naming the test split.

    Parameters
    ----------
    test_stimuli : str
        Glob on ``stim_file`` written as ``NeurocineTestStimuli`` (what ``prep`` reads).
    extra : dict, optional
        Further top-level keys.
    **fields
        Placeholders of ``bids_templates/dataset_description_preproc.json`` (name, pipeline,
        version, description, source).
    """
    description = render_json("dataset_description_preproc.json",
                              extra={"NeurocineTestStimuli": test_stimuli, **(extra or {})}, **fields)
    write_json(stage.path(f"derivatives/{derivative}/dataset_description.json"), description)
