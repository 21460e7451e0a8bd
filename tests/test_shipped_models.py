"""Weights a user can run (issue 23, item 4): a run exported by `ship_model` into a models folder (here a temporary
one named by `$KTVIT_MODELS`, never the package's), listed by `ktvit models`, run by `predict --model NAME`."""
import json
from pathlib import Path
import numpy as np, pytest, torch
from ktvit_nb.core import InputError
from ktvit_nb.checkpoint import (ship_model, shipped_models, load_model, load_shipped, models_dir, MODELS_ENV,
                                 MAX_SHIPPED_BYTES)
from ktvit_nb.data.io import read_image
from test_cli_badinput import run   # `ktvit ARGV` in this process: (exit status, stdout, stderr)
from test_real_scan import tiny_run, scanner_volume, scanner_affine   # the one-epoch tiny 3D run (a fixture)

CARD = """# tiny-3d
> A one-epoch tiny 3D H-net of the tests: it has learned almost nothing.

## Training data
Three synthetic 32^3 volumes.

## Limits
Not for use on anything."""

@pytest.fixture
def zoo(tiny_run, tmp_path, monkeypatch):
    "A models folder holding the tiny run as 'tiny-3d', named by $KTVIT_MODELS for this test only"
    z = tmp_path/'zoo'; ship_model(tiny_run, 'tiny-3d', CARD, folder=z)
    monkeypatch.setenv(MODELS_ENV, str(z))
    return z

def test_the_package_folder_is_not_touched(zoo):
    "Tests write into their own folder: $KTVIT_MODELS replaces the package's weights/ everywhere"
    assert models_dir() == zoo and 'ktvit_nb' not in str(zoo)
    assert not (Path(__file__).resolve().parents[1]/'ktvit_nb'/'weights'/'tiny-3d').exists()

def test_shipped_files(zoo, tiny_run):
    "Three files, each within the size bar; float16 weights that torch reads with weights_only; a config with all predict needs"
    d = zoo/'tiny-3d'
    assert sorted(p.name for p in d.iterdir()) == ['card.md', 'config.json', 'weights.pt']
    assert all(p.stat().st_size <= MAX_SHIPPED_BYTES for p in d.iterdir())
    sd = torch.load(d/'weights.pt', weights_only=True)
    assert {v.dtype for v in sd.values() if v.is_floating_point()} == {torch.float16}
    cfg = json.loads((d/'config.json').read_text())
    assert cfg['model']['arch'] == 'ktvit' and cfg['model']['preset'] == 'tiny'
    tr = cfg['train']
    assert tr['patch_size'] == [32, 32, 16] and tr['target_spacing'] == [.5, .5, 1.] and tr['stage'] == 'teacher'
    assert tr['contrast'] == 'none' and tr['lr_protocol'] == 'paper' and 'threshold' in cfg and 'threshold_rule' in cfg
    card = (d/'card.md').read_text()
    assert card.startswith(CARD) and 'every input resampled to 0.5x0.5x1 mm' in card and 'tiles: 32x32x16' in card

def test_loaded_as_float32_and_predicts_like_the_run(zoo, tiny_run):
    "The shipped network is float32 again and predicts within float16 rounding of the run it came from"
    from ktvit_nb.infer import Predictor
    sn, rn = load_model('tiny-3d'), load_model(tiny_run)
    assert sn.name == 'tiny-3d' and rn.name is None
    assert {v.dtype for v in sn.model.state_dict().values() if v.is_floating_point()} == {torch.float32}
    assert (sn.patch_size, sn.input_kind, sn.target_spacing, sn.threshold) == (rn.patch_size, rn.input_kind, rn.target_spacing, rn.threshold)
    x = np.random.default_rng(0).random((40, 40, 20), dtype=np.float32)
    assert np.abs(Predictor(sn).prob(x, (.5, .5, 1.)) - Predictor(rn).prob(x, (.5, .5, 1.))).max() < 5e-3

def test_ktvit_models_lists_and_prints_the_card(zoo):
    code, out, _ = run('models')
    assert code == 0 and out == "tiny-3d  A one-epoch tiny 3D H-net of the tests: it has learned almost nothing.\n"
    code, out, _ = run('models', 'tiny-3d')
    assert code == 0 and out.startswith(CARD) and "## What `predict` does with it" in out
    code, _, err = run('models', 'brain')
    assert code == 2 and len(err.strip().splitlines()) == 1 and 'shipped: tiny-3d' in err

