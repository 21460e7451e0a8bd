"""A real scanner's volume through `ktvit predict` (issue 23, item 3): anisotropic voxels, float intensities far from
[0, 1], a volume thinner than the network's tiles, a model trained at another voxel size. The outputs must keep the
input's exact geometry (shape, spacing, origin, direction), as ITK reads them back.

The synthetic test writes its own scan; the second runs on the real TOF-MRA crop of `../shared/data/real_tof_crop`
(or `$KTVIT_SHARED_DATA`) and is skipped cleanly without it."""
import os, time
from pathlib import Path
import numpy as np, pytest, SimpleITK as sitk
from ktvit_nb.data.io import read_image, save_image
from ktvit_nb.data.synth_dataset import write_synth_dataset
from ktvit_nb.checkpoint import load_checkpoint, ship_model, MODELS_ENV
from test_cli_badinput import run   # `ktvit ARGV` in this process: (exit status, stdout, stderr)

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get('KTVIT_SHARED_DATA') or ROOT.parent/'shared'/'data')
REAL = SHARED/'real_tof_crop'/'cow_tof_crop.mha'
PATCH, TRAIN_SPACING = (32, 32, 16), (.5, .5, 1.)

@pytest.fixture(scope='module')
def tiny_run(tmp_path_factory):
    "A one-epoch tiny 3D H-net trained on 32^3 synthetic cases resampled to 0.5x0.5x1 mm, crops of 32x32x16 (about 10 s)"
    d = tmp_path_factory.mktemp('real-scan')
    write_synth_dataset(d/'data', 3, (32, 32, 32), seed=3, progress=False)
    code, _, err = run('train-teacher', '--data', d/'data', '--out', d/'run', '--preset', 'tiny', '--epochs', 1,
                       '--patch-size', *PATCH, '--n-per-case', 2, '--bs', 2, '--spacing', *TRAIN_SPACING)
    assert code == 0, err[-2000:]
    return d/'run'

def scanner_affine(spacing=(0.297, 0.297, 0.6)):
    "Voxel -> RAS mm with a small oblique rotation, a flipped axis and an origin, as a scanner writes them"
    from scipy.spatial.transform import Rotation
    a = np.eye(4); a[:3, :3] = Rotation.from_euler('xyz', [1.5, -0.8, 3.4], degrees=True).as_matrix() @ np.diag([-1, 1, 1]) @ np.diag(spacing)
    a[:3, 3] = (21.4, 24.4, -23.0)
    return a

def scanner_volume(shape=(40, 44, 14), seed=0):
    "Float TOF-like intensities 13-1149: dim tissue with noise and one bright oblique vessel"
    rng = np.random.default_rng(seed)
    x, y, z = np.meshgrid(*[np.arange(n, dtype=np.float32) for n in shape], indexing='ij')
    tube = np.exp(-((x - 0.6 * y - 8) ** 2 + (z - shape[2] / 2) ** 2) / 6)
    v = 180 + 25 * rng.standard_normal(shape) + 950 * tube
    return np.clip(v, 13, 1149).astype(np.float32)

def itk_geometry(path):
    im = sitk.ReadImage(str(path))
    return np.array(im.GetSize()), np.array(im.GetSpacing()), np.array(im.GetOrigin()), np.array(im.GetDirection())

def assert_same_geometry(out, src, tol=1e-6):
    "Shape, spacing, origin and direction of `out` as ITK reads them equal `src`'s (to NIfTI's float32 header precision)"
    (n1, sp1, o1, d1), (n0, sp0, o0, d0) = itk_geometry(out), itk_geometry(src)
    np.testing.assert_array_equal(n1, n0)
    np.testing.assert_allclose(sp1, sp0, rtol=tol); np.testing.assert_allclose(o1, o0, atol=tol * 100)
    np.testing.assert_allclose(d1, d0, atol=tol)
    np.testing.assert_allclose(read_image(out).affine, read_image(src).affine, atol=1e-5)

def test_anisotropic_float_scan_thinner_than_a_tile(tiny_run, tmp_path):
    "0.297x0.297x0.6 mm, intensities 13-1149, 40x44x14 voxels: 24x26x8 on the 0.5x0.5x1 mm training grid, under the 32x32x16 tiles on every axis"
    src = save_image(scanner_volume(), tmp_path/'scan.mha', affine=scanner_affine())
    code, out, err = run('predict', src, '--model', tiny_run, '--out', tmp_path/'pred')
    assert code == 0, err[-2000:]
    assert 'inputs resampled to 0.5x0.5x1 mm, the training grid' in out
    prob, mask = tmp_path/'pred'/'scan_prob.nii.gz', tmp_path/'pred'/'scan_mask.nii.gz'
    for f in (prob, mask): assert_same_geometry(f, src)
    p, m = read_image(prob).array, read_image(mask).array
    assert p.dtype == np.float32 and np.isfinite(p).all() and 0 <= p.min() and p.max() <= 1
    thr = load_checkpoint(tiny_run)['threshold']
    np.testing.assert_array_equal(m, (p >= thr).astype(np.uint8))

def test_thin_scan_is_mirrored_like_a_training_crop(tiny_run):
    "The scan thinner than a tile is predicted as its mirror-padded self (how training pads crops), not zero-padded"
    from ktvit_nb.infer import Predictor
    from ktvit_nb.data.patches import patch_padding
    from ktvit_nb.data.preprocess import normalize_intensity
    x = normalize_intensity(scanner_volume((32, 32, 6)))
    pred = Predictor(tiny_run)
    pad = patch_padding(x.shape, pred.patch_size); assert pad == [(0, 0), (0, 0), (5, 5)]
    full = pred.prob(np.pad(x, pad, mode='reflect'))
    np.testing.assert_allclose(pred.prob(x), full[..., 5:11], atol=1e-6)

@pytest.mark.skipif(not REAL.exists(), reason=f"the real TOF-MRA crop is not at {REAL}")
def test_real_tof_crop_with_a_shipped_model(tiny_run, tmp_path, monkeypatch):
    "The real crop (140x123x34, 0.297x0.297x0.6 mm, float 13-1149) through a model shipped by name: outputs on its exact grid, in seconds"
    src = read_image(REAL)
    assert src.array.shape == (140, 123, 34) and src.array.dtype == np.float32 and src.array.min() > 10 and src.array.max() > 1000
    ship_model(tiny_run, 'tiny-3d', "# tiny-3d\n> A one-epoch tiny 3D H-net of the tests.", folder=tmp_path/'zoo')
    monkeypatch.setenv(MODELS_ENV, str(tmp_path/'zoo'))
    t0 = time.perf_counter()
    code, out, err = run('predict', REAL, '--model', 'tiny-3d', '--out', tmp_path/'pred', '--quiet')
    secs = time.perf_counter() - t0
    assert code == 0, err[-2000:]
    for k in ('prob', 'mask'): assert_same_geometry(tmp_path/'pred'/f'cow_tof_crop_{k}.nii.gz', REAL)
    p = read_image(tmp_path/'pred'/'cow_tof_crop_prob.nii.gz').array
    assert np.isfinite(p).all() and 0 <= p.min() and p.max() <= 1
    assert secs < 60, f"{secs:.1f} s"
    print(f"real crop predicted in {secs:.1f} s")
