"""DtseriesWriter (used by simulate) writes exactly what nibabel writes, only faster."""

import nibabel as nib
import numpy as np

from neurocine_toolbox.data.cifti import DtseriesWriter, read_dtseries, write_dtseries
from neurocine_toolbox.data.grayordinates import N_GRAYORDINATES, is_standard_91k


def test_writer_output_is_byte_identical_to_nibabel(tmp_path):
    rng = np.random.default_rng(0)
    writer = DtseriesWriter(tr=1.5)
    # Two lengths, each written twice: the second of each reuses the cached header, so it is
    # the one compared with nibabel's own output.
    for i, n in enumerate((5, 7, 5, 7)):
        data = rng.standard_normal((n, N_GRAYORDINATES)).astype(np.float32)
        fast = tmp_path / f"fast{i}.dtseries.nii"
        writer.write(fast, data)
        loaded = read_dtseries(fast)
        assert loaded.tr == 1.5 and np.array_equal(loaded.data, data)
        if i >= 2:
            reference = tmp_path / f"ref{i}.dtseries.nii"
            write_dtseries(reference, data, 1.5)
            assert fast.read_bytes() == reference.read_bytes()
    img = nib.load(fast)
    assert np.array_equal(np.asarray(img.dataobj), data)
    assert is_standard_91k(img.header.get_axis(1)) is None
    assert sorted(writer._headers) == [(5, N_GRAYORDINATES), (7, N_GRAYORDINATES)]
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind
