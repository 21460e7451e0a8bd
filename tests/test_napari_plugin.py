"""The napari plugin (ktvit_nb/napari.yaml, nbs/04d_napari.ipynb): its manifest and entry point, the reader through
npe2, and the panels drawn for real in a child process on an Xvfb display started here (skipped without napari or a display).
`KTVIT_SCREENS=DIR` keeps the two screenshots (the docs' nbs/images/napari_reader.png and napari_lr_hr.png)."""
import importlib.util, json, os, shutil, subprocess, sys, textwrap, zipfile
from pathlib import Path
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
MANIFEST = ROOT/'ktvit_nb'/'napari.yaml'
HAVE_NAPARI = importlib.util.find_spec('napari') is not None
HAVE_NPE2 = importlib.util.find_spec('npe2') is not None
needs_npe2 = pytest.mark.skipif(not HAVE_NPE2, reason='npe2 is not installed (pip install -e .[view])')
needs_napari = pytest.mark.skipif(not HAVE_NAPARI, reason='napari is not installed (pip install -e .[view])')
AFFINE = np.diag([.5, .5, 1., 1.]); AFFINE[:3, 3] = (-8., 4., 20.)

def _env(**extra):
    return {**os.environ, 'PYTHONPATH': str(ROOT), 'OMP_NUM_THREADS': '1', 'MKL_NUM_THREADS': '1', **extra}

def test_core_imports_stay_headless():
    "The command line, the viewer module and the plugin module import without napari, Qt or magicgui"
    code = ("import sys, ktvit_nb.cli, ktvit_nb.viz, ktvit_nb.napari_plugin; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'napari', 'PyQt6', 'PyQt5', 'qtpy', 'magicgui', 'vispy', 'superqt', 'npe2'}))")
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == '[]', r.stdout

@needs_npe2
def test_manifest_validates(tmp_path):
    "`npe2 validate --imports` accepts the manifest, and refuses a copy naming a function the module lacks"
    r = subprocess.run([BIN/'npe2', 'validate', str(MANIFEST), '--imports'], capture_output=True, text=True, env=_env(), timeout=120)
    assert r.returncode == 0 and 'valid' in r.stdout.lower(), r.stdout + r.stderr
    bad = tmp_path/'napari.yaml'; bad.write_text(MANIFEST.read_text().replace(':get_reader', ':no_such_reader'))
    r = subprocess.run([BIN/'npe2', 'validate', str(bad), '--imports'], capture_output=True, text=True, env=_env(), timeout=120)
    assert r.returncode != 0, r.stdout

