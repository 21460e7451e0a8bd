"""Bad-input corpus of the `ktvit` command (issue 12).

Every case must be refused the way the README promises: exit status 2, one line on stderr that names the file or
argument at fault, and no file created, changed or removed anywhere in the test's world (paths, sizes and modification
times compared before and after). Most cases call `ktvit_nb.cli.main` in this process; a few run the real console
script. The last test prints "N of N bad inputs refused cleanly, 0 files changed".
"""
import io, contextlib, json, os, pickle, shutil, subprocess, sys
from pathlib import Path
import numpy as np, pytest, torch

from ktvit_nb.cli import main
from ktvit_nb.data.io import save_image, read_image
from ktvit_nb.data.splits import split_cases

KTVIT = str(Path(sys.executable).parent/'ktvit')
RESULTS = {}   # case id -> None (refused cleanly) or what went wrong

def run(*argv):
    "(exit status, stdout, stderr) of `ktvit ARGV` in this process"
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try: main([str(a) for a in argv]); code = 0
        except SystemExit as e: code = e.code
    return code, out.getvalue(), err.getvalue()

def snapshot(root):
    "Every path under `root` with its size and modification time"
    snap = {}
    for dirpath, dirs, files in os.walk(root):
        for n in dirs + files:
            p = Path(dirpath)/n; st = p.lstat()
            snap[str(p.relative_to(root))] = (st.st_size if not p.is_dir() else 0, st.st_mtime_ns)
    return snap

class Evil:
    "Unpickling this runs a shell command: a checkpoint must never be loaded that way"
    def __reduce__(self): return (os.system, ('touch PWNED',))

def _case_dir(root, name, image, label, affine=None, label_affine=None):
    save_image(image, root/name/'image.nii.gz', affine=affine)
    save_image(label, root/name/'label.nii.gz', affine=label_affine if label_affine is not None else affine)

