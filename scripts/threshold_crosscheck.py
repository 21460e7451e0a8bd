"""Does a threshold tuned on one validation image beat 0.5 on the other? Validation images only (never test cases):
for every fold's run, `infer.choose_threshold`'s leave-one-out cross-check over its 2 validation images (each scored at
the threshold tuned on the other), predicted as `predict` does. Rebuilds the folds as `ktvit cv` made them (5 folds,
2 validation cases, seed 0).

    python scripts/threshold_crosscheck.py DATA CV_FOLDER OUT.csv   (OUT.csv: a new file)
"""
import sys, numpy as np, pandas as pd
from pathlib import Path
from ktvit_nb.core import InputError, atomic_path, check_output
from ktvit_nb.data.cases import find_cases, load_case
from ktvit_nb.data.splits import fold_splits
from ktvit_nb.infer import Predictor, choose_threshold
data, cvdir, dest = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
try: dest = check_output(dest, 'OUT.csv', inputs=[data, cvdir])   # before any work: never over a file that exists
except InputError as e: print(f"error: {e}", file=sys.stderr); sys.exit(2)
cases = {c.name: c for c in find_cases(data)}
rows = []
for k, sp in enumerate(fold_splits(list(cases), 5, 2, seed=0)):
    for arch in ('ktvit', 'unet'):
        pred = Predictor(cvdir/'runs'/f'fold{k}'/arch/'best.pt')
        ch = choose_threshold(pred, [load_case(cases[cn], contrast=pred.contrast) for cn in sp['valid']], min_cases=2)
        for a, b, tuned, half in zip(sp['valid'][::-1], sp['valid'], ch.held_out, ch.held_out_half):
            rows.append(dict(fold=k, arch=arch, chooser=a, scored=b, dice_tuned=tuned, dice_half=half))
d = pd.DataFrame(rows)
with atomic_path(dest) as t: d.to_csv(t, index=False)
d['gain'] = 100 * (d.dice_tuned - d.dice_half)
print(d.round(4).to_string(index=False))
print(d.groupby('arch').gain.agg(['mean', 'std', 'count', lambda g: (g > 0).sum()]).round(2))
