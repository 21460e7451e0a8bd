"""The offline docs site (`make docs`): built from the notebooks, served over HTTP, read in headless Chromium.

Playwright drives the system Chromium (Debian package `chromium`), so no browser is downloaded. Skipped when
Chromium, Playwright or MkDocs is missing. Set KTVIT_DOCS_SITE to a folder built by `make docs` to skip the build."""
import functools, http.server, os, shutil, tempfile, threading
from pathlib import Path
from urllib.parse import urldefrag
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = next(filter(None, map(shutil.which, ('chromium', 'chromium-browser', 'google-chrome'))), None)
SCREENS = Path(tempfile.gettempdir())/'ktvit_screens'

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason='chromium is not installed (apt-get install chromium)')

@pytest.fixture(scope='module')
def site(tmp_path_factory):
    pytest.importorskip('mkdocs'); pytest.importorskip('material')
    if os.environ.get('KTVIT_DOCS_SITE'): return Path(os.environ['KTVIT_DOCS_SITE'])
    from ktvit_nb.docs_site import build_site
    cwd = os.getcwd(); os.chdir(ROOT) # settings.ini is found from the working directory
    try: return build_site(ROOT/'nbs', tmp_path_factory.mktemp('docs')/'site')
    finally: os.chdir(cwd)

@pytest.fixture(scope='module')
def base(site):
    "URL of the site, served over HTTP as a reader gets it"
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f'http://127.0.0.1:{httpd.server_address[1]}/'
    httpd.shutdown(); httpd.server_close()

@pytest.fixture(scope='module')
def page():
    "A Chromium page; `page.problems` collects what it reports: console errors, exceptions, failed requests"
    sync_api = pytest.importorskip('playwright.sync_api')
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=['--no-sandbox'])
        page = browser.new_page(viewport=dict(width=1280, height=900))
        page.problems = []
        page.on('console', lambda m: m.type == 'error' and page.problems.append(f'console: {m.text}'))
        page.on('pageerror', lambda e: page.problems.append(f'exception: {e}'))
        page.on('requestfailed', lambda r: page.problems.append(f'request failed: {r.url} {r.failure}'))
        page.on('response', lambda r: r.status >= 400 and page.problems.append(f'http {r.status}: {r.url}'))
        yield page
        browser.close()

def load(page, url):
    "Open `url`, wait until the network is quiet; the problems the page reported"
    page.problems.clear()
    page.goto(url, wait_until='networkidle')
    return list(page.problems)

def _pages(site): return sorted(p.name for p in site.glob('*.html') if p.name != '404.html')

def test_site_has_a_page_per_notebook(site):
    from nbdev.doclinks import _nbpath2html
    from ktvit_nb.docs_site import doc_notebooks
    want = {_nbpath2html(p).name for p in doc_notebooks(ROOT/'nbs')}
    assert {'index.html', 'core.html'} <= want
    assert not want - set(_pages(site)), f'pages missing from the site: {sorted(want - set(_pages(site)))}'

def test_pages_load_and_links_resolve(site, base, page):
    "Every page loads without a problem, and every link within the site reaches a page and, if it has one, an anchor"
    problems, ids, links = {}, {}, set()
    for name in _pages(site):
        if found := load(page, base + name): problems[name] = found
        ids[base + name] = set(page.eval_on_selector_all('[id]', 'es => es.map(e => e.id)'))
        links |= {(name, h) for h in page.eval_on_selector_all('article a[href]', 'as => as.map(a => a.href)')}
    assert not problems, f'console/network problems: {problems}'
    internal = {(name, *urldefrag(h)) for name, h in links if h.startswith(base) and not h.endswith('/')}
    assert len({u for _, u, _ in internal}) > 10, internal
    broken = sorted((name, u, f) for name, u, f in internal if u not in ids or (f and f not in ids[u]))
    assert not broken, f'links to missing pages or anchors (page, target, anchor): {broken}'

def test_index_renders_with_navigation(site, base, page):
    assert not load(page, base + 'index.html')
    nav = set(page.eval_on_selector_all('nav.md-nav--primary a.md-nav__link', 'as => as.map(a => a.href)'))
    missing = {base + n for n in _pages(site) if n != 'index.html'} - nav
    assert not missing, f'pages missing from the navigation: {missing}'
    SCREENS.mkdir(parents=True, exist_ok=True)
    shot = page.screenshot(path=SCREENS/'docs_index.png')
    assert shot[:8] == b'\x89PNG\r\n\x1a\n' and len(shot) > 10_000

def test_api_entry_shown(base, page):
    "An exported definition has its entry: a heading with nbdev's anchor, the signature with docments, the docstring"
    assert not load(page, base + 'core.html')
    heading = page.locator('#inputerror')
    assert 'InputError' in heading.inner_text()
    sig = heading.locator('xpath=following-sibling::*[.//code or self::pre][1]').inner_text()
    assert 'path' in sig and 'problem:str' in sig and '# what is wrong with it' in sig, sig
    assert 'A problem with one input file' in page.locator('article').inner_text()
    assert page.locator('a[href="core.html#inputerror"]').count(), 'backticked names do not link to their entry'

def test_figures_shown(site, base, page):
    "Every figure on every page loads and has a real size"
    pages = [p.name for p in site.glob('*.html') if '<img' in p.read_text(encoding='utf-8')]
    assert pages, 'no page of the site shows a figure'
    for name in pages:
        assert not load(page, base + name)
        sizes = page.eval_on_selector_all('article img', """async imgs => {
            await Promise.all(imgs.map(i => i.decode().catch(() => null)));
            return imgs.map(i => [i.getAttribute('src'), i.naturalWidth, i.naturalHeight]); }""")
        assert sizes and all(w > 50 and h > 50 for _, w, h in sizes), (name, sizes)

def test_figures_per_page(site, base, page):
    """Each page shows at least the figures its notebook is committed with (`docs_site.figure_count`): no chapter lost them.
    Without the shared data (a clean clone) the chapters that read it draw less, so only the others are compared."""
    from nbdev.doclinks import _nbpath2html
    from ktvit_nb.docs_site import doc_notebooks, figure_count
    from ktvit_nb.data.io import shared_data_dir
    have_data = shared_data_dir() is not None
    want = {_nbpath2html(p).name: figure_count(p) for p in doc_notebooks(ROOT/'nbs')
            if have_data or 'shared_data_dir(' not in p.read_text(encoding='utf-8')}
    assert sum(want.values()) > 20, want
    lost = {}
    for name, n in want.items():
        if not n: continue
        assert not load(page, base + name)
        if (got := page.locator('article img').count()) < n: lost[name] = (got, n)
    assert not lost, f'pages showing fewer figures than their notebooks (page: (shown, committed)): {lost}'
