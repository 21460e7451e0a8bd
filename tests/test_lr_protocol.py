"`predict` and training give a case without an LR image the same simulated LR input (one LR-protocol precedence)"
from pathlib import Path
import numpy as np, pytest, torch, torch.nn as nn
from ktvit_nb.checkpoint import TrainedNet
from ktvit_nb.config import TrainConfig
from ktvit_nb.data.cases import find_cases, load_case
from ktvit_nb.data.io import save_image
from ktvit_nb.infer import predict_files, PredictConfig

class Recorder(nn.Module):
    "Returns its input as the logits, and keeps every input it was given"
    def __init__(self): super().__init__(); self.seen = []
    def forward(self, x): self.seen.append(x.detach().clone()); return x

def _vesselnn_like(d:Path, shape=(16, 16, 12)) -> Path:
    "A one-stack data set in vesselNN's layout: pairs.csv gives its voxel size, and the data set its in-plane factor (2, 2, 1)"
    rng = np.random.default_rng(0)
    lab = (rng.random(shape) > 0.9).astype(np.uint8)
    save_image((rng.random(shape) + lab).astype(np.float32), d/'s1.nii.gz'); save_image(lab, d/'s1_label.nii.gz')
    (d/'pairs.csv').write_text('case,image,label,voxel size (um)\ns1,s1.nii.gz,s1_label.nii.gz,1;1;5\n')
    return d

RUNS = [dict(lr_factor=3), dict(lr_factor=(1, 2, 2)), {}, dict(lr_protocol='kspace', lr_factor=(1, 1, 3), lr_window='hann', lr_snr=20.),
        dict(lr_protocol='kspace', lr_snr=10.)]   # the last: the data set's in-plane factor, by a scanner's protocol

@pytest.mark.parametrize('run', RUNS)
def test_predict_feeds_the_lr_training_gives(tmp_path, run):
    data = _vesselnn_like(tmp_path/'data')
    (case,) = find_cases(data)
    assert case.image_lr is None and case.extras['lr_factor'] == (2, 2, 1)
    cfg = TrainConfig(**run)
    train_lr = load_case(case, lr=cfg.lr_sim)['lr']   # what `make_dataloaders` crops for an L-net
    net = Recorder()
    tn = TrainedNet(net, dict(cfg.record(), input='lr', patch_size=list(train_lr.shape)))   # the run's record, as its checkpoint holds it
    predict_files(tn, [data], tmp_path/'out', PredictConfig(device='cpu', tta=False, overlap=0), progress=False, log=None)
    (fed,) = net.seen   # one tile: the whole stack
    np.testing.assert_allclose(fed[0, 0].numpy(), train_lr, atol=1e-6)
