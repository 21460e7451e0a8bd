"""Brain extraction (issue 11): `brain_mask` finds the synthetic brain and drops the bright scalp; `write_brain_masks`
writes each case's mask with the image's geometry, keeps masks that exist, and refuses bad input before writing."""
import contextlib, io
import numpy as np, pytest

from ktvit_nb.core import InputError
from ktvit_nb.data.brainmask import brain_mask, write_brain_masks
from ktvit_nb.data.io import read_image, save_image
from ktvit_nb.data.synth import make_case
from ktvit_nb.metrics import dice

# Measured on make_case((48, 48, 40), seed=0..5, r_max=2.5, scalp=True, spacing=2.0): Dice 0.982-0.985, and
# 0.0-0.6% of the bright scalp voxels kept. The bars leave a margin; a plain threshold fails both (test below).
DICE_MIN, SCALP_KEPT_MAX = 0.95, 0.03

@pytest.fixture(scope='module')
def head():
    return make_case((48, 48, 40), seed=0, r_max=2.5, scalp=True, spacing=2.0)

def scalp(c):
    "Bright voxels outside the true brain: the fat shell"
    return (c.mask == 0) & (c.hr > 0.4)

def rotated_affine(spacing=2.0):
    "Voxel -> mm affine with a rotation, a flipped axis and an origin, so a lost geometry shows"
    c, s = np.cos(0.3), np.sin(0.3)
    a = np.eye(4); a[:3, :3] = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.]]) @ np.diag([-spacing, spacing, spacing])
    a[:3, 3] = (10., -20., 5.)
    return a

def test_brain_found_and_scalp_removed(head):
    assert scalp(head).sum() > 1000                      # the case really has a bright scalp
    m = brain_mask(head.hr, head.spacing)
    assert m.dtype == np.uint8 and m.shape == head.hr.shape
    assert dice(m, head.mask) > DICE_MIN
    assert m[scalp(head)].mean() < SCALP_KEPT_MAX

def test_bars_reject_a_plain_threshold(head):
    "The bars are not trivial: the head above BET's background threshold (no scalp removal) fails both"
    t2, t98 = np.percentile(head.hr, [2, 98])
    naive = head.hr > t2 + 0.1 * (t98 - t2)
    assert dice(naive, head.mask) < DICE_MIN and naive[scalp(head)].mean() > SCALP_KEPT_MAX

def test_2d_refused():
    with pytest.raises(InputError, match='is 2D'): brain_mask(np.ones((32, 32), np.float32))

def test_written_mask_keeps_geometry(head, tmp_path):
    aff = rotated_affine()
    save_image(head.hr, tmp_path/'a/image.nii.gz', affine=aff); save_image(head.label, tmp_path/'a/label.nii.gz', affine=aff)
    assert write_brain_masks(tmp_path) == [tmp_path/'a/mask.nii.gz']
    m, im = read_image(tmp_path/'a/mask.nii.gz'), read_image(tmp_path/'a/image.nii.gz')
    np.testing.assert_array_equal(m.affine, im.affine)
    np.testing.assert_allclose(m.affine, aff, atol=1e-6)
    assert m.array.dtype == np.uint8 and dice(m.array, head.mask) > DICE_MIN   # spacing read from the affine

def test_existing_mask_kept_unless_overwrite(head, tmp_path):
    for case in ('a', 'b'):
        save_image(head.hr, tmp_path/case/'image.nii.gz', affine=np.diag([2., 2, 2, 1]))
        save_image(head.label, tmp_path/case/'label.nii.gz', affine=np.diag([2., 2, 2, 1]))
    mine = tmp_path/'b/mask.nii.gz'
    save_image(np.zeros(head.hr.shape, np.uint8), mine, affine=np.diag([2., 2, 2, 1]))
    before, out = mine.read_bytes(), io.StringIO()
    with contextlib.redirect_stdout(out): written = write_brain_masks(tmp_path)
    assert written == [tmp_path/'a/mask.nii.gz']
    assert mine.read_bytes() == before
    assert out.getvalue().splitlines() == ['b: keeps its mask.nii.gz (overwrite=True replaces it)']
    assert write_brain_masks(tmp_path, overwrite=True) == [tmp_path/'a/mask.nii.gz', mine]
    assert dice(read_image(mine).array, head.mask) > DICE_MIN

def test_2d_case_refused_before_writing(head, tmp_path):
    save_image(head.hr, tmp_path/'a/image.nii.gz'); save_image(head.label, tmp_path/'a/label.nii.gz')
    save_image(np.ones((16, 16), np.float32), tmp_path/'b/image.nii.gz'); save_image(np.ones((16, 16), np.uint8), tmp_path/'b/label.nii.gz')
    with pytest.raises(InputError, match=r'b/image\.nii\.gz: is 2D'): write_brain_masks(tmp_path)
    assert not list(tmp_path.glob('*/mask*'))