@needs_npe2
def test_installed_plugin_is_found(tmp_path):
    "A wheel of the package carries the manifest, its `napari.manifest` entry point and the `view` extra; installed, npe2 lists and validates the plugin by name"
    src = tmp_path/'src'
    shutil.copytree(ROOT/'ktvit_nb', src/'ktvit_nb', ignore=shutil.ignore_patterns('__pycache__'))
    for f in ('setup.py', 'settings.ini', 'pyproject.toml', 'README.md', 'LICENSE'): shutil.copy(ROOT/f, src/f)
    r = subprocess.run([sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps', '--no-build-isolation', '-w', str(tmp_path/'dist'), str(src)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    whl, = (tmp_path/'dist').glob('ktvit_nb-*.whl')
    with zipfile.ZipFile(whl) as z:
        names = z.namelist()
        ep = z.read(next(n for n in names if n.endswith('.dist-info/entry_points.txt'))).decode()
        meta = z.read(next(n for n in names if n.endswith('.dist-info/METADATA'))).decode()
    assert 'ktvit_nb/napari.yaml' in names
    assert 'Requires-Dist: napari[pyqt6]; extra == "view"' in meta and 'Requires-Dist: napari[pyqt6]; extra == "dev"' in meta
    assert not any(l.startswith('Requires-Dist: napari') and 'extra ==' not in l for l in meta.splitlines())   # not a core requirement
    assert '[napari.manifest]\nktvit_nb = ktvit_nb:napari.yaml' in ep, ep
    site = tmp_path/'site'
    r = subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', '--no-deps', '--target', str(site), str(whl)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    env = _env(PYTHONPATH=str(site))   # the installed copy, not the worktree, comes first
    r = subprocess.run([BIN/'npe2', 'list', '-f', 'json'], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert 'ktvit_nb' in [p['name'] for p in json.loads(r.stdout)], r.stdout[:2000]
    r = subprocess.run([BIN/'npe2', 'validate', 'ktvit_nb', '--imports'], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    code = "import npe2, ktvit_nb; print(ktvit_nb.__file__)"   # and the plugin's code is the installed copy's
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert r.stdout.strip().startswith(str(site)), r.stdout

def _tube_case(d):
    "A case on a 0.5 x 0.5 x 1 mm grid placed at (-8, 4, 20) mm: one bright vessel along Z at x, y in 14..17; label, mask, LR image"
    from ktvit_nb.data.io import save_image
    lab = np.zeros((32, 32, 16), np.uint8); lab[14:18, 14:18, :] = 1
    img = (lab * .8 + np.random.default_rng(0).normal(.1, .03, lab.shape)).astype(np.float32)
    for name, a in (('image', img), ('image_lr', img), ('label', lab), ('mask', np.ones_like(lab))):
        save_image(a, d/f'{name}.nii.gz', affine=AFFINE)
    return d

@needs_npe2
def test_reader_through_npe2(tmp_path):
    "npe2 picks the plugin's reader for a case folder and a predict folder; their layers keep the files' voxel size and position"
    from npe2 import PluginManager, PluginManifest
    from ktvit_nb.data.io import save_image
    pm = PluginManager(); pm.register(PluginManifest.from_file(MANIFEST)); pm.activate('ktvit_nb')
    def read(path):
        rd = [r for r in pm.iter_compatible_readers([str(path)]) if r.plugin_name == 'ktvit_nb']
        fn = rd[0].exec(kwargs={'path': [str(path)], 'stack': False}, _registry=pm.commands) if rd else None   # as napari calls it
        return None if fn is None else fn([str(path)], stack=False)
    case = _tube_case(tmp_path/'case_a')
    layers = read(case)
    assert [(kw['name'], kind) for _, kw, kind in layers] == [('HR', 'image'), ('LR', 'image'), ('mask', 'image'), ('label', 'labels')]
    for data, kw, _ in layers:
        assert data.shape == (32, 32, 16) and kw['scale'] == (.5, .5, 1.) and kw['translate'] == (-8., 4., 20.), kw
    assert [kw.get('visible', True) for _, kw, _ in layers] == [True, False, False, True]
    assert layers[-1][0].sum() == 4 * 4 * 16
    pred = tmp_path/'pred'
    save_image(np.full((32, 32, 16), .2, np.float32), pred/'case_a_prob.nii.gz', affine=AFFINE)
    save_image(np.zeros((32, 32, 16), np.uint8), pred/'case_a_mask.nii.gz', affine=AFFINE)
    layers = read(pred)
    assert [(kw['name'], kind) for _, kw, kind in layers] == [('probability', 'image'), ('predicted mask', 'labels')]
    assert layers[0][1]['colormap'] == 'magma' and layers[0][1]['scale'] == (.5, .5, 1.)
    (tmp_path/'other').mkdir(); (tmp_path/'other'/'notes.txt').write_text('x')
    assert read(tmp_path/'other') is None                               # not ours: napari asks another reader
    assert [kw['name'] for _, kw, _ in read(case/'label.nii.gz')] == ['label']

# ---- drawn for real: one child process on Xvfb runs the reader, both panels and the screenshots ----

@pytest.fixture(scope='module')
def display(request):
    "A DISPLAY to draw on (tests/conftest.py's `xvfb_display`), once napari is known to be installed"
    if not HAVE_NAPARI: pytest.skip('napari is not installed (pip install -e .[view])')
    return request.getfixturevalue('xvfb_display')

def _ktvit(*args):
    r = subprocess.run([BIN/'ktvit', *map(str, args)], capture_output=True, text=True, env=_env(), timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]

@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    "Three synthetic cases, an H-net and an L-net trained for about ten seconds each"
    d = tmp_path_factory.mktemp('plugin')
    _ktvit('synth', d/'data', '--n', 3, '--shape', 64, 64, 32, '--seed', 3)
    common = ['--data', d/'data', '--epochs', 12, '--patch-size', 32, 32, 16, '--n-per-case', 8, '--bs', 4, '--lr', 1e-2]
    _ktvit('train-teacher', *common, '--out', d/'hnet', '--preset', 'tiny')
    _ktvit('train-student', *common, '--out', d/'lnet', '--teacher', d/'hnet', '--min-teacher-dice', 0)
    return d

CHILD = textwrap.dedent('''
    import json, sys, time
    from pathlib import Path
    import numpy as np
    import napari, napari.utils
    from npe2 import PluginManager, PluginManifest
    from qtpy.QtWidgets import QApplication
    from PIL import Image
    out, tube, case, hnet, lnet, manifest = map(Path, sys.argv[1:7])
    res, bars = {}, []
    class Bar(napari.utils.progress):      # napari's progress bar, recorded: the panels must draw through it
        def __init__(self, *a, **kw): super().__init__(*a, **kw); bars.append(self.desc)
    napari.utils.progress = Bar
    pm = PluginManager.instance()          # napari's plugin manager finds the plugin (registered from the worktree's manifest)
    if 'ktvit_nb' not in {m.name for m in pm.iter_manifests()}: pm.register(PluginManifest.from_file(manifest))
    from ktvit_nb.napari_plugin import dock_panels, lr_hr_widget
    from napari.utils.notifications import notification_manager

    def until(cond, timeout=300):
        t0 = time.time()
        while not cond():
            if time.time() - t0 > timeout: raise TimeoutError('the panel did not finish')
            QApplication.processEvents(); time.sleep(.02)
        for _ in range(10): QApplication.processEvents()

    def window(v, name):                  # the whole window, in 64 colours (small PNGs for the docs)
        for _ in range(20): QApplication.processEvents()
        img = np.asarray(v.screenshot(canvas_only=False, flash=False))[..., :3]
        Image.fromarray(img).quantize(64).save(out/name, optimize=True)

    def shot(v, name, size):
        img = np.asarray(v.screenshot(canvas_only=True, size=size, flash=False))[..., :3]
        Image.fromarray(img).save(out/name, optimize=True); return img

    v = napari.Viewer(show=True)
    v.open(tube, plugin='ktvit_nb')
    res['tube'] = [(l.name, type(l).__name__, list(l.scale), list(l.translate), l.visible) for l in v.layers]
    v.layers['label'].visible = False; v.reset_view()
    shot(v, 'tube.png', (400, 400))                     # HR alone: the vessel against the background
    v.layers['HR'].visible = False; shot(v, 'tube_blank.png', (400, 400))
    v.layers['HR'].visible = True

    predict, compare = dock_panels(v)
    v.layers.selection.active = v.layers['HR']
    res['predict_image'] = predict.image.value.name      # the panel follows the active layer
    n0 = len(v.layers); predict.model.value = Path()
    res['no_model'] = predict() is None and 'is not a trained run' in notification_manager.records[-1].message
    predict.model.value = hnet
    worker = predict(); until(lambda: len(v.layers) == n0 + 2)
    res['predicted'] = [(l.name, type(l).__name__, list(l.scale), list(l.translate), float(np.asarray(l.data).max()))
                        for l in list(v.layers)[n0:]]
    res['bars'] = list(bars)

    v.close()

    v = napari.Viewer(show=True); v.window._qt_window.resize(1200, 760)     # the docs' pictures: the whole window
    v.open(case, plugin='ktvit_nb')
    v.dims.order = (2, 0, 1); v.dims.ndisplay = 3; v.camera.angles = (0, 30, 60)
    v.layers['label'].visible = False; v.layers.selection.active = v.layers['HR']; v.reset_view()
    window(v, 'napari_reader.png')
    compare = lr_hr_widget(); v.window.add_dock_widget(compare, name='LR vs HR (ktvit_nb)', area='right')
    compare.case.value, compare.hnet.value, compare.lnet.value = case, hnet, lnet
    v.dims.ndisplay = 2
    compare(); until(lambda: v.grid.enabled and len(v.layers) > 10)
    res['grid'] = dict(enabled=v.grid.enabled, stride=v.grid.stride, shape=list(v.grid.actual_shape(v.layers)),
                       layers=[(l.name, l.visible) for l in v.layers], caption=v.text_overlay.text)
    window(v, 'napari_lr_hr.png')
    v.text_overlay.visible = False
    shot(v, 'lr_hr_canvas.png', (300, 600))
    (out/'result.json').write_text(json.dumps(res))
    v.close()
''')

@pytest.fixture(scope='module')
def drawn(display, runs, tmp_path_factory):
    "The child's results (result.json) and screenshots, in one folder"
    out = tmp_path_factory.mktemp('drawn')
    tube = _tube_case(out/'tube_case')
    env = _env(DISPLAY=display, XDG_RUNTIME_DIR=str(out)); env.pop('QT_QPA_PLATFORM', None)
    r = subprocess.run([sys.executable, '-c', CHILD, out, tube, runs/'data'/'case_000', runs/'hnet', runs/'lnet', MANIFEST],
                       env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-4000:]
    if os.environ.get('KTVIT_SCREENS'):   # keep copies to look at (the docs' nbs/images/)
        for f in ('napari_reader.png', 'napari_lr_hr.png'): shutil.copy(out/f, Path(os.environ['KTVIT_SCREENS'])/f)
    return json.loads((out/'result.json').read_text()), out

def _png(path): from PIL import Image; return np.asarray(Image.open(path))[..., :3].astype(int)

def test_reader_in_napari(drawn):
    "napari opens a case folder with the plugin: the layers, their scale and position, the first image shown"
    res, _ = drawn
    assert [(n, t, vis) for n, t, *_, vis in res['tube']] == [('HR', 'Image', True), ('LR', 'Image', False),
                                                              ('mask', 'Image', False), ('label', 'Labels', True)]
    assert all(s == [.5, .5, 1.] and t == [-8., 4., 20.] for _, _, s, t, _ in res['tube'])

def test_screenshot_shows_the_vessel(drawn):
    "The HR layer's vessel is drawn: a bright band (the tube, x and y 14..17 of 32, seen across the middle X slice) on a dark background"
    _, out = drawn
    img, blank = _png(out/'tube.png').mean(-1), _png(out/'tube_blank.png').mean(-1)
    assert blank.std() < 1                                  # nothing shown: one colour
    bright = img > 128
    assert 200 < bright.sum() < .5 * img.size, bright.sum()  # the vessel, not the whole canvas
    assert (np.abs(img[bright] - blank[bright]) > 100).all()  # its pixels differ from the background's
    rows = np.argwhere(bright)[:, 0]                         # napari shows (Y, Z): the tube is a horizontal band at y 14..17
    assert abs(rows.mean() - img.shape[0] / 2) < .1 * img.shape[0] and np.ptp(rows) < .25 * img.shape[0], (rows.mean(), np.ptp(rows))

def test_predict_panel(drawn):
    "The Predict panel runs the trained H-net on the active layer with napari progress bars; its layers take the input's grid"
    res, _ = drawn
    assert res['predict_image'] == 'HR' and res['no_model']
    assert [(n, t) for n, t, *_ in res['predicted']] == [('HR: hnet probability', 'Image'), ('HR: hnet mask', 'Labels')]
    for _, _, s, t, mx in res['predicted']: assert s == [.5, .5, 1.] and t == [-8., 4., 20.]
    assert 0 < res['predicted'][0][4] <= 1
    assert res['bars'] == ['hnet on HR'], res['bars']       # one pass (3D: no TTA) over the tiles, in napari's progress

def test_lr_hr_panel(drawn):
    "The LR vs HR panel: H-net on HR left, L-net on LR right, in napari's grid, found / missed / false-alarm colours against the label"
    from ktvit_nb.viz import FN_COLOR, FP_COLOR, TP_COLOR
    res, out = drawn
    g = res['grid']; n = g['stride']
    assert g['enabled'] and g['shape'] == [1, 2] and len(g['layers']) >= 2 * n
    assert [l for l, _ in g['layers'][:n]] == ['H-net: HR', 'H-net: probability', 'H-net: mask', 'H-net: label', 'H-net: found (TP)',
                                               'H-net: misses (FN)', 'H-net: false alarms (FP)']
    assert g['layers'][n][0] == 'L-net: LR' and g['layers'][n + 1][0] == 'L-net: probability'
    assert not any(vis for _, vis in g['layers'][2 * n:])   # the reader's layers are hidden: two panels only
    assert 'H-net on HR: Dice' in g['caption'] and 'L-net on LR: Dice' in g['caption']
    img = _png(out/'lr_hr_canvas.png'); h, w = img.shape[:2]
    near = lambda part, col: (np.abs(part - np.round(np.array(col) * 255)) <= 30).all(-1).sum()
    for half in (img[:, :w // 2], img[:, w // 2:]):
        assert sum(near(half, c) > 20 for c in (TP_COLOR, FN_COLOR, FP_COLOR)) >= 2   # at least two of the colours on each side
    assert np.abs(img[:, :w // 2] - img[:, w // 2:w // 2 * 2]).mean() > 1               # the two sides differ

def test_screenshots_are_small(drawn):
    _, out = drawn
    for f in ('napari_reader.png', 'napari_lr_hr.png'): assert (out/f).stat().st_size < 150_000, f
