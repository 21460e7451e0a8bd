"""Prediction with tile overlap and with TTA against plain tiling, for the runs of a `ktvit cv` folder: whole-image Dice
inside each case's mask at each run's stored threshold, validation and test cases. Rebuilds the folds as `ktvit cv` made
them (5 folds, 2 validation cases, seed 0 unless given). MODES (comma-separated) picks among plain, overlap0.5, tta,
tta+overlap0.5 and tta+overlap0.75 (default: the first three).

Beside the Dice at the stored threshold (`dice`; chosen at the end of training on plain tiles) each row holds the Dice
at 0.5 (`dice_half`), at the threshold chosen on the run's pooled validation images predicted in the row's mode
(`threshold_mode`, `dice_mode`: in-sample on a validation row), and, on a validation row, at the threshold chosen on
the fold's other validation image alone (`dice_cross`: out of sample, what decides between the thresholds); `tp`, `fp`,
`fn` are the counts at the stored threshold (for a Dice pooled over a fold's pixels, as DRIVE papers report F1).

    python scripts/cv_rescore.py DATA CV_FOLDER OUT.csv [FOLDS N_VALID SEED [MODES]]   (OUT.csv: a new file)
"""
import sys
import numpy as np, pandas as pd
from pathlib import Path
from ktvit_nb.core import InputError, atomic_path, check_output, binarize
from ktvit_nb.data.cases import find_cases, load_case
from ktvit_nb.data.splits import fold_splits
from ktvit_nb.infer import Predictor, PredictConfig, score_cases
from ktvit_nb.metrics import confusion, dice
from ktvit_nb.models.baselines import best_dice_threshold
data, out, dest = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
try: dest = check_output(dest, 'OUT.csv', inputs=[data, out])   # before any work: never over a file that exists
except InputError as e: print(f"error: {e}", file=sys.stderr); sys.exit(2)
folds, n_valid, seed = (int(v) for v in (sys.argv[4:7] or (5, 2, 0)))
MODES = {'plain': dict(overlap=0, tta=False), 'overlap0.5': dict(overlap=0.5, tta=False), 'tta': dict(tta=True, overlap=0),
         'tta+overlap0.5': dict(tta=True, overlap=0.5), 'tta+overlap0.75': dict(tta=True, overlap=0.75)}
modes = sys.argv[7].split(',') if len(sys.argv) > 7 else ['plain', 'overlap0.5', 'tta']
cases = {c.name: c for c in find_cases(data)}
splits = fold_splits(list(cases), folds, n_valid, seed=seed)
rows = []
for k, sp in enumerate(splits):
    for arch in ('ktvit', 'unet'):
        run = out/'runs'/f'fold{k}'/arch/'best.pt'
        contrast = Predictor(run).contrast
        cs = [load_case(cases[cn], contrast=contrast) for cn in sp['valid'] + sp['test']]
        for mode in modes:
            pred, probs = Predictor(run, PredictConfig(**MODES[mode])), {}
            tab = score_cases(pred, cs, extra=lambda c, p: probs.__setitem__(c['name'], p))   # Dice at the stored threshold, seconds
            vc = [c for c in cs if c['name'] in sp['valid']]
            pv = {c['name']: (probs[c['name']][c['mask'] > 0], c['label'][c['mask'] > 0] > 0) for c in vc}
            t_mode, _ = best_dice_threshold(np.concatenate([p for p, _ in pv.values()]), np.concatenate([g for _, g in pv.values()]))
            for c, r in zip(cs, tab.to_dict('records')):
                cn, p = c['name'], probs[c['name']]; split = 'valid' if cn in sp['valid'] else 'test'
                others = [o for o in sp['valid'] if o != cn]
                t_cross = best_dice_threshold(*pv[others[0]])[0] if split == 'valid' and len(others) == 1 else np.nan
                at = lambda t: dice(binarize(p, t), c['label'], c['mask'])
                cm = confusion(pred.mask(p), c['label'], c['mask'])
                rows.append(dict(fold=k, arch=arch, split=split, case=cn, mode=mode, seconds=r['seconds'], threshold=pred.threshold,
                                 dice=r['dice'], dice_half=at(0.5), threshold_mode=t_mode, dice_mode=at(t_mode),
                                 dice_cross=at(t_cross) if not np.isnan(t_cross) else np.nan, tp=cm.tp, fp=cm.fp, fn=cm.fn))
        print(k, arch, flush=True)
df = pd.DataFrame(rows)
with atomic_path(dest) as t: df.to_csv(t, index=False)
per = df.groupby(['split', 'arch', 'mode', 'fold']).dice.mean().unstack('mode')
if 'plain' in modes:
    for m in modes[1:]: per[f'{m} - plain'] = per[m] - per['plain']
print((100*per).round(2).to_string())
print((100*per.groupby(level=[0, 1]).mean()).round(2).to_string())
print(df.groupby(['arch', 'mode']).seconds.mean().round(2).to_string())
