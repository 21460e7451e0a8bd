"""The offline docs site (`make docs`): built from the notebooks, served over HTTP, loaded in headless Chromium.

Chromium is driven through the DevTools protocol over `--remote-debugging-pipe` (file descriptors 3 and 4), so no
driver or websocket package is needed. Skipped when chromium (Debian package `chromium`) or mkdocs is missing.
Set KTVIT_DOCS_SITE to a folder already built by `make docs` to skip the build (about two minutes)."""
import base64, functools, http.server, json, os, queue, shutil, socketserver, subprocess, tempfile, threading, time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = next((shutil.which(n) for n in ('chromium', 'chromium-browser', 'google-chrome') if shutil.which(n)), None)
SCREENS = Path(tempfile.gettempdir())/'ktvit_screens'

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason='chromium is not installed (apt-get install chromium)')

# ---------------------------------------------------------------- the site and a server for it
@pytest.fixture(scope='module')
def site(tmp_path_factory):
    pytest.importorskip('mkdocs'); pytest.importorskip('material')
    if os.environ.get('KTVIT_DOCS_SITE'): return Path(os.environ['KTVIT_DOCS_SITE'])
    from ktvit_nb.docs_site import build_site
    cwd = os.getcwd(); os.chdir(ROOT) # settings.ini is found from the working directory
    try: return build_site(ROOT/'nbs', tmp_path_factory.mktemp('docs')/'site', n_workers=2)
    finally: os.chdir(cwd)

class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a): pass
    def handle(self):
        try: super().handle()
        except (BrokenPipeError, ConnectionResetError): pass # the browser closed a connection early: not an error
    def log_request(self, code='-', size='-'):
        self.server.requests.append((self.path, int(code) if str(code).isdigit() else code))

@pytest.fixture(scope='module')
def server(site):
    httpd = socketserver.ThreadingTCPServer(('127.0.0.1', 0), functools.partial(_Handler, directory=str(site)))
    httpd.daemon_threads, httpd.requests = True, []
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd, f'http://127.0.0.1:{httpd.server_address[1]}/'
    httpd.shutdown(); httpd.server_close()

