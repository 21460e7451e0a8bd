"Fixtures shared by the test files"
import os, shutil, subprocess
import pytest

@pytest.fixture(scope='module')
def xvfb_display():
    "A DISPLAY to draw on: Xvfb started here on a free display number (or the current one if no Xvfb)"
    xvfb = shutil.which('Xvfb')
    if xvfb is None:
        if os.environ.get('DISPLAY'): yield os.environ['DISPLAY']; return
        pytest.skip('neither Xvfb nor a DISPLAY is available')
    r, w = os.pipe()
    proc = subprocess.Popen([xvfb, '-displayfd', str(w), '-screen', '0', '1280x1024x24', '-nolisten', 'tcp'],
                            pass_fds=(w,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(w)
    try:
        with os.fdopen(r) as f: num = f.readline().strip()   # Xvfb writes its display number once it is ready
        if not num: pytest.skip('Xvfb did not start')
        yield f':{num}'
    finally:
        proc.terminate()
        try: proc.wait(10)
        except subprocess.TimeoutExpired: proc.kill()
