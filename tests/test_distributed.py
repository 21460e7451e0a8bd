"Data-parallel training: two CPU processes (gloo) through torchrun split the data and train one network in step."
import json, os, subprocess, sys
from pathlib import Path
import pytest

BIN = Path(sys.executable).parent
ENV = {**os.environ, 'OMP_NUM_THREADS': '1'}
KW = dict(epochs=1, patch_size=(32, 32, 16), n_per_case=4, bs=2)

# Run under torchrun: each rank records a checksum of every crop it trains and validates on, and its weights after the fit
RANK_SCRIPT = '''
import json, os, sys
from fastai.callback.core import Callback
from ktvit_nb.learner import train_teacher

class Seen(Callback):
    order = 99
    def before_fit(self): self.seen = dict(train=[], valid=[])
    def before_batch(self): self.seen['train' if self.training else 'valid'] += [float(x.double().sum()) for x in self.xb[0]]
    def after_fit(self):
        m = getattr(self.model, 'module', self.model)
        self.seen['weights'] = {n: float(p.double().sum()) for n, p in m.named_parameters()}

cb = Seen()
train_teacher(sys.argv[1], sys.argv[2], cbs=[cb], **json.loads(sys.argv[3]))
with open(os.path.join(sys.argv[2], f"rank{os.environ['RANK']}.json"), 'w') as f: json.dump(cb.seen, f)
'''

def _torchrun(*args):
    if not (BIN/'torchrun').exists(): pytest.skip('torchrun not installed')
    r = subprocess.run([str(BIN/'torchrun'), '--standalone', '--nproc_per_node', '2', *map(str, args)],
                       capture_output=True, text=True, env=ENV, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]

def test_ranks_split_the_data_and_stay_in_step(tmp_path):
    from ktvit_nb.test_utils import synth_data
    from ktvit_nb.learner import make_dataloaders
    data = synth_data(4, (32, 32, 32))
    (tmp_path/'rank.py').write_text(RANK_SCRIPT)
    _torchrun(tmp_path/'rank.py', data, tmp_path/'run', json.dumps(KW))
    r0, r1 = (json.loads((tmp_path/'run'/f'rank{r}.json').read_text()) for r in (0, 1))
    dls = make_dataloaders(data, patch_size=KW['patch_size'], bs=KW['bs'], n_per_case=KW['n_per_case'], seed=0, device='cpu')
    valid = sorted(float(x.double().sum()) for b in dls.valid for x in b[0])   # the one-process validation crops
    # each rank validates on its own half, and the halves are the one-process validation set
    assert len(r0['valid']) == len(r1['valid']) == len(valid) // 2, (len(r0['valid']), len(r1['valid']), len(valid))
    assert sorted(r0['valid'] + r1['valid']) == pytest.approx(valid, rel=1e-6)
    # each rank trains on its share of the epoch's crops, not on the same crops as the other
    assert len(r0['train']) == len(r1['train']) == len(dls.train) * KW['bs'] // 2
    assert set(r0['train']).isdisjoint(r1['train']), (r0['train'], r1['train'])
    # yet both end with the same weights: the gradients were shared
    assert r0['weights'] == r1['weights']
    from ktvit_nb.checkpoint import load_checkpoint
    ck = load_checkpoint(tmp_path/'run'/'last.pt')   # written by rank 0 alone
    assert ck['epoch'] == 0 and {n: float(ck['state_dict'][n].double().sum()) for n in r0['weights']} == r0['weights']

def test_two_process_ddp_through_the_cli(tmp_path):
    from ktvit_nb.test_utils import synth_data
    from ktvit_nb.checkpoint import load_checkpoint
    data = synth_data(3, (32, 32, 32))
    _torchrun(BIN/'ktvit', 'train-teacher', '--data', data, '--out', tmp_path/'run', '--epochs', 1,
              '--patch-size', 32, 32, 16, '--n-per-case', 4, '--bs', 2)
    ck = load_checkpoint(tmp_path/'run'/'last.pt')
    assert ck['epoch'] == 0 and (tmp_path/'run'/'metrics.csv').exists()
