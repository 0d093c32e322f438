"""Outputs written aside and renamed into place: nothing half-done, and the usual permissions."""

import os
import stat

import pytest

from neurocine_toolbox.utils.atomic import atomic_dir, atomic_path


@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_a_file_appears_only_when_complete_and_readable_by_others(tmp_path, umask_022):
    target = tmp_path / "out" / "report.html"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("stopped")
    assert not target.exists() and list(target.parent.iterdir()) == []
    with atomic_path(target) as tmp:
        tmp.write_text("whole")
    assert target.read_text() == "whole"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644  # not mkstemp's private 0600


def test_a_folder_replaces_the_old_one_only_when_complete(tmp_path, umask_022):
    target = tmp_path / "attention-test"
    with atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("1")
    assert stat.S_IMODE(target.stat().st_mode) == 0o755  # not mkdtemp's private 0700
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as tmp:
            (tmp / "b.txt").write_text("2")
            raise RuntimeError("stopped")
    assert sorted(p.name for p in target.iterdir()) == ["a.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["attention-test"]
