"`ktvit bench` growth (issue 13): training GFLOP/s against the peak, the knowledge-transfer step's cost, quality per compute"
import math
import numpy as np
import pytest
from ktvit_nb.bench import run_bench, bench_kt, bench_markdown, quality_per_compute, quality_markdown


@pytest.fixture(scope='module')
def tiny_bench():
    "A whole `run_bench` of the tiny KT-ViT on tiny volumes: one process per measurement, as the real run"
    return run_bench(False, presets=('tiny',), archs=('ktvit',), volume=(32, 32, 32), overlap_volume=None,
                     patch=(32, 32, 16), train_steps=1, device='cpu', verbose=False)


def test_train_flop_efficiency_fields(tiny_bench):
    r = tiny_bench.iloc[0]
    assert tiny_bench.attrs['matmul_peak_gflops'] > 0
    assert r.train_gflops > 0 and r.train_pct_peak > 0
    assert math.isclose(r.train_pct_peak, 100 * r.train_gflops / tiny_bench.attrs['matmul_peak_gflops'])
    assert math.isclose(r.train_gflops, 3 * r.gflop_per_tile * r.train_pps)   # a step is three forwards
    assert r.kt_ratio > 0   # a KT-ViT row has its transfer-step ratio


def test_markdown_shows_the_new_columns(tiny_bench):
    md = bench_markdown(tiny_bench)
    header = [c.strip() for c in md.split('\n\n', 1)[1].splitlines()[0].split('|')[1:-1]]
    for col in ('train GFLOP/s', 'train % of peak', 'KT step / plain step'): assert col in header
    assert 'matmul peak float32' in md


def test_kt_step_timing_fields():
    "The transfer step's timing and its ratio to a plain step (their sizes are the benchmark's to print: no timed assertion)"
    r = bench_kt('ktvit', 'tiny', patch=(32, 32, 16), steps=3, device='cpu')
    assert r['kt_step_s'] > 0 and r['plain_step_s'] > 0
    assert abs(r['kt_ratio'] - r['kt_step_s'] / r['plain_step_s']) < 1e-9


def test_kt_refuses_a_variant_without_transfer_terms():
    with pytest.raises(ValueError, match='no transfer term'): bench_kt('ktvit', 'tiny', transfer='none')


def test_quality_per_compute_quick():
    archs, budgets = ('ktvit', 'unet'), (0.3, 0.6)
    q = quality_per_compute(budgets, archs, quick=True, out=False, verbose=False)
    assert len(q) == len(archs) * len(budgets)
    assert set(zip(q.arch, np.round(q.budget_min * 60, 6))) == {(a, b) for a in archs for b in budgets}
    assert q.dice.between(0, 1).all() and q.dice_tuned.between(0, 1).all()
    assert (q.steps > 0).all()
    assert 'valid Dice at 0.5' in quality_markdown(q)
