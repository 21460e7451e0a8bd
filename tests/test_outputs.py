"The notebooks of the Makefile's OUTPUT_NBS are committed with their outputs, made from their current code (`make outputs`)."
import re
from pathlib import Path
import pytest
from ktvit_nb.docs_site import stale_outputs

ROOT = Path(__file__).resolve().parents[1]

def output_nbs() -> list[str]:
    "The notebooks `make outputs` runs"
    m = re.search(r'^OUTPUT_NBS \?=((?:.*\\\n)*.*)$', (ROOT/'Makefile').read_text(), re.M)
    return m.group(1).replace('\\\n', ' ').split()

def test_output_list():
    nbs = output_nbs()
    assert len(nbs) > 20 and 'nbs/00_core.ipynb' in nbs, nbs
    assert not [p for p in nbs if not (ROOT/p).is_file()], 'OUTPUT_NBS names missing notebooks'

@pytest.mark.parametrize('nb', output_nbs())
def test_outputs_are_fresh(nb):
    assert not (stale := stale_outputs(ROOT/nb)), stale
