"Data-parallel training: two CPU processes (gloo) through torchrun train one network in step."
import json, os, shutil, subprocess, sys
from pathlib import Path
import pytest, torch

BIN = Path(sys.executable).parent

def test_two_process_ddp_on_cpu(tmp_path):
    from ktvit_nb.test_utils import synth_data
    from ktvit_nb.learner import load_checkpoint
    if not (BIN/'torchrun').exists(): pytest.skip('torchrun not installed')
    data = synth_data(3, (32, 32, 32))
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}
    cmd = [str(BIN/'torchrun'), '--standalone', '--nproc_per_node', '2', str(BIN/'ktvit'), 'train-teacher',
           '--data', str(data), '--out', str(tmp_path/'run'), '--epochs', '1', '--patch-size', '32', '32', '16',
           '--n-per-case', '4', '--bs', '2']
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    ck = load_checkpoint(tmp_path/'run'/'last.pt')
    assert ck['epoch'] == 0 and (tmp_path/'run'/'metrics.csv').exists()
