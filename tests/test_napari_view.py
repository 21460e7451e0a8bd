"`ktvit_nb.viz.view_case` in a real napari window: runs in a subprocess on an Xvfb display started here."
import importlib.util, os, shutil, subprocess, sys, textwrap
from pathlib import Path
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SIZE = (400, 400)   # screenshot (height, width)

pytestmark = pytest.mark.skipif(importlib.util.find_spec('napari') is None, reason='napari is not installed')

# The case: one straight tube along X at (y=16, z=8); the prediction misses it for x in 4..9 (a miss in the top half
# of the canvas) and adds a false blob at x 22..26, y 4..8 (bottom left), all in z 2..4: away from the middle slice
# (z=8, empty), so both colours show only if the viewer opens on the slice holding the errors.
CHILD = textwrap.dedent('''
    import sys, numpy as np
    from ktvit_nb.viz import view_case
    gt = np.zeros((32, 32, 16), bool); gt[:, 15:18, 2:5] = True
    pred = gt.astype(np.float32) * .9
    pred[4:10, 15:18, 2:5] = .1         # misses
    pred[22:27, 4:9, 2:5] = .8          # false alarm
    hr = gt * .8 + np.random.default_rng(0).normal(0, .05, gt.shape)
    mask = np.ones(gt.shape, bool); mask[20:] = False    # scored region without the false alarm (argv[3] == 'scored')
    scored = sys.argv[3] == 'scored' if len(sys.argv) > 3 else False
    v = view_case({'HR': hr, 'pred': pred, 'label': gt, 'mask': mask}, errors_from=('pred', 'label'), axis=2,
                  scored='mask' if scored else None,
                  ndisplay=int(sys.argv[2]), screenshot=sys.argv[1], size=(400, 400), show=False)
''')

@pytest.fixture(scope='module')
def display(xvfb_display): return xvfb_display   # tests/conftest.py

def _near(img, rgb, tol=40):
    "Mask of pixels within `tol` (per channel, 0-255) of the colour `rgb` given in [0,1]"
    return (np.abs(img[..., :3].astype(int) - np.round(np.array(rgb) * 255).astype(int)) <= tol).all(-1)

def _run(display, tmp_path, ndisplay, *extra):
    png = tmp_path/f'case{ndisplay}d.png'
    env = {**os.environ, 'DISPLAY': display, 'XDG_RUNTIME_DIR': str(tmp_path)}
    env.pop('QT_QPA_PLATFORM', None)
    res = subprocess.run([sys.executable, '-c', CHILD, str(png), str(ndisplay), *extra], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stderr[-3000:]
    if os.environ.get('KTVIT_SCREENS'):   # keep a copy to look at
        shutil.copy(png, Path(os.environ['KTVIT_SCREENS'])/f"napari_case{'' if ndisplay == 2 else '_3d'}{''.join('_' + e for e in extra)}.png")
    from PIL import Image
    full = np.asarray(Image.open(png))
    assert full.shape[1] == SIZE[1] and full.shape[0] > SIZE[0] + 30 and full.shape[2] in (3, 4), full.shape
    img, band = full[:SIZE[0]], full[SIZE[0]:]        # the canvas at the requested size, then the legend band
    assert img[..., :3].std() > 20, 'screenshot is blank'
    _check_legend(band)
    return img

def _check_legend(band):
    "The band under the canvas: white background, a swatch for found, missed and false alarm, dark text"
    from ktvit_nb.viz import FN_COLOR, FP_COLOR, TP_COLOR
    assert (band[..., :3] == 255).all(-1).mean() > .5              # mostly white paper
    for col in (FN_COLOR, FP_COLOR, TP_COLOR): assert _near(band, col, 2).sum() > 50, col
    assert (band[..., :3] < 80).all(-1).sum() > 200                # the layer names (black text)

def test_view_case_2d(display, tmp_path):
    from ktvit_nb.viz import FN_COLOR, FP_COLOR
    img = _run(display, tmp_path, 2)
    fn, fp = _near(img, FN_COLOR), _near(img, FP_COLOR)
    assert fn.sum() > 100 and fp.sum() > 100, (fn.sum(), fp.sum())
    # the view is fitted to the 32x32 (X,Y) plane with napari's 5% margin; rows follow X, columns Y
    k, c = 0.95 * min(SIZE) / 32, np.array(SIZE) / 2
    want_fn, want_fp = c + (np.array([6.5, 16]) - 15.5) * k, c + (np.array([24, 6]) - 15.5) * k
    for m, want in ((fn, want_fn), (fp, want_fp)):
        got = np.argwhere(m).mean(0)
        assert np.abs(got - want).max() < 25, (got, want)

def test_view_case_3d(display, tmp_path):
    from ktvit_nb.viz import FN_COLOR, FP_COLOR
    img = _run(display, tmp_path, 3)
    assert _near(img, FN_COLOR).sum() > 50 and _near(img, FP_COLOR).sum() > 50

def test_view_case_scored(display, tmp_path):
    "With `scored='mask'` errors count inside the mask only, as the metrics do: the false alarm outside it is not drawn"
    from ktvit_nb.viz import FN_COLOR, FP_COLOR
    img = _run(display, tmp_path, 2, 'scored')
    assert _near(img, FN_COLOR).sum() > 100 and _near(img, FP_COLOR).sum() == 0
