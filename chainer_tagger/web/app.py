"""The web page over a library store: a Starlette app, server-rendered.

Routes (all ``GET``; nothing on the page writes anywhere):

``/``
    the tracks of one model with their best tags; ``tag``/``min`` pairs
    filter (every pair must hold), ``sort`` orders by a tag's score,
    ``page`` pages, ``model`` picks the model when the store holds several;
``/track/{id}``
    one file: every tag of every model's result, its warnings, and why
    the store can draw no taggram;
``/track/{id}/similar``
    "more like this", from
    :func:`chainer_tagger.library.similarity.similar_to_stored`, with the
    store opened read-only like every other connection;
``/audio/{id}``
    the file's bytes, with HTTP range requests (206) so the player can
    seek.  The only way a file is reached: by its integer id in the
    store, looked up in the store; no path ever comes from a request, so
    there is nothing to traverse;
``/static/...``
    the page's CSS and JavaScript, shipped in the package (no CDN).

Every name is shown through Jinja2 with autoescaping, so a file named
``<script>...</script>.mp3`` is text.
"""
import mimetypes
import os
import shlex
from pathlib import Path
from urllib.parse import urlencode

from markupsafe import escape

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.responses import FileResponse, HTMLResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from chainer_tagger.configuration import (WEB_MAX_PAGE_SIZE, WEB_PAGE_SIZE,
                                          WEB_SIMILAR)
from chainer_tagger.errors import ChainerTaggerError
from chainer_tagger.library.similarity import similar_to_stored
from chainer_tagger.web.store_view import Query, open_view

HERE = Path(__file__).resolve().parent

#: The filter rows the list's form offers.
FILTER_ROWS = 3

#: The names of this machine a request may be addressed to by default.
LOCAL_NAMES = ('127.0.0.1', 'localhost')

#: Why a track's page shows bars and no taggram (decided by what the
#: store holds: see :mod:`chainer_tagger.library.store`).
NO_TAGGRAM = (
    'The store keeps one score per tag for the whole file (the windows '
    'combined), not the scores of each window, so there is no taggram to '
    'draw here; this command draws one from the audio:')

#: Audio types the browser is told, by extension (``mimetypes`` lacks
#: some on minimal systems).
AUDIO_TYPES = {'.mp3': 'audio/mpeg', '.flac': 'audio/flac',
               '.ogg': 'audio/ogg', '.opus': 'audio/ogg',
               '.oga': 'audio/ogg', '.wav': 'audio/wav',
               '.m4a': 'audio/mp4', '.aac': 'audio/aac',
               '.aif': 'audio/aiff', '.aiff': 'audio/aiff'}