def test_predict_by_name(zoo, tmp_path):
    save = tmp_path/'scan.nii.gz'
    from ktvit_nb.data.io import save_image
    save_image(scanner_volume(), save, affine=scanner_affine())
    code, out, err = run('predict', save, '--model', 'tiny-3d', '--out', tmp_path/'pred')
    assert code == 0, err
    assert f"model tiny-3d: shipped with ktvit_nb ({zoo/'tiny-3d'})" in out
    assert read_image(tmp_path/'pred'/'scan_prob.nii.gz').array.shape == scanner_volume().shape

def test_unknown_name_lists_the_shipped_ones(zoo, tmp_path):
    "One line, exit 2, nothing written; it names what is shipped"
    code, out, err = run('predict', tmp_path, '--model', 'brain-tof', '--out', tmp_path/'pred')
    assert code == 2 and len(err.strip().splitlines()) == 1 and not (tmp_path/'pred').exists()
    assert 'brain-tof: no such checkpoint or run folder, and no shipped model of that name (shipped: tiny-3d; `ktvit models` lists them)' in err

def test_nothing_shipped(tmp_path, monkeypatch):
    monkeypatch.setenv(MODELS_ENV, str(tmp_path/'empty'))
    assert shipped_models() == {}
    code, out, _ = run('models')
    assert code == 0 and out.strip() == f"no model is shipped in {tmp_path/'empty'}"
    with pytest.raises(InputError, match='no model is shipped in'): load_model('tiny-3d')

def test_a_path_of_that_name_wins(zoo, tiny_run, tmp_path, monkeypatch):
    "A run folder called like a shipped model, in the working directory, is that run"
    import shutil
    shutil.copytree(tiny_run, tmp_path/'tiny-3d'); monkeypatch.chdir(tmp_path)
    tn = load_model('tiny-3d')
    assert tn.name is None and tn.path == str(Path('tiny-3d')/'best.pt')

def test_ship_refuses_bad_names_existing_models_and_large_files(zoo, tiny_run, monkeypatch):
    with pytest.raises(InputError, match='already exists'): ship_model(tiny_run, 'tiny-3d', CARD)
    for bad in ('Tiny', 'a/b', '../x', '', 'x' * 65):
        with pytest.raises(InputError, match='lower-case letters'): ship_model(tiny_run, bad, CARD)
    with pytest.raises(InputError, match='is empty'): ship_model(tiny_run, 'blank', '# title only\n')
    import ktvit_nb.checkpoint as ck
    with monkeypatch.context() as m, pytest.raises(InputError, match='weights.pt takes 0.5 MiB, above the 0.0953674 MiB'):
        m.setattr(ck, 'MAX_SHIPPED_BYTES', 100_000)   # the tiny network's weights take about 0.5 MiB
        ship_model(tiny_run, 'big', CARD)
    assert sorted(p.name for p in zoo.iterdir()) == ['tiny-3d']   # nothing left behind
    before = (zoo/'tiny-3d'/'weights.pt').read_bytes()
    ship_model(tiny_run, 'tiny-3d', CARD.replace('tests', 'checks'), overwrite=True)
    assert (zoo/'tiny-3d'/'weights.pt').read_bytes() == before and 'checks' in (zoo/'tiny-3d'/'card.md').read_text()
    assert sorted(p.name for p in zoo.iterdir()) == ['tiny-3d']

def test_damaged_weights_are_one_line(zoo):
    (zoo/'tiny-3d'/'weights.pt').write_bytes(b'not a torch file')
    with pytest.raises(InputError, match='weights.pt: not a readable'): load_shipped('tiny-3d')

def test_weights_beyond_float16_are_refused(zoo, tmp_path):
    "float16 holds up to 65504: a network with a larger weight is refused, not shipped as inf"
    from ktvit_nb.checkpoint import save_checkpoint
    from ktvit_nb.models import create_model
    net = create_model('ktvit', 'tiny')
    with torch.no_grad(): next(net.parameters()).fill_(1e6)
    save_checkpoint(tmp_path/'huge.pt', net)
    with pytest.raises(InputError, match="beyond float16's range"): ship_model(tmp_path/'huge.pt', 'huge', CARD)
    assert not (zoo/'huge').exists()
