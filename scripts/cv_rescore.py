"""Prediction with tile overlap and with TTA against plain tiling, for the runs of a `ktvit cv` folder: whole-image Dice
inside each case's mask at each run's stored threshold, validation and test cases. Rebuilds the folds as `ktvit cv` made
them (5 folds, 2 validation cases, seed 0 unless given). MODES (comma-separated) picks among plain, overlap0.5, tta and
tta+overlap0.5 (default: the first three).

    python scripts/cv_rescore.py DATA CV_FOLDER OUT.csv [FOLDS N_VALID SEED [MODES]]   (OUT.csv: a new file)
"""
import sys, time
import numpy as np, pandas as pd
from pathlib import Path
from ktvit_nb.core import InputError, atomic_path, check_output
from ktvit_nb.data.datasets import find_cases, fold_splits, load_case
from ktvit_nb.checkpoint import load_model
from ktvit_nb.infer import predict_volume
from ktvit_nb.metrics import dice
data, out, dest = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
try: dest = check_output(dest, 'OUT.csv', inputs=[data, out])   # before any work: never over a file that exists
except InputError as e: print(f"error: {e}", file=sys.stderr); sys.exit(2)
folds, n_valid, seed = (int(v) for v in (sys.argv[4:7] or (5, 2, 0)))
MODES = {'plain': {}, 'overlap0.5': dict(overlap=0.5), 'tta': dict(tta=True), 'tta+overlap0.5': dict(tta=True, overlap=0.5)}
modes = sys.argv[7].split(',') if len(sys.argv) > 7 else ['plain', 'overlap0.5', 'tta']
cases = {c.name: c for c in find_cases(data)}
splits = fold_splits(list(cases), folds, n_valid, seed=seed)
rows = []
for k, sp in enumerate(splits):
    for arch in ('ktvit', 'unet'):
        net = load_model(out/'runs'/f'fold{k}'/arch/'best.pt')
        for split in ('valid', 'test'):
            for cn in sp[split]:
                c = load_case(cases[cn], contrast=net.contrast)
                for mode in modes:
                    kw = MODES[mode]; t0 = time.perf_counter(); p = predict_volume(net, c['hr'], device='cpu', **kw); s = time.perf_counter() - t0
                    rows.append(dict(fold=k, arch=arch, split=split, case=cn, mode=mode, seconds=s,
                                     dice=dice(p >= net.threshold, c['label'], c['mask'])))
        print(k, arch, flush=True)
df = pd.DataFrame(rows)
with atomic_path(dest) as t: df.to_csv(t, index=False)
per = df.groupby(['split', 'arch', 'mode', 'fold']).dice.mean().unstack('mode')
if 'plain' in modes:
    for m in modes[1:]: per[f'{m} - plain'] = per[m] - per['plain']
print((100*per).round(2).to_string())
print((100*per.groupby(level=[0, 1]).mean()).round(2).to_string())
print(df.groupby(['arch', 'mode']).seconds.mean().round(2).to_string())
