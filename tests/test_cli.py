"The `ktvit` command line end to end on a tiny synthetic set: every subcommand, its outputs and its clear errors."
import subprocess, sys
from pathlib import Path
import numpy as np, pandas as pd, pytest

KTVIT = str(Path(sys.executable).parent/'ktvit')

def ktvit(*args, ok=True):
    r = subprocess.run([KTVIT, *map(str, args)], capture_output=True, text=True, timeout=600)
    if ok: assert r.returncode == 0, r.stderr[-3000:]
    return r

@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    "One tiny synthetic set, a teacher run and a student run, shared by the tests below"
    d = tmp_path_factory.mktemp('cli')
    ktvit('synth', d/'data', '--n', 3, '--shape', 32, 32, 32, '--seed', 3)
    common = ['--data', d/'data', '--epochs', 1, '--patch-size', 32, 32, 16, '--n-per-case', 2, '--bs', 2]
    ktvit('train-teacher', *common, '--out', d/'hnet', '--preset', 'tiny')
    ktvit('train-student', *common, '--out', d/'lnet', '--teacher', d/'hnet', '--min-teacher-dice', 0, '--transfer', 'paper')
    ktvit('train-student', *common, '--out', d/'lnet-default', '--teacher', d/'hnet', '--min-teacher-dice', 0)
    return d

def test_run_folders(runs):
    for r in ('hnet', 'lnet'):
        assert {'config.json', 'metrics.csv', 'last.pt', 'best.pt', 'curves.png'} <= {p.name for p in (runs/r).iterdir()}
    cols = pd.read_csv(runs/'lnet'/'metrics.csv').columns   # eq. 7: every transfer term has its column
    assert {'task_loss', 'mse_embed1_loss', 'mse_embed2_loss', 'mse_dec1_loss', 'mse_dec2_loss', 'kl_loss', 'dice'} <= set(cols)
    import json
    from ktvit_nb.config import DEFAULT_TRANSFER
    cfg = json.loads((runs/'lnet-default'/'config.json').read_text())['train']
    assert cfg['transfer'] == DEFAULT_TRANSFER and cfg['kt']['init'] == 'teacher'   # the study's default: the H-net's weights as the start

def test_resume_student(runs):
    "A student resumed with its own settings continues; with another transfer, KT weight or learning rate it is refused in one line"
    common = ['--data', runs/'data', '--epochs', 1, '--patch-size', 32, 32, 16, '--n-per-case', 2, '--bs', 2, '--out', runs/'lnet',
              '--teacher', runs/'hnet', '--min-teacher-dice', 0, '--resume']
    r = ktvit('train-student', *common, '--transfer', 'paper')
    assert f"resuming {runs/'lnet'/'last.pt'}: 1 of 1 epochs done" in r.stdout, r.stdout[-2000:]
    for extra, what in [(['--transfer', 'fkl'], "transfer='paper', not 'fkl'"), (['--transfer', 'paper', '--kl-weight', .5], 'kt.kl_weight=1.0, not 0.5'),
                        (['--transfer', 'paper', '--lr', .01], 'lr=0.001, not 0.01')]:
        r = ktvit('train-student', *common, *extra, ok=False)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and f"cannot resume: it was run with {what}" in r.stderr, r.stderr[-2000:]

def test_predict_keeps_geometry_and_evaluate(runs):
    "predict -> evaluate as a user types it: a case folder in, outputs named after the case, the written mask scored"
    from ktvit_nb.data.io import read_image
    ktvit('predict', runs/'data'/'case_000', '--model', runs/'lnet', '--out', runs/'pred')
    src, prob = read_image(runs/'data'/'case_000'/'image_lr.nii.gz'), read_image(runs/'pred'/'case_000_prob.nii.gz')
    np.testing.assert_allclose(prob.affine, src.affine); assert prob.array.shape == src.array.shape
    r = ktvit('evaluate', '--pred', runs/'pred', '--gt', runs/'data', '--out', runs/'m.csv')
    df = pd.read_csv(runs/'m.csv')
    assert list(df.iloc[:, 0]) == ['case_000'] and 0 <= df.dice[0] <= 1 and 'dice' in r.stdout
    assert df.scored[0] == 'case_000_mask.nii.gz > 0'
    ktvit('predict', runs/'data'/'case_000', '--model', runs/'lnet', '--out', runs/'pred-tta', '--tta', '--quiet')
    tta = read_image(runs/'pred-tta'/'case_000_prob.nii.gz')
    np.testing.assert_allclose(tta.affine, src.affine); assert tta.array.shape == src.array.shape
    assert 0 < np.abs(tta.array - prob.array).max() < 1   # averaged over 16 views: close to, but not, the plain map

