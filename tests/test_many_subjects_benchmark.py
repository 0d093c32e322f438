"""benchmarks/many_subjects.py: the kept world's key, and the pairing of per-clip tables."""

import importlib.util
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))  # the script imports table1_miniature as a sibling
spec = importlib.util.spec_from_file_location("many_subjects", BENCHMARKS / "many_subjects.py")
many_subjects = importlib.util.module_from_spec(spec)
spec.loader.exec_module(many_subjects)
sys.path.remove(str(BENCHMARKS))


def _world(**changes):
    world = {"subject": "01", "test_movies": ["a.mp4", "b.mp4"], "test_fmri_mean": [0.1, -0.2, 0.3],
             "test_fmri_std": [1.0, 0.9, 1.1]}
    return {**world, **changes}


def test_a_rebuilt_world_matches_to_rounding_and_another_world_does_not():
    kept = _world()
    assert many_subjects._same_world(kept, _world(test_fmri_mean=[0.10004, -0.2, 0.3]))
    assert not many_subjects._same_world(kept, _world(test_fmri_mean=[0.1003, -0.2, 0.3]))
    assert not many_subjects._same_world(kept, _world(test_fmri_std=[1.0, 0.9]))
    assert not many_subjects._same_world(kept, _world(test_movies=["a.mp4", "c.mp4"]))
    assert not many_subjects._same_world(kept, _world(subject="02"))
    legacy = {"subject": "01", "test_movies": ["a.mp4", "b.mp4"], "sha256": "abc"}  # the key before fingerprints
    assert not many_subjects._same_world(legacy, _world())


def test_per_clip_tables_are_paired_only_clip_for_clip():
    table = [{"clip": "0", "id": "test1.mp4@0", "run": "1"}, {"clip": "1", "id": "test1.mp4@1", "run": "1"}]
    many_subjects._check_same_clips(table, [dict(r) for r in table], "zero-functional seed 0", "alone25")
    with pytest.raises(SystemExit, match="different test clips"):
        many_subjects._check_same_clips(table, table[::-1], "zero-functional seed 0", "alone25")