@pytest.fixture(scope='module')
def w(tmp_path_factory):
    "The world every case runs in: data sets, runs, predictions and broken files of every kind"
    w = tmp_path_factory.mktemp('world'); rng = np.random.default_rng(0)
    assert run('synth', w/'data', '--n', 3, '--shape', 32, 32, 32, '--seed', 3)[0] == 0
    assert run('synth', w/'data2d', '--n', 3, '--shape', 32, 32, '--seed', 1)[0] == 0
    common = ['--epochs', 1, '--n-per-case', 2, '--bs', 2]
    assert run('train-teacher', '--data', w/'data', '--out', w/'h', '--patch-size', 32, 32, 16, *common)[0] == 0
    assert run('train-teacher', '--data', w/'data2d', '--out', w/'h2d', '--patch-size', 32, 32, *common)[0] == 0
    assert run('train-student', '--data', w/'data', '--teacher', w/'h', '--out', w/'l', '--patch-size', 32, 32, 16,
               '--min-teacher-dice', 0, *common)[0] == 0
    assert run('predict', w/'data', '--model', w/'l', '--out', w/'p', '--quiet')[0] == 0
    b = w/'bad'; b.mkdir()
    good = read_image(w/'data'/'case_000'/'image.nii.gz')
    raw = (w/'data'/'case_000'/'image.nii.gz').read_bytes()
    (b/'broken.nii.gz').write_bytes(b'not an image at all')
    (b/'truncated.nii.gz').write_bytes(raw[:len(raw)//2])
    (b/'scan.txt').write_text('hello')
    (b/'png_named.nii.gz').write_bytes(b'\x89PNG\r\n\x1a\n' + b'\0' * 64)
    save_image(rng.random((32, 32, 32), dtype=np.float32), b/'image.nii.gz')   # an HR file by its name
    import nibabel as nib
    nib.save(nib.Nifti1Image(rng.random(64, dtype=np.float32), np.eye(4)), str(b/'oned.nii.gz'))
    nib.save(nib.Nifti1Image(rng.random((16, 16, 16, 2), dtype=np.float32), np.eye(4)), str(b/'fourd.nii.gz'))
    a = rng.random((32, 32, 32), dtype=np.float32); a[3, 4, 5] = np.nan; save_image(a, b/'nan.nii.gz', like=good)
    a = rng.random((32, 32, 32), dtype=np.float32); a[1, 1, 1] = np.inf; save_image(a, b/'inf.nii.gz', like=good)
    save_image(np.full((32, 32, 32), 7., np.float32), b/'constant.nii.gz', like=good)
    save_image(rng.random((4, 4, 4), dtype=np.float32), b/'tiny.nii.gz')
    save_image((rng.random((32, 32)) * 255).astype(np.uint8), b/'slice.png')
    save_image(rng.random((32, 32, 32), dtype=np.float32), b/'coarse.nii.gz', affine=np.diag([2., 2., 2., 1.]))
    (b/'empty.pt').touch(); (b/'garbage.pt').write_bytes(b'\x80\x04garbage\x00' * 10)
    with open(b/'evil.pt', 'wb') as f: pickle.dump(Evil(), f)
    torch.save({'weight': torch.zeros(3)}, b/'state_dict.pt')
    (b/'afile').write_text('x')
    ro = w/'readonly'; ro.mkdir(); os.chmod(ro, 0o555)
    # data sets that fail their checks: none holds a splits.json, and none may get one
    lab = (rng.random((32, 32, 32)) > .9).astype(np.uint8); img = rng.random((32, 32, 32), dtype=np.float32) + lab
    sets = {'threelabel': lambda i: (img, lab * (1 + (i == 0) * (np.arange(32)[:, None, None] % 2))),
            'shape': lambda i: (img, lab if i else lab[:, :, :30]),
            'affine': lambda i: (img, lab), 'nanset': lambda i: (np.where(lab, np.nan, img) if i == 1 else img, lab)}
    for s, f in sets.items():
        for i in range(3):
            im, lb = f(i)
            _case_dir(w/s, f'c{i}', im, lb, np.eye(4), np.diag([1., 1., 1.5, 1.]) if s == 'affine' and i == 2 else None)
    test_case = split_cases(['c0', 'c1', 'c2'], seed=0)['test'][0]   # a 2D case where only the test split holds it
    for i in range(3):
        c = f'c{i}'
        if c == test_case: _case_dir(w/'mixed', c, img[..., 0], lab[..., 0])
        else: _case_dir(w/'mixed', c, img, lab)
    # prediction and ground-truth folders that fail their checks
    P = w/'preds'
    for d in ('nogt', 'shape', 'nonbinary', 'outside', 'nanpred', 'masksonly'): (P/d).mkdir(parents=True)
    g0 = read_image(w/'data'/'case_000'/'label.nii.gz')
    save_image(g0.array, P/'nogt'/'nocase_mask.nii.gz', like=g0)
    save_image(g0.array[:, :, :30], P/'shape'/'case_000_mask.nii.gz')
    save_image(np.full(g0.array.shape, 2., np.float32), P/'outside'/'case_000_prob.nii.gz', like=g0)
    a = np.zeros(g0.array.shape, np.float32); a[0, 0, 0] = np.nan; save_image(a, P/'nanpred'/'case_000_prob.nii.gz', like=g0)
    save_image(g0.array, P/'masksonly'/'case_000_mask.nii.gz', like=g0)
    save_image(g0.array, P/'nonbinary'/'case_000_mask.nii.gz', like=g0)
    _case_dir(w/'gt3', 'case_000', good.array, (np.arange(g0.array.size).reshape(g0.array.shape) % 3).astype(np.uint8), good.affine)
    (w/'copy'/'case_000').mkdir(parents=True)
    shutil.copy(w/'data'/'case_000'/'image_lr.nii.gz', w/'copy'/'case_000'/'image_lr.nii.gz')
    (w/'exists.csv').write_text('mine')
    (w/'v.png').write_bytes(b'mine')
    (w/'emptyrun').mkdir(); (w/'emptyrun'/'last.pt').touch()
    yield w
    os.chmod(ro, 0o755)

D, H, L = 'data', 'h', 'l'
TR = ['--patch-size', 32, 32, 16, '--epochs', 1, '--n-per-case', 2]   # otherwise valid training arguments
def teacher(*extra, data=D, out='newrun'): return ['train-teacher', '--data', data, '--out', out, *TR, *extra]
def student(*extra, tch=H, out='newrun'): return ['train-student', '--data', D, '--teacher', tch, '--out', out, *TR, *extra]
def predict(*inputs, model=L, out='newpred', extra=()): return ['predict', *inputs, '--model', model, '--out', out, *extra]
def evaluate(pred='p', gt=D, out='new.csv', extra=()): return ['evaluate', '--pred', pred, '--gt', gt, '--out', out, *extra]

# id: (argv, text the one-line message must hold: the file or argument at fault, or the problem)
CASES = {
    # synth
    'synth-into-data': (['synth', D], 'already holds files'),
    'synth-n-0': (['synth', 'new', '--n', 0], '--n: must be >= 1'),
    'synth-n-neg': (['synth', 'new', '--n', -1], '--n: must be >= 1'),
    'synth-huge': (['synth', 'new', '--shape', 4000, 4000, 4000], 'GiB of memory'),
    'synth-2x2x2': (['synth', 'new', '--shape', 2, 2, 2], '--shape: must be >= 16, got 2'),
    'synth-one-size': (['synth', 'new', '--shape', 64], '--shape: give 2 (H W) or 3 (X Y Z) sizes'),
    'synth-negative': (['synth', 'new', '--shape', -32, 32, 32], '--shape: must be >= 16, got -32'),
    'synth-dims': (['synth', 'new', '--shape', 32, 32, '--dims', 3], '--shape: 2 sizes given for 3D cases (dims)'),
    'synth-proc': (['synth', '/proc/ktvit-data'], 'system folder'),
    'synth-file': (['synth', 'bad/afile'], 'afile: is an existing file'),
    'synth-readonly': (['synth', 'readonly/data'], 'read-only'),
    'synth-seed': (['synth', 'new', '--seed', -1], '--seed: must be >= 0'),
    'synth-not-int': (['synth', 'new', '--n', 'many'], "--n: invalid int value: 'many'"),
    # train-teacher
    'train-epochs-0': (teacher('--epochs', 0), '--epochs: must be >= 1'),
    'train-epochs-neg': (teacher('--epochs', -1), '--epochs: must be >= 1'),
    'train-npc-0': (teacher('--n-per-case', 0), '--n-per-case: must be >= 1'),
    'train-lr-neg': (teacher('--lr', -1), '--lr: must be > 0'),
    'train-lr-0': (teacher('--lr', 0), '--lr: must be > 0'),
    'train-bs-0': (teacher('--bs', 0), '--bs: must be >= 1'),
    'train-patch-0': (teacher('--patch-size', 0, 0, 0), '--patch-size: must be >= 1'),
    'train-patch-2d': (teacher('--patch-size', 32, 32), '--patch-size: 2 sizes for the 3D images'),
    'train-patch-odd': (teacher('--patch-size', 30, 30, 30), '--patch-size: 30 30 30 does not fit'),
    'train-warmup': (teacher('--warmup', 1.5), '--warmup: must be in [0, 1)'),
    'train-arch': (teacher('--arch', 'vit'), "--arch: invalid choice: 'vit'"),
    'train-preset': (teacher('--preset', 'huge'), "--preset: invalid choice: 'huge'"),
    'train-no-data': (teacher(data='nowhere'), 'nowhere: data folder not found'),
    'train-out-file': (teacher(out='bad/afile'), 'afile: is an existing file'),
    'train-out-proc': (teacher(out='/proc/ktvit-run'), 'system folder'),
    'train-out-readonly': (teacher(out='readonly/run'), 'read-only'),
    'train-out-in-data': (teacher(out='data/run'), 'lies inside the input folder'),
    'train-out-is-data': (teacher(out='data'), 'is an input'),
    'train-existing-run': (teacher(out=H), 'already holds a run'),
    'train-resume-empty': (teacher('--resume', out='emptyrun'), 'last.pt: is an empty file'),
    'train-3-valued-label': (teacher(data='threelabel'), 'label has 3 distinct values'),
    'train-label-shape': (teacher(data='shape'), 'does not match'),
    'train-label-affine': (teacher(data='affine'), 'geometry (affine) does not match'),
    'train-nan-image': (teacher(data='nanset'), 'NaN/Inf'),
    'train-2d-in-test-split': (teacher(data='mixed'), 'is 2D but the training cases are 3D'),
    'train-spacing-axes': (teacher('--spacing', 1, 1), '--spacing: 2 voxel sizes for 3D images'),
    'train-spacing-0': (teacher('--spacing', 0, 1, 1), '--spacing: (0.0, 1.0, 1.0): every voxel size must be a positive number of mm'),
    'train-spacing-text': (teacher('--spacing', '1um', 1, 1), "--spacing: invalid float value: '1um'"),
    # train-student
    'student-no-teacher': (student(tch='nowhere'), 'nowhere: no such checkpoint'),
    'student-empty-pt': (student(tch='bad/empty.pt'), 'empty.pt: is an empty file'),
    'student-garbage-pt': (student(tch='bad/garbage.pt'), 'garbage.pt: not a readable ktvit_nb checkpoint'),
    'student-evil-pt': (student(tch='bad/evil.pt'), 'evil.pt: not a readable ktvit_nb checkpoint'),
    'student-state-dict': (student(tch='bad/state_dict.pt'), 'state_dict.pt: not a ktvit_nb checkpoint'),
    'student-student-as-teacher': (student(tch=L), "is a student (L-net) run"),
    'student-2d-teacher': (student(tch='h2d'), 'spatial_dims=2 (student: 3)'),
    'student-weak-teacher': (student('--min-teacher-dice', 1), "teacher's best validation Dice"),
    'student-temperature': (student('--temperature', 0), '--temperature: must be > 0'),
    'student-kl-weight': (student('--kl-weight', -1), '--kl-weight: must be >= 0'),
    'student-feature-weights': (student('--feature-weights', 1, 1, -1, 1), '--feature-weights: must be >= 0'),
    'student-min-dice': (student('--min-teacher-dice', 2), '--min-teacher-dice: must be in [0, 1]'),
    'student-out-is-teacher': (student(out=H), 'is an input'),
    'student-transfer': (student('--transfer', 'magic'), "--transfer: invalid choice: 'magic'"),
    'student-resume-transfer': (student('--resume', '--min-teacher-dice', 0, '--transfer', 'paper', out=L), "cannot resume: it was run with transfer='finetune', not 'paper'"),
    'student-resume-kl-weight': (student('--resume', '--min-teacher-dice', 0, '--kl-weight', .5, out=L), "cannot resume: it was run with kt.kl_weight=0.0, not 0.5"),
    'student-resume-lr': (student('--resume', '--min-teacher-dice', 0, '--lr', .5, out=L), "cannot resume: it was run with lr=0.001, not 0.5"),
    # predict
    'predict-missing': (predict('bad/nothere.nii.gz'), 'nothere.nii.gz: not found'),
    'predict-corrupt': (predict('bad/broken.nii.gz'), 'broken.nii.gz: cannot be read'),
    'predict-truncated': (predict('bad/truncated.nii.gz'), 'truncated.nii.gz: cannot be read'),
    'predict-wrong-format': (predict('bad/png_named.nii.gz'), 'png_named.nii.gz: cannot be read'),
    'predict-not-image': (predict('bad/scan.txt'), "scan.txt: is not an image file"),
    'predict-1d': (predict('bad/oned.nii.gz'), 'oned.nii.gz: is 1D'),
    'predict-4d': (predict('bad/fourd.nii.gz'), 'fourd.nii.gz: is 4D'),
    'predict-nan': (predict('bad/nan.nii.gz'), 'nan.nii.gz: contains 1 NaN/Inf'),
    'predict-inf': (predict('bad/inf.nii.gz'), 'inf.nii.gz: contains 1 NaN/Inf'),
    'predict-constant': (predict('bad/constant.nii.gz'), 'constant.nii.gz: is constant'),
    'predict-too-small': (predict('bad/tiny.nii.gz'), 'tiny.nii.gz: shape (4, 4, 4) is too small'),
    'predict-2d-to-3d': (predict('bad/slice.png'), 'slice.png: is 2D but the network is 3D'),
    'predict-hr-to-lnet': (predict('bad/image.nii.gz'), 'image.nii.gz: is an HR image'),
    'predict-spacing': (predict('bad/coarse.nii.gz', model=H), 'coarse.nii.gz: voxel size 2x2x2 mm differs'),
    'predict-threshold-high': (predict(D, extra=['--threshold', 1.5]), '--threshold: must be in (0, 1)'),
    'predict-threshold-0': (predict(D, extra=['--threshold', 0]), '--threshold: must be in (0, 1)'),
    'predict-overlap-1': (predict(D, extra=['--overlap', 1]), '--overlap: must be in [0, 1)'),
    'predict-overlap-neg': (predict(D, extra=['--overlap', -.1]), '--overlap: must be in [0, 1)'),
    'predict-device': (predict(D, extra=['--device', 'gpu0']), "--device: 'gpu0' is not a device"),
    'predict-sw-batch': (predict(D, extra=['--sw-batch-size', 0]), '--sw-batch-size: must be >= 1'),
    'predict-empty-pt': (predict(D, model='bad/empty.pt'), 'empty.pt: is an empty file'),
    'predict-garbage-pt': (predict(D, model='bad/garbage.pt'), 'garbage.pt: not a readable'),
    'predict-evil-pt': (predict(D, model='bad/evil.pt'), 'evil.pt: not a readable'),
    'predict-state-dict': (predict(D, model='bad/state_dict.pt'), 'state_dict.pt: not a ktvit_nb checkpoint'),
    'predict-no-model': (predict(D, model='nowhere'), 'nowhere: no such checkpoint'),
    'predict-mixed-ensemble': (['predict', D, '--model', H, '--model', L, '--out', 'newpred'], 'mixes input kind'),
    'predict-out-file': (predict(D, out='bad/afile'), 'afile: is an existing file'),
    'predict-out-proc': (predict(D, out='/proc/ktvit-pred'), 'system folder'),
    'predict-out-readonly': (predict(D, out='readonly/pred'), 'read-only'),
    'predict-out-in-input': (predict(D, out='data/case_000/pred'), 'lies inside the input folder'),
    'predict-out-is-input': (predict('data/case_000', out='data/case_000'), 'is an input'),
    'predict-same-name': (predict('data/case_000/image_lr.nii.gz', 'copy/case_000/image_lr.nii.gz'), "gives the output name 'case_000'"),
    'predict-existing-outputs': (predict(D, out='p'), 'case_000_prob.nii.gz: already exists'),
    'predict-empty-folder': (predict('readonly'), 'readonly: holds no image files'),
    # evaluate
    'evaluate-out-label': (evaluate(out='data/case_000/label.nii.gz'), 'lies inside the input folder'),
    'evaluate-out-prediction': (evaluate(out='p/case_000_prob.nii.gz'), 'lies inside the input folder'),
    'evaluate-out-image': (evaluate(out='data/case_000/image.nii.gz'), 'lies inside the input folder'),
    'evaluate-out-gt-folder': (evaluate(out=D), 'is an input'),
    'evaluate-out-folder': (evaluate(out='bad'), 'bad: is a folder; give a file name'),
    'evaluate-out-exists': (evaluate(out='exists.csv'), 'exists.csv: already exists'),
    'evaluate-out-proc': (evaluate(out='/proc/metrics.csv'), 'system folder'),
    'evaluate-out-readonly': (evaluate(out='readonly/m.csv'), 'read-only'),
    'evaluate-threshold-high': (evaluate(extra=['--threshold', 1.5]), '--threshold: must be in (0, 1)'),
    'evaluate-threshold-0': (evaluate(extra=['--threshold', 0]), '--threshold: must be in (0, 1)'),
    'evaluate-no-pred': (evaluate(pred='nowhere'), 'nowhere: prediction folder does not exist'),
    'evaluate-no-gt': (evaluate(gt='nowhere'), 'nowhere: ground-truth folder does not exist'),
    'evaluate-no-case': (evaluate(pred='preds/nogt'), "no ground truth for case 'nocase'"),
    'evaluate-shape': (evaluate(pred='preds/shape'), 'case_000_mask.nii.gz: shape (32, 32, 30) does not match'),
    'evaluate-nonbinary-gt': (evaluate(pred='preds/nonbinary', gt='gt3'), 'label has 3 distinct values'),
    'evaluate-not-probabilities': (evaluate(pred='preds/outside'), 'case_000_prob.nii.gz: holds values in [2, 2]'),
    'evaluate-nan-prediction': (evaluate(pred='preds/nanpred'), 'case_000_prob.nii.gz: contains 1 NaN/Inf'),
    'evaluate-nothing-to-rethreshold': (evaluate(pred='preds/masksonly', extra=['--threshold', .5]), 'has no probability map'),
    'evaluate-mask-and-no-mask': (evaluate(extra=['--mask', D, '--no-mask']), '--no-mask: contradicts --mask'),
    # view, bench, demo
    'view-missing': (['view', 'nowhere'], 'nowhere: not found'),
    'view-no-display': (['view', 'data/case_000'], 'DISPLAY: is not set'),
    'view-not-png': (['view', 'data/case_000', '--screenshot', 'v.jpg'], '--screenshot: v.jpg: give a .png'),
    'view-screenshot-exists': (['view', 'data/case_000', '--screenshot', 'v.png'], 'v.png: already exists'),
    'view-nothing-to-view': (['view', 'readonly', '--screenshot', 'new.png'], 'readonly: is neither a case folder'),
    'view-run-folder': (['view', L, '--screenshot', 'new.png'], 'l: is neither a case folder'),
    'bench-out-exists': (['bench', '--out', 'exists.csv'], 'exists.csv: already exists'),
    'study-seeds-negative': (['study', '--out', 'newstudy', '--seeds', -3], '--seeds: must be >= 0, got -3'),   # a seed numpy cannot take
    'study-epochs-0': (['study', '--out', 'newstudy', '--epochs', 0], '--epochs: must be >= 1, got 0'),
    'demo-shape': (['demo', '--out', 'newdemo', '--shape', 8, 8, 8], '--shape: must be >= 16, got 8'),
    'demo-out-file': (['demo', '--out', 'bad/afile'], 'afile: is an existing file'),
}

@pytest.mark.parametrize('cid', list(CASES))
def test_refused_cleanly(w, cid, monkeypatch):
    argv, must = CASES[cid]
    monkeypatch.chdir(w)
    for v in ('DISPLAY', 'WAYLAND_DISPLAY', 'QT_QPA_PLATFORM'): monkeypatch.delenv(v, raising=False)
    before = snapshot(w)
    code, out, err = run(*argv)
    lines = err.strip().splitlines()
    problems = []
    if code != 2: problems.append(f"exit status {code}")
    if len(lines) != 1: problems.append(f"{len(lines)} lines on stderr: {err[-600:]!r}")
    if must not in err: problems.append(f"message lacks {must!r}: {err.strip()[-400:]!r}")
    after = snapshot(w)
    if after != before:
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        problems.append(f"files changed: {changed[:6]}")
    RESULTS[cid] = problems or None
    assert not problems, f"{cid}: " + '; '.join(problems)

SUBPROCESS = {   # the real console script: exit status, one line, nothing written, no Qt abort (134)
    'sub-evil-pt': (['predict', 'data', '--model', 'bad/evil.pt', '--out', 'newpred'], 'evil.pt'),
    'sub-view-no-display': (['view', 'data/case_000'], 'DISPLAY'),
    'sub-synth-into-data': (['synth', 'data'], 'already holds files'),
}

@pytest.mark.parametrize('cid', list(SUBPROCESS))
def test_refused_cleanly_by_the_script(w, cid):
    argv, must = SUBPROCESS[cid]
    env = {k: v for k, v in os.environ.items() if k not in ('DISPLAY', 'WAYLAND_DISPLAY', 'QT_QPA_PLATFORM')}
    before = snapshot(w)
    r = subprocess.run([KTVIT, *map(str, argv)], cwd=w, env=env, capture_output=True, text=True, timeout=300)
    problems = [p for p, bad in ((f"exit status {r.returncode}", r.returncode != 2),
                                 (f"stderr {r.stderr[-400:]!r}", len(r.stderr.strip().splitlines()) != 1 or must not in r.stderr),
                                 ("files changed", snapshot(w) != before)) if bad]
    RESULTS[cid] = problems or None
    assert not problems, f"{cid}: " + '; '.join(problems)

def test_pickle_never_ran(w): assert not (w/'PWNED').exists() and not Path('PWNED').exists()

def test_summary(capsys):
    "The figure for the issue's closing note"
    n, bad = len(RESULTS), sorted(k for k, v in RESULTS.items() if v)
    with capsys.disabled():
        print(f"\n{n - len(bad)} of {n} bad inputs refused cleanly, {len(bad)} changed files or failed: {bad}" if bad else
              f"\n{n} of {n} bad inputs refused cleanly, 0 files changed")
    assert n == len(CASES) + len(SUBPROCESS) and not bad