# ---------------------------------------------------------------- a minimal DevTools-protocol client
class Chromium:
    "Headless Chromium driven over `--remote-debugging-pipe`: `send` a command, read the events it caused"
    def __init__(self, profile):
        r3, w3 = os.pipe(); r4, w4 = os.pipe()
        hi = [os.dup2(fd, 100 + i) for i, fd in enumerate((r3, w4))] # out of the way of 3 and 4
        for fd in (r3, w4): os.close(fd)
        def _fds(): os.dup2(100, 3); os.dup2(101, 4)
        flags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                 '--disable-background-networking', '--disable-component-update', '--disable-sync',
                 '--disable-dev-shm-usage', '--hide-scrollbars', '--window-size=1280,900',
                 f'--user-data-dir={profile}', '--remote-debugging-pipe', 'about:blank']
        self.proc = subprocess.Popen([CHROMIUM, *flags], pass_fds=(3, 4), preexec_fn=_fds,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for fd in hi: os.close(fd)
        self.w, self.r, self.id, self.events = w3, r4, 0, queue.Queue()
        self.replies, self.lock = {}, threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        targets = self.send('Target.getTargets')['targetInfos']
        page = next(t['targetId'] for t in targets if t['type'] == 'page')
        self.session = self.send('Target.attachToTarget', targetId=page, flatten=True)['sessionId']
        for domain in ('Page', 'Runtime', 'Log', 'Network'): self.send(f'{domain}.enable', session=True)

    def _read(self):
        buf = b''
        while chunk := os.read(self.r, 1 << 16):
            buf += chunk
            while b'\0' in buf:
                raw, buf = buf.split(b'\0', 1)
                msg = json.loads(raw)
                if 'id' in msg:
                    with self.lock: self.replies[msg['id']] = msg; self.lock.notify_all()
                else: self.events.put(msg)

    def send(self, method, session=False, timeout=30, **params):
        self.id += 1; i = self.id
        msg = dict(id=i, method=method, params=params)
        if session: msg['sessionId'] = self.session
        os.write(self.w, json.dumps(msg).encode() + b'\0')
        with self.lock:
            if not self.lock.wait_for(lambda: i in self.replies, timeout): raise TimeoutError(method)
            reply = self.replies.pop(i)
        if 'error' in reply: raise RuntimeError(f'{method}: {reply["error"]}')
        return reply['result']

    def drain(self):
        out = []
        while True:
            try: out.append(self.events.get_nowait())
            except queue.Empty: return out

    def load(self, url, timeout=30):
        "Navigate to `url`, wait for the load event and a quiet moment; the problems the page reported"
        self.drain()
        self.send('Page.navigate', session=True, url=url)
        end, loaded, problems = time.time() + timeout, False, []
        while time.time() < end:
            try: ev = self.events.get(timeout=0.5)
            except queue.Empty:
                if loaded: break
                continue
            m, p = ev.get('method'), ev.get('params', {})
            if m == 'Page.loadEventFired': loaded = True
            elif m == 'Runtime.exceptionThrown': problems.append(f"exception: {p['exceptionDetails'].get('text')} "
                                                                 f"{p['exceptionDetails'].get('exception', {}).get('description', '')}")
            elif m == 'Runtime.consoleAPICalled' and p.get('type') in ('error', 'assert'):
                problems.append('console.error: ' + ' '.join(str(a.get('value', a.get('description'))) for a in p['args']))
            elif m == 'Log.entryAdded' and p['entry']['level'] == 'error':
                problems.append(f"log: {p['entry']['text']} {p['entry'].get('url', '')}")
            elif m == 'Network.loadingFailed' and not p.get('canceled'):
                problems.append(f"network: {p.get('errorText')} ({p.get('type')})")
            elif m == 'Network.responseReceived' and p['response']['status'] >= 400:
                problems.append(f"http {p['response']['status']}: {p['response']['url']}")
        assert loaded, f'{url} did not finish loading in {timeout}s'
        return problems

    def js(self, expr):
        r = self.send('Runtime.evaluate', session=True, expression=expr, returnByValue=True, awaitPromise=True)
        if 'exceptionDetails' in r: raise RuntimeError(r['exceptionDetails'])
        return r['result'].get('value')

    def screenshot(self, dest):
        data = self.send('Page.captureScreenshot', session=True, format='png')['data']
        Path(dest).parent.mkdir(parents=True, exist_ok=True); Path(dest).write_bytes(base64.b64decode(data))
        return Path(dest)

    def close(self):
        try: self.send('Browser.close', timeout=5)
        except Exception: pass
        try: self.proc.wait(10)
        except subprocess.TimeoutExpired: self.proc.kill(); self.proc.wait()
        for fd in (self.w, self.r): os.close(fd)

@pytest.fixture(scope='module')
def browser(tmp_path_factory):
    b = Chromium(tmp_path_factory.mktemp('chromium-profile'))
    yield b
    b.close()

# ---------------------------------------------------------------- the checks
class _Links(HTMLParser):
    def __init__(self): super().__init__(); self.hrefs = []
    def handle_starttag(self, tag, attrs):
        if tag == 'a' and dict(attrs).get('href'): self.hrefs.append(dict(attrs)['href'])

def _chapters(site):
    return sorted(p.name for p in site.glob('*.html') if p.name not in ('index.html', '404.html'))

def test_site_has_a_page_per_notebook(site):
    from ktvit_nb.docs_site import doc_notebooks, page_name
    want = {page_name(p) + '.html' for p in doc_notebooks(ROOT/'nbs')}
    assert 'index.html' in want and 'core.html' in want
    missing = want - {p.name for p in site.glob('*.html')}
    assert not missing, f'pages missing from the site: {sorted(missing)}'

def test_index_links_resolve(site, server):
    import urllib.request
    _, base = server
    p = _Links(); p.feed((site/'index.html').read_text(encoding='utf-8'))
    internal = {urljoin(base, h).split('#')[0] for h in p.hrefs if not urlsplit(h).scheme or h.startswith(base)}
    assert len(internal) > 5, internal
    for url in sorted(internal):
        with urllib.request.urlopen(url) as r: assert r.status == 200, url

def test_pages_load_without_errors(site, server, browser):
    _, base = server
    problems = {}
    for name in ['index.html', *_chapters(site)]:
        if found := browser.load(base + name): problems[name] = found
    assert not problems, f'console/network problems: {json.dumps(problems, indent=1)}'
    bad = [(path, code) for path, code in server[0].requests if not (isinstance(code, int) and code < 400)
           and not path.startswith('/favicon')]
    assert not bad, f'failed requests: {bad}'

def test_index_renders_with_navigation(site, server, browser):
    _, base = server
    assert not browser.load(base + 'index.html')
    nav = browser.js("[...document.querySelectorAll('nav.md-nav--primary a.md-nav__link')].map(a => a.href)")
    chapters = {urljoin(base, c) for c in _chapters(site)}
    assert not chapters - set(nav), f'chapters missing from the navigation: {chapters - set(nav)}'
    shot = browser.screenshot(site/'_screenshots'/'index.png')
    SCREENS.mkdir(parents=True, exist_ok=True); shutil.copy(shot, SCREENS/'docs_index.png')
    assert shot.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n' and shot.stat().st_size > 10_000

def test_api_entry_shown(server, browser):
    _, base = server
    assert not browser.load(base + 'core.html')
    entry = browser.js("""(() => { const h = document.getElementById('inputerror'); if (!h) return null;
        let s = h.nextElementSibling; while (s && !s.querySelector('code') && s.tagName !== 'PRE') s = s.nextElementSibling;
        return [h.textContent, s ? s.textContent : null, h.parentElement.textContent]; })()""")
    assert entry, 'no InputError entry on core.html'
    title, sig, section = entry
    assert 'InputError' in title
    assert 'path' in sig and 'problem:str' in sig and '# what is wrong with it' in sig, sig # signature with docments
    assert 'A problem with one input file' in section # the docstring
    # backticked names in the prose link to their entry
    assert browser.js("[...document.querySelectorAll('a')].some(a => a.getAttribute('href') === 'core.html#inputerror')")

def test_figures_shown(site, server, browser):
    _, base = server
    pages = [p.name for p in site.glob('*.html') if '<img' in p.read_text(encoding='utf-8')]
    assert pages, 'no page of the site shows a figure'
    for name in pages:
        assert not browser.load(base + name)
        sizes = browser.js("""(async () => { const imgs = [...document.querySelectorAll('article img')];
            await Promise.all(imgs.map(i => i.decode().catch(() => null)));
            return imgs.map(i => [i.getAttribute('src'), i.naturalWidth, i.naturalHeight]); })()""")
        assert sizes, name
        assert all(w > 50 and h > 50 for _, w, h in sizes), (name, sizes)