def test_folds_and_threshold(runs):
    "--folds K --fold i trains on fold i of folds.json (made once beside the data); the run stores its validation threshold"
    import json
    from ktvit_nb.checkpoint import load_checkpoint
    common = ['--data', runs/'data', '--epochs', 1, '--patch-size', 32, 32, 16, '--n-per-case', 2, '--bs', 2]
    ktvit('train-teacher', *common, '--out', runs/'fold1', '--folds', 3, '--fold', 1)
    folds = json.loads((runs/'data'/'folds.json').read_text())
    assert folds['folds'] == 3 and json.loads((runs/'fold1'/'config.json').read_text())['train']['splits'] == folds['splits'][1]
    assert sorted(n for f in folds['splits'] for n in f['test']) == ['case_000', 'case_001', 'case_002']
    r = ktvit('train-teacher', *common, '--out', runs/'fold9', '--folds', 3, '--fold', 3, ok=False)
    assert r.returncode == 2 and '--fold' in r.stderr and not (runs/'fold9').exists()
    ck = load_checkpoint(runs/'fold1')
    assert 0 < ck['threshold'] < 1 and ck['threshold_dice'] >= ck['dice_at_half']

def test_help_version_and_ensemble(runs):
    assert ktvit('--version').stdout.startswith('ktvit ')
    h = ' '.join(ktvit('predict', '--help').stdout.split())
    assert "(default: the checkpoint's" in h and '--device' in h and '--allow-mismatch' in h
    ktvit('predict', runs/'data', '--model', runs/'lnet', '--model', runs/'lnet', '--out', runs/'ens', '--device', 'cpu', '--quiet')
    assert len(list((runs/'ens').glob('case_*_prob.nii.gz'))) == 3
    ktvit('predict', '--model', runs/'lnet', runs/'data'/'case_000', runs/'data'/'case_001', '--out', runs/'order', '--quiet')   # the model first
    assert sorted(f.name for f in (runs/'order').glob('*_prob.nii.gz')) == ['case_000_prob.nii.gz', 'case_001_prob.nii.gz']

def test_bad_inputs_exit_2_and_write_nothing(runs, tmp_path):
    bad = tmp_path/'broken.nii.gz'; bad.write_bytes(b'not an image at all')
    r = ktvit('predict', bad, '--model', runs/'hnet', '--out', tmp_path/'out', ok=False)
    assert r.returncode == 2 and 'broken.nii.gz' in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path/'out').exists()
    r = ktvit('predict', runs/'data'/'case_000'/'image.nii.gz', '--model', tmp_path/'nowhere', '--out', tmp_path/'out', ok=False)
    assert r.returncode == 2 and 'no such checkpoint' in r.stderr
    ktvit('synth', tmp_path/'d2', '--n', 3, '--shape', 32, 32)
    r = ktvit('train-student', '--data', tmp_path/'d2', '--teacher', runs/'hnet', '--out', tmp_path/'l2', '--epochs', 1,
              '--patch-size', 32, 32, '--n-per-case', 2, '--min-teacher-dice', 0, ok=False)
    assert r.returncode == 2 and 'spatial_dims=3 (student: 2)' in r.stderr and not (tmp_path/'l2'/'last.pt').exists()

def test_demo_quick(tmp_path):
    r = ktvit('demo', '--quick', '--out', tmp_path/'demo')
    rep = (tmp_path/'demo'/'report.md').read_text()
    from ktvit_nb.demo import DEMO_RUNS
    from ktvit_nb.config import DEFAULT_TRANSFER
    assert 'Table 1' in rep and 'Table 2' in rep and 'L-net with KT' in rep and f'default transfer `{DEFAULT_TRANSFER}`' in rep
    assert len(DEMO_RUNS) == 6 and len(list((tmp_path/'demo'/'predictions').glob('*/*_prob.nii.gz'))) == len(DEMO_RUNS)   # one test case each
    assert (tmp_path/'demo'/'metrics.csv').exists() and 'report.md' in r.stdout


def test_study_quick(tmp_path):
    "`ktvit study --quick` end to end: every file of a study folder, and a re-run continues instead of retraining"
    out = tmp_path/'study'
    r = ktvit('study', '--quick', '--out', out)
    assert {'design.json', 'cases.csv', 'summary.csv', 'summary.md', 'forest.png'} <= {p.name for p in out.iterdir()}
    r2 = ktvit('study', '--quick', '--out', out)
    assert 'trained in' in r.stdout and 'trained in' not in r2.stdout, r2.stdout[-2000:]
