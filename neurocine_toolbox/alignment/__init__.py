"""Several subjects in one model: their fMRI brought into one space (``alignment.method``).

``anatomical``: the same grayordinates for every subject (CIFTI 91k is a shared surface space);
``functional``: piecewise Procrustes to a group template (hyperalignment, fmralign);
``adapter``: a linear map per subject and visual area, learned with the encoder. Each gives a
:class:`~.subject_map.SubjectMap` per subject; a run's training store holds the subjects' fMRI
through their maps (:mod:`.training_store`); :mod:`.run_views` lets every command read a run
trained on several subjects subject by subject.
"""
