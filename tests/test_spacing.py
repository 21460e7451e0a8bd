"Training on a target voxel size (`--spacing`, issue 11): recorded in the run, and `predict` writes on each input's grid."
import json
import numpy as np, pytest
from ktvit_nb.config import TrainConfig
from ktvit_nb.checkpoint import load_checkpoint
from ktvit_nb.data.synth_dataset import write_synth_dataset
from ktvit_nb.data.io import read_image
from test_cli_badinput import run   # `ktvit ARGV` in this process: (exit status, stdout, stderr)

@pytest.fixture(scope='module')
def data(tmp_path_factory):
    "Three tiny synthetic cases of 0.5 mm voxels"
    d = tmp_path_factory.mktemp('spacing')/'data'
    write_synth_dataset(d, 3, (32, 32, 32), seed=3, progress=False)
    return d

def test_spacing_recorded_and_predict_keeps_geometry(data, tmp_path):
    "train-teacher --spacing stores the target in config.json and the checkpoints; predict writes on the input's grid"
    code, _, err = run('train-teacher', '--data', data, '--out', tmp_path/'run', '--epochs', 1, '--patch-size', 32, 32, 16,
                       '--n-per-case', 2, '--spacing', .5, .5, 1)
    assert code == 0, err[-2000:]
    assert json.loads((tmp_path/'run'/'config.json').read_text())['train']['target_spacing'] == [.5, .5, 1.]
    assert load_checkpoint(tmp_path/'run')['train_config']['target_spacing'] == [.5, .5, 1.]
    code, out, err = run('predict', data/'case_000', '--model', tmp_path/'run', '--out', tmp_path/'pred')
    assert code == 0, err[-2000:]
    assert 'inputs resampled to 0.5x0.5x1 mm' in out
    src = read_image(data/'case_000'/'image.nii.gz')
    for k in ('prob', 'mask'):
        got = read_image(tmp_path/'pred'/f'case_000_{k}.nii.gz')
        assert got.array.shape == src.array.shape; np.testing.assert_allclose(got.affine, src.affine)

def test_training_cases_on_the_target_grid(data):
    "A run with target_spacing crops its patches from cases resampled to it"
    from ktvit_nb.learner import _dls, _with_recipe   # as `train_teacher` builds them: the recipe fills what is left None
    cfg = _with_recipe(TrainConfig(patch_size=(32, 32, 16), bs=2, n_per_case=2, target_spacing=[.5, .5, 1.]), data)
    dls = _dls(data, cfg, ('hr',))
    assert [(c['hr'].shape, c['spacing']) for c in dls.valid_cases] == [((32, 32, 16), (.5, .5, 1.))]

def test_spacing_missing_from_the_file_is_refused(data, tmp_path):
    "A target 100x finer than a case's voxel size (a file without one reads as 1 mm) stops before any output, naming the case's file"
    code, _, err = run('train-teacher', '--data', data, '--out', tmp_path/'run', '--epochs', 1, '--patch-size', 32, 32, 16,
                       '--n-per-case', 2, '--spacing', .005, .005, .005)
    assert code == 2 and 'image.nii.gz' in err and 'times the target' in err, err
    assert not (tmp_path/'run'/'last.pt').exists()
