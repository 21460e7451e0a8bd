#!/usr/bin/env bash
# The GPU figures of the speed issue (issue 13), prepared on the CPU machine and run as one command on a lent GPU.
#
#   bash scripts/gpu_check.sh prepare  here, with network, once: wheels of the packages the GPU image lacks -> .whl/
#   bash scripts/gpu_check.sh          on the GPU machine (device tool: carry [".whl"], timeout_s 540)
#   bash scripts/gpu_check.sh smoke    here: the same steps on the CPU at toy sizes (about a minute), a rehearsal
#
# Without a CUDA device it prints "no CUDA device" and exits 0. It stops itself after $GPU_CHECK_SECONDS (default
# 470 s): each step gets the time left (the benchmark's per-network lines are in the log even when it is cut), and
# $GPU_CHECK_STEPS picks steps for a rerun in the device time left (default: card paper bench two-stage).
# Everything printed is kept in $OUT/gpu-check.log; the results, each naming the card, go to ${OUT:-gpu-check}/:
#   card.txt      nvidia-smi's name, memory and driver of the card; torch, CUDA, cuDNN and the TF32 settings
#   paper.json    the paper preset in bf16: one whole 448x448x128 volume (s), training crops of 64x64x32 per second
#   bench.md      `ktvit bench`: every preset and network, in float32 and under bf16 autocast
#   two-stage.md  teacher then student (same data, same seed) in bf16 and in fp32, and an fp32 teacher of another
#                 seed for the scale of the noise: their validation Dice
# Scratch files (the synthetic data, the runs) go to a temporary folder: only a few files come back from $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
MODE=${1:-run}
OUT=${OUT:-gpu-check}
PY=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}
LIMIT=${GPU_CHECK_SECONDS:-470}
STEPS=" ${GPU_CHECK_STEPS:-card paper bench two-stage} "
# What ktvit_nb imports and the GPU image (PyTorch, numpy, scipy, pandas, scikit-image, matplotlib, einops, ...) lacks;
# carried as wheels at the versions of this machine's .venv, where they are tested.
WHEELS="monai fastai fastcore fastprogress fastdownload fasttransform plum-dispatch beartype python-fasthtml starlette
        itsdangerous python-multipart nibabel connected-components-3d"

case $MODE in
  prepare)
    pins=$("$PY" -c 'import sys, importlib.metadata as m; print(*(f"{d}=={m.version(d)}" for d in sys.argv[1:]))' $WHEELS) || exit 1
    exclude=$(git rev-parse --git-path info/exclude)
    grep -qxF /.whl/ "$exclude" 2>/dev/null || echo /.whl/ >> "$exclude"   # ignored by git, carried by the device tool
    "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl $pins || exit 1
    ls .whl && du -sh .whl
    exit 0;;
  run)
    if ! { command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; } ||
       ! "$PY" -c 'import sys, torch; sys.exit(not torch.cuda.is_available())' 2>/dev/null; then
      echo "no CUDA device"; exit 0
    fi
    DEV=cuda PRESET=paper VOLUME="448 448 128" CROP="64 64 32" SW="32" BATCHES="8 32"
    SYNTH=(--n 10 --shape 128 128 64)
    RECIPE=(--arch ktvit --preset tiny --epochs 8 --bs 4 --patch-size 32 32 32 --n-per-case 24 --lr 0.01 --warmup 0.1);;
  smoke)
    DEV=cpu PRESET=tiny VOLUME="32 32 32" CROP="32 32 16" SW="2" BATCHES="2"
    SYNTH=(--n 4 --shape 48 48 32)
    RECIPE=(--arch ktvit --preset tiny --epochs 1 --bs 2 --patch-size 32 32 16 --n-per-case 2 --lr 0.01 --warmup 0.1);;
  *) echo "usage: bash scripts/gpu_check.sh [run|smoke|prepare]" >&2; exit 2;;
esac

if [ -d .whl ] && ! "$PY" -c 'import monai, fastai, cc3d, nibabel' 2>/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/ktvit-site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/ktvit-site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
"$PY" -c 'import ktvit_nb.cli, ktvit_nb.bench, ktvit_nb.learner' ||
  { echo "ktvit_nb does not import: run 'bash scripts/gpu_check.sh prepare' on the CPU machine and carry .whl"; exit 1; }

mkdir -p "$OUT"; WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
exec > >(tee -a "$OUT/gpu-check.log") 2>&1
KTVIT=("$PY" -c 'import sys; from ktvit_nb.cli import main; sys.argv[0] = "ktvit"; main()')
CARD=$("$PY" -c 'import torch; print(torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu")')
echo "gpu_check $MODE on $CARD, $(date -u '+%F %T') UTC, commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"

step() {  # step NAME COMMAND...: run COMMAND with the time left and say how it ended
  local name=$1 left=$(( LIMIT - SECONDS )) t0=$SECONDS rc; shift
  if (( left < 30 )); then echo "== $name: skipped, ${LIMIT} s are spent"; return 1; fi
  echo "== $name ($left s left)"
  timeout -k 10 "$left" "$@"; rc=$?
  echo "== $name: exit $rc after $(( SECONDS - t0 )) s"; return $rc
}
want() { [[ $STEPS == *" $1 "* ]]; }

if want card; then
  { if [ "$MODE" = run ]; then nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
    else echo "no GPU (smoke run on the CPU): $(uname -m), $(nproc) cores"; fi
    "$PY" -c 'import torch; b = torch.backends; print("torch", torch.__version__, "CUDA", torch.version.cuda, "cuDNN",
      b.cudnn.version(), "TF32 in float32 convolutions:", b.cudnn.allow_tf32, "in float32 matmuls:", b.cuda.matmul.allow_tf32)'
  } | tee "$OUT/card.txt"