def build_app(db, hosts=LOCAL_NAMES):
    """The Starlette app over the store at ``db``, checked now (a
    :class:`~chainer_tagger.errors.LibraryStoreError` for one it cannot
    read).

    ``hosts``: the names a request's ``Host`` header may give (``'*'``:
    any).  Others get 400, so a web site whose name an attacker points at
    127.0.0.1 (DNS rebinding) cannot read the library through a
    visitor's browser.
    """
    view = open_view(db)
    view.models()  # counted once now, so the first page need not
    templates = Jinja2Templates(directory=str(HERE / 'templates'))
    root = view.root()
    templates.env.globals['short'] = lambda path: short_name(path, root)
    templates.env.filters['shell'] = shlex.quote

    def render(request, name, context, status_code=200):
        context.setdefault('db', os.path.basename(view.path))
        return templates.TemplateResponse(request, name, context,
                                          status_code=status_code)

    def pick_model(request):
        models = view.models()
        if not models:
            return models, None
        raw = request.query_params.get('model')
        if raw is None or raw == '':
            return models, models[0]
        model = next((m for m in models if str(m['id']) == raw), None)
        if model is None:
            raise HTTPException(404, 'no model {} in the store'.format(raw))
        return models, model

    def index(request):
        models, model = pick_model(request)
        if model is None:
            return render(request, 'empty.html', {})
        params = request.query_params
        notes = []
        filters = []
        for tag, low in zip(params.getlist('tag'), params.getlist('min')):
            if not tag:
                continue
            if tag not in model['tags']:
                notes.append('{!r} is not a tag of {}: ignored'.format(
                    tag, model['name']))
                continue
            filters.append((tag, _score(low)))
        sort = params.get('sort') or None
        if sort is not None and sort not in model['tags']:
            notes.append('{!r} is not a tag of {}: sorted by file '
                         'name'.format(sort, model['name']))
            sort = None
        page = _positive(params.get('page'), 'page', 1)
        size = min(_positive(params.get('size'), 'size', WEB_PAGE_SIZE),
                   WEB_MAX_PAGE_SIZE)
        query = Query(model['id'], filters, sort, page, size)
        total, rows = view.tracks(query)
        pages = max(1, -(-total // size))
        rows_form = filters + [('', 0.5)] * (FILTER_ROWS - len(filters))
        return render(request, 'index.html', {
            'models': models, 'model': model, 'rows': rows, 'total': total,
            'page': page, 'pages': pages, 'size': size, 'sort': sort,
            'filters': filters, 'form_rows': rows_form, 'notes': notes,
            'link': lambda **change: _link(request, **change)})

    def stored_track(request):
        """The track the request names by its store id, else 404."""
        file_id = request.path_params['file_id']
        found = view.track(file_id)
        if found is None:
            raise HTTPException(404, 'no file {} in the store'.format(
                file_id))
        return file_id, found

    def track(request):
        _, found = stored_track(request)
        return render(request, 'track.html', {
            'track': found, 'no_taggram': NO_TAGGRAM})

    def similar(request):
        file_id, found = stored_track(request)
        notice, rows = None, []
        try:
            rows = similar_to_stored(view.path, file_id, k=WEB_SIMILAR,
                                     read_only=True)
        except ChainerTaggerError as e:
            notice = str(e)
        return render(request, 'similar.html', {
            'track': found, 'rows': rows, 'notice': notice})

    def audio(request):
        file_id = request.path_params['file_id']
        path = view.audio_path(file_id)
        if path is None or not os.path.isfile(path):
            raise HTTPException(404, 'no playable file {} in the '
                                     'store'.format(file_id))
        ext = os.path.splitext(path)[1].lower()
        kind = AUDIO_TYPES.get(ext) or mimetypes.guess_type(path)[0] or \
            'application/octet-stream'
        return FileResponse(path, media_type=kind)

    async def not_found(request, exc):
        return HTMLResponse(
            '<!doctype html><meta charset="utf-8"><title>{0}</title>'
            '<p>{0}: {1}</p><p><a href="/">back to the library</a></p>'
            .format(exc.status_code, escape(exc.detail)),
            status_code=exc.status_code)

    app = Starlette(routes=[
        Route('/', index),
        Route('/track/{file_id:int}', track),
        Route('/track/{file_id:int}/similar', similar),
        Route('/audio/{file_id:int}', audio),
        Mount('/static', StaticFiles(directory=str(HERE / 'static')),
              name='static'),
    ], exception_handlers={HTTPException: not_found},
        middleware=[Middleware(TrustedHostMiddleware,
                               allowed_hosts=list(hosts))])
    app.state.view = view
    return app


def short_name(path, root):
    """A file's name under the library's folder ``root`` (the full path
    is its title)."""
    if root and path.startswith(root) and len(path) > len(root):
        return path[len(root):]
    return os.path.basename(path) or path


def _score(text):
    """A minimum score from the form: a number in [0, 1]; else 400."""
    if text is None or text == '':
        return 0.0
    try:
        value = float(text)
    except ValueError:
        raise HTTPException(400, 'a minimum score is a number from 0 to 1, '
                                 'not {!r}'.format(text)) from None
    if not 0.0 <= value <= 1.0:
        raise HTTPException(400, 'a minimum score is from 0 to 1, not '
                                 '{}'.format(text))
    return value


def _positive(text, name, default):
    if text is None or text == '':
        return default
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise HTTPException(400, '{} is a whole number from 1, not '
                                 '{!r}'.format(name, text))
    return value


def _link(request, **change):
    """This page's address with some query parameters changed (``None``
    removes one), repeated ``tag``/``min`` kept."""
    items = [(k, v) for k, v in request.query_params.multi_items()
             if k not in change]
    for key, value in change.items():
        if value is not None:
            items.append((key, str(value)))
    return '?' + urlencode(items)
