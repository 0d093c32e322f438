"""Where outputs go: default derivative folder, refused output folders, finding the BIDS root."""

import json

import pytest

from neurocine_toolbox.bids.paths import (
    check_output_dir, default_output_dir, find_bids_root, find_derivatives_dir,
)
from neurocine_toolbox.errors import NeurocineError


@pytest.fixture
def bids(tmp_path):
    root = tmp_path / "study"
    (root / "sub-01" / "func").mkdir(parents=True)
    (root / "dataset_description.json").write_text(json.dumps({"Name": "x", "DatasetType": "raw"}))
    deriv = root / "derivatives" / "fmriprep"
    deriv.mkdir(parents=True)
    (deriv / "dataset_description.json").write_text(json.dumps({"Name": "f", "DatasetType": "derivative"}))
    return root


def test_default_output_is_derivatives_neurocine(bids):
    assert default_output_dir(bids) == bids / "derivatives" / "neurocine"


@pytest.mark.parametrize("inside", ["", "sub-01/out", "derivatives"])
def test_refused_output_folders(bids, inside):
    with pytest.raises(NeurocineError):
        check_output_dir(bids, bids / inside)


@pytest.mark.parametrize("fine", ["derivatives/neurocine", "derivatives/other/deeper", "../elsewhere"])
def test_accepted_output_folders(bids, fine):
    check_output_dir(bids, bids / fine)


def test_find_bids_root_walks_up_like_git(bids):
    assert find_bids_root(bids / "sub-01" / "func") == bids.resolve()
    # A derivative's own dataset_description.json is not mistaken for the root.
    assert find_bids_root(bids / "derivatives" / "fmriprep") == bids.resolve()
    with pytest.raises(NeurocineError, match="not inside a BIDS dataset"):
        find_bids_root(bids.parent)


def test_find_derivatives_dir(bids):
    with pytest.raises(NeurocineError, match="run neurocine prep first"):
        find_derivatives_dir(start=bids / "sub-01")
    out = default_output_dir(bids)
    out.mkdir()
    (out / "dataset_description.json").write_text("{}")
    assert find_derivatives_dir(start=bids / "sub-01" / "func") == out.resolve()
    assert find_derivatives_dir(derivatives=out) == out
    with pytest.raises(NeurocineError, match="not a neurocine derivative"):
        find_derivatives_dir(derivatives=bids / "sub-01")
