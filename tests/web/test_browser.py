"""``serve`` in a real browser: headless Chromium (Debian's package, which
``make install`` installs) driven by Playwright over a small store made by
``tag --db --embed-model`` (the tiny model of the library test fixture,
for the tags and the embeddings) over four 4-second clips: the page
loads, a tag filter applies, a track plays and seeks (HTTP ranges), "more
like this" lists neighbours, a file named like a script stays text, and
the store is unchanged.  Screenshots go to ``/tmp/serve-*.png``."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from playwright import sync_api

from chainer_tagger.cli import main
from chainer_tagger.web.store_view import Query, open_view

from library_fixture import make_tiny_model, write_clip

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which('chromium') or '/usr/bin/chromium'
XSS = '<script>alert(1)</script>'



@pytest.fixture(scope='module', autouse=True)
def chromium():
    """The browser is part of the test setup (``make install`` installs
    Debian's chromium package): its absence fails, it is never skipped."""
    assert os.path.exists(CHROMIUM), (
        'no Chromium at {}: `make install` installs Debian\'s chromium '
        'package'.format(CHROMIUM))


@pytest.fixture(scope='module')
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp('browser')
    model = make_tiny_model(root / 'tiny.npz')
    music = root / 'music'
    (music / XSS[:-8]).mkdir(parents=True)
    for i in range(3):
        write_clip(music / 'clip{}.wav'.format(i), i, seconds=4.0)
    write_clip(music / (XSS + '.wav'), 7, seconds=4.0)
    db = root / 'lib.db'
    assert main(['tag', str(music), '-m', str(model), '--db', str(db),
                 '--embed-model', str(model), '--no-progress', '-o',
                 str(root / 'tags.json')]) == 0
    return db


@pytest.fixture(scope='module')
def server(store):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, '-m', 'chainer_tagger.cli', 'serve', '--db',
         str(store), '--port', '0'], stderr=subprocess.PIPE, text=True,
        env=env)
    try:
        line = proc.stderr.readline()
        url = re.search(r'http://127\.0\.0\.1:\d+/', line)
        assert url, line
        yield url.group(0)
    finally:
        proc.terminate()
        proc.wait(30)


def test_filter_play_seek_and_more_like_this(store, server):
    before = store.read_bytes(), os.stat(store).st_mtime_ns
    view = open_view(store)
    try:
        model = view.models()[0]
        _, every = view.tracks(Query(model['id']))
        # A tag and a minimum that keep two of the four tracks.
        tag = model['tags'][0]
        scores = sorted((t['score'] for r in every for t in r['tags']
                         if t['tag'] == tag), reverse=True)
        low = '{:.4f}'.format((scores[1] + scores[2]) / 2)
        total, rows = view.tracks(Query(model['id'], [(tag, float(low))]))
    finally:
        view.close()
    assert total == 2
    dialogs, audio_statuses = [], []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=['--no-sandbox', '--autoplay-policy=no-user-gesture-'
                                  'required'])
        try:
            page = browser.new_page(viewport={'width': 1100, 'height': 700})
            page.on('dialog', lambda d: (dialogs.append(d.message),
                                         d.dismiss()))
            page.on('response', lambda r: audio_statuses.append(r.status)
                    if '/audio/' in r.url else None)
            page.goto(server)
            assert page.locator('#total').inner_text() == '4'
            assert page.locator('table.tracks tbody tr').count() == 4
            assert page.get_by_text(XSS + '.wav').count() == 1
            page.screenshot(path='/tmp/serve-list.png', full_page=True)

            page.select_option('select[aria-label="filter tag 1"]', tag)
            page.fill('input[aria-label="minimum score 1"]', low)
            page.click('#apply')
            page.wait_for_url(re.compile(r'tag={}&min={}'.format(tag, low)))
            assert page.locator('#total').inner_text() == str(total)
            shown = [int(b.get_attribute('data-src').rsplit('/', 1)[1])
                     for b in page.locator('button.play').all()]
            assert shown == [r['id'] for r in rows]
            page.screenshot(path='/tmp/serve-filtered.png', full_page=True)

            page.locator('button.play').first.click()
            page.wait_for_function(
                'document.getElementById("player").currentTime > 0.3',
                timeout=15000)
            assert page.evaluate(
                'document.getElementById("player").readyState') >= 2
            page.evaluate('document.getElementById("player").currentTime '
                          '= 3.0')
            page.wait_for_function(
                'document.getElementById("player").currentTime >= 3.0 && '
                '!document.getElementById("player").seeking',
                timeout=15000)
            assert 206 in audio_statuses  # the player asked for ranges
            page.screenshot(path='/tmp/serve-playing.png')

            page.locator('a.more').first.click()
            page.wait_for_url(re.compile(r'/track/\d+/similar$'))
            assert page.locator('h1').inner_text().startswith('More like')
            sims = page.locator('table.similar td.num').all_inner_texts()
            assert len(sims) == 3  # the other three tracks
            values = [float(s) for s in sims]
            assert values == sorted(values, reverse=True)
            assert all(-1 <= v <= 1 for v in values)
            page.screenshot(path='/tmp/serve-similar.png', full_page=True)

            page.locator('table.similar td.file a').first.click()
            page.wait_for_url(re.compile(r'/track/\d+$'))
            assert page.locator('ul.bars li').count() == 5
            assert 'no taggram' in page.locator('#no-taggram').inner_text()
            page.screenshot(path='/tmp/serve-track.png', full_page=True)
        finally:
            browser.close()
    assert dialogs == []  # the script in a file name never ran
    assert (store.read_bytes(), os.stat(store).st_mtime_ns) == before