fi

if want paper; then
step "ktvit/$PRESET in bf16: one whole volume, training crops per second" \
  "$PY" - "$DEV" "$PRESET" "$VOLUME" "$CROP" "$SW" "$BATCHES" "$CARD" "$OUT/paper.json" <<'PY'
import json, sys
from ktvit_nb.bench import measure
dev, preset, card, out = sys.argv[1], sys.argv[2], sys.argv[7], sys.argv[8]
vol, crop, sws, batches = ([int(v) for v in a.split()] for a in sys.argv[3:7])
res, size = dict(card=card, device=dev, arch='ktvit', preset=preset, amp='bf16', infer=[], train=[]), 'x'.join
def keep(kind, fn, **kw):
    "One measurement in its own process, kept (or its error) and written at once"
    try: r = measure(fn, arch='ktvit', preset=preset, device=dev, amp=True, **kw)
    except RuntimeError as e: r = dict(error=str(e).strip().splitlines()[-1])
    res[kind].append(dict(kw, **r)); json.dump(res, open(out, 'w'), indent=1)
    return r
for sw in sws:
    r = keep('infer', 'bench_infer', volume=vol, roi=crop, sw_batch_size=sw)
    print(f"{card}: ktvit/{preset} bf16, one whole {size(map(str, vol))} volume, {sw} tiles per call: " + (r.get('error') or
          f"{r['total_s']:.2f} s (network {r['net_s']:.2f} s; GPU peak {r.get('gpu_peak_gib', 0):.1f} GiB)"))
for b in batches:
    r = keep('train', 'bench_train', batch=b, patch=crop, steps=5)
    print(f"{card}: ktvit/{preset} bf16 training, batches of {b} {size(map(str, crop))} crops: " + (r.get('error') or
          f"{r['train_patches_per_s']:.1f} crops/s (step {1e3 * r['train_step_s']:.0f} ms; GPU peak {r.get('gpu_peak_gib', 0):.1f} GiB)"))
best = lambda kind, k, f: f([r[k] for r in res[kind] if k in r] or [float('nan')])
print(f"targets of issue 13 on {card}: whole volume under 1 s in bf16 -> {best('infer', 'total_s', min):.2f} s; "
      f"at least 100 crops/s in training -> {best('train', 'train_patches_per_s', max):.1f}")
PY
fi

if want bench; then
  if [ "$MODE" = run ]; then
    step "ktvit bench: every preset and network, fp32 and bf16" "${KTVIT[@]}" bench --out "$OUT/bench.md" --overwrite
  else   # the CPU benchmark takes minutes even with --quick: a rehearsal checks its arguments only
    step "ktvit bench: arguments only" "$PY" -c 'import sys; from ktvit_nb.cli import make_parser
print(make_parser().parse_args(sys.argv[1:]))' bench --out "$OUT/bench.md" --overwrite
  fi
fi

if want two-stage; then
  step "synthetic data" "${KTVIT[@]}" synth "$WORK/data" "${SYNTH[@]}" --seed 0
  for run in bf16:0 off:0 off:1; do   # the same data and recipe: bf16 against fp32 at seed 0, then fp32 at seed 1
    mp=${run%:*} seed=${run#*:}
    step "teacher, --mixed-precision $mp --seed $seed" "${KTVIT[@]}" train-teacher --data "$WORK/data" \
      --out "$WORK/teacher-$mp-$seed" "${RECIPE[@]}" --seed "$seed" --mixed-precision "$mp"
    if [ "$seed" = 0 ]; then
      step "student (eq. 7 transfer), --mixed-precision $mp --seed $seed" "${KTVIT[@]}" train-student --data "$WORK/data" \
        --teacher "$WORK/teacher-$mp-$seed" --out "$WORK/student-$mp-$seed" "${RECIPE[@]}" --seed "$seed" \
        --transfer paper --min-teacher-dice 0 --mixed-precision "$mp"
    fi
  done
  step "two-stage summary" "$PY" - "$WORK" "$CARD" "$OUT/two-stage.md" "${RECIPE[*]}" <<'PY'
import sys, pandas as pd
from pathlib import Path
from ktvit_nb.checkpoint import load_checkpoint
work, card, out, recipe = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]), sys.argv[4]
rows = []
for stage, mp, seed in [('teacher', 'bf16', 0), ('teacher', 'off', 0), ('student', 'bf16', 0), ('student', 'off', 0),
                        ('teacher', 'off', 1)]:
    run, row = work/f'{stage}-{mp}-{seed}', dict(stage=stage, precision='bf16 autocast' if mp == 'bf16' else 'fp32', seed=seed)
    if (run/'best.pt').exists():
        ck = load_checkpoint(run/'best.pt')
        row.update(best_epoch=ck.get('epoch'), valid_patch_dice=ck.get('best'),
                   valid_volume_dice_at_half=ck.get('dice_at_half'), valid_volume_dice_tuned=ck.get('threshold_dice'))
    rows.append(row)
md = (f"Two-stage run on {card}: `ktvit train-teacher`, then `ktvit train-student --transfer paper`, on the same synthetic "
      f"data ({recipe}), with `--mixed-precision bf16` and with `off` (fp32; cuDNN may run float32 convolutions in TF32, "
      f"see card.txt) at seed 0, and an fp32 teacher at seed 1 for the scale of the seed-to-seed noise. Validation Dice "
      f"of the best epoch: on the validation crops, and on the whole validation volumes at 0.5 and at the chosen threshold."
      f"\n\n" + pd.DataFrame(rows).to_markdown(index=False, floatfmt='.4f'))
print(md); out.write_text(md + '\n')
PY
fi
echo "gpu_check $MODE done in $SECONDS s on $CARD; results in $OUT: $(ls "$OUT" | tr '\n' ' ')"
