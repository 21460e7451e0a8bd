"Notebooks are the source: the exported library must match them, and they must be clean."
import filecmp, shutil, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

def _copy(tmp_path):
    for name in ('nbs', 'ktvit_nb'): shutil.copytree(ROOT/name, tmp_path/name, ignore=shutil.ignore_patterns('__pycache__', '.ipynb_checkpoints'))
    for name in ('settings.ini', 'setup.py', 'pyproject.toml'):
        if (ROOT/name).exists(): shutil.copy(ROOT/name, tmp_path/name)
    return tmp_path

def _diff(a, b):
    "Files that differ, or exist on one side only, between two trees (ignoring caches)"
    out, c = [], filecmp.dircmp(a, b, ignore=['__pycache__', '.ipynb_checkpoints'])
    def walk(c, pre=''):
        out.extend(pre+f for f in c.diff_files + c.left_only + c.right_only)
        for k, sub in c.subdirs.items(): walk(sub, pre+k+'/')
    walk(c); return out

def test_library_matches_notebooks(tmp_path):
    tmp = _copy(tmp_path)
    subprocess.run([BIN/'nbdev_export'], cwd=tmp, check=True, capture_output=True)
    changed = _diff(ROOT/'ktvit_nb', tmp/'ktvit_nb')
    assert not changed, f"ktvit_nb/ is out of sync with nbs/ (run `make sync` and commit): {changed}"

def test_notebooks_are_clean(tmp_path):
    tmp = _copy(tmp_path)
    subprocess.run([BIN/'nbdev_clean'], cwd=tmp, check=True, capture_output=True)
    changed = _diff(ROOT/'nbs', tmp/'nbs')
    assert not changed, f"notebooks are not clean (run `make sync` and commit): {changed}"

def test_readme_renders_from_index():
    from ktvit_nb.docs import render_markdown
    assert (ROOT/'README.md').read_text(encoding='utf-8') == render_markdown(ROOT/'nbs'/'index.ipynb'), \
        "README.md is out of date with nbs/index.ipynb (run `make readme`)"
