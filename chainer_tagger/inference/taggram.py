"""Tags over time: per-window scores of a whole file, as JSON or a heat
map (musicnn's two steps: the taggram first, then what is made of it)."""
import json
import os

import numpy as np

from chainer_tagger.atomic_file import atomic_write
from chainer_tagger.configuration import PADDING_WARN_FRACTION
from chainer_tagger.errors import UsageError
from chainer_tagger.inference.tagging import model_name, tag_windows

#: Characters of a file name kept in a taggram's title.
TITLE_CHARS = 60


def taggram(model, path, hop=None, batch_size=16, bar=None,
            decoder_delay='remove'):
    """Per-window scores of one file as a JSON-able dict: ``{'path',
    'model', 'duration', 'window_seconds', 'hop', 'warnings', 'windows':
    [{'start', 'audio_fraction', 'scores': {tag: score}}]}``.

    ``duration`` is the seconds of audio in the file; ``audio_fraction``
    the share of a window that is real audio (the rest, past the end of
    the file, is zero padding); ``decoder_delay`` as for
    :func:`~chainer_tagger.inference.tagging.tag`.
    """
    w = tag_windows(model, path, hop, batch_size, bar=bar,
                    decoder_delay=decoder_delay)
    return {'path': str(path), 'model': model_name(model),
            'duration': w.duration,
            'window_seconds': model.clip_input.seconds, 'hop': w.hop,
            'warnings': w.warnings, 'windows': [
                {'start': float(t), 'audio_fraction': float(f),
                 'scores': dict(zip(model.tags, map(float, s)))}
                for t, f, s in zip(w.starts, w.audio_fractions, w.scores)]}


def taggram_json(data):
    return json.dumps(data, indent=1, allow_nan=False) + '\n'


def check_image_path(path):
    """A :class:`UsageError` now, before any work, for an image name whose
    extension matplotlib cannot write."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    ext = os.path.splitext(os.fspath(path))[1].lower().lstrip('.')
    supported = FigureCanvasAgg.get_supported_filetypes()
    if ext not in supported:
        raise UsageError('{}: cannot draw a taggram as {!r}; name a .json '
                         'file, or an image: {}'.format(
                             path, ext, ', '.join(sorted(supported))))


def window_cells(starts, window_seconds, duration):
    """The stretch of the song each window's column covers: ``(lo, hi)``.

    Windows overlap when the hop is shorter than the window, so each
    column covers the times whose nearest window centre is that window's
    (never beyond the window itself), clipped to the song: with a hop of
    2 s over a 32.5 s song the three windows cover 0-15.6, 15.6-17.6 and
    17.6-32.5 s, and with the default hop the windows themselves, the last
    one ending with the song rather than 29.12 s after its start.
    """
    starts = np.asarray(starts, float)
    centres = starts + window_seconds / 2.0
    mids = (centres[1:] + centres[:-1]) / 2.0
    lo = np.maximum(np.concatenate([[0.0], mids]), starts)
    hi = np.minimum(np.concatenate([mids, [np.inf]]),
                    starts + window_seconds)
    end = duration if duration is not None else \
        float(starts[-1] + window_seconds)
    return np.minimum(lo, end), np.minimum(hi, end)


def plot_taggram_of(data, path, k=10, title=None):
    """Draw a :func:`taggram` dict with :func:`plot_taggram`."""
    tags = list(data['windows'][0]['scores']) if data['windows'] else []
    scores = [[w['scores'][t] for t in tags] for w in data['windows']]
    return plot_taggram([w['start'] for w in data['windows']], scores, tags,
                        path, k=k, title=title,
                        window_seconds=data['window_seconds'],
                        duration=data.get('duration'),
                        audio_fractions=[w.get('audio_fraction', 1.0)
                                         for w in data['windows']])


def seconds_text(seconds):
    """Seconds as a taggram's key writes them: at most two decimals, no
    trailing zeros (``29.12``, ``3``, ``30.65``), the same for every number
    so that one length never reads as two."""
    return '{:.2f}'.format(seconds).rstrip('0').rstrip('.')


def column_caption(starts, window_seconds):
    """The key's line that says what a column is: the window length and
    the hop, both rounded alike (the hop read from the starts, so a hop
    equal to the window reads as back to back, not as a second number)."""
    window = seconds_text(window_seconds)
    if len(starts) < 2:
        spacing = ''
    else:
        hop = seconds_text(starts[1] - starts[0])
        spacing = ' back to back' if hop == window else \
            ' every {} s'.format(hop)
    return 'columns: {} s windows{}, each drawn over the part of the song ' \
        'nearest its centre'.format(window, spacing)


def short_name(path, limit=TITLE_CHARS):
    """A file's name for a title: its base name, the middle elided when
    longer than ``limit`` characters (a long path never shrinks the
    title's font)."""
    name = os.path.basename(os.fspath(path)) or os.fspath(path)
    if len(name) <= limit:
        return name
    keep = (limit - 1) // 2
    return name[:keep] + '\u2026' + name[-(limit - 1 - keep):]


def plot_taggram(starts, scores, tags, path, k=10, title=None,
                 window_seconds=29.12, duration=None, audio_fractions=None):
    """Draw the ``k`` tags with the best mean score (weighted by each
    window's share of real audio) against the song's time.

    Parameters
    ----------
    starts : array, seconds
    scores : array, shape (windows, n_tags)
    tags : sequence of str
    path : where to write the image (its extension picks the format)
    duration : float, optional
        Seconds of audio; the x axis ends there (see :func:`window_cells`).
    audio_fractions : array, optional
        Each window's share of real audio; windows that hold zero padding
        are hatched.
    """
    fig = taggram_figure(starts, scores, tags, k, title, window_seconds,
                         duration, audio_fractions)
    ext = os.path.splitext(os.fspath(path))[1].lower().lstrip('.') or 'png'
    with atomic_write(path, 'wb', suffix='.' + ext) as f:
        fig.savefig(f, dpi=100, format=ext)
    return path


def taggram_figure(starts, scores, tags, k=10, title=None,
                   window_seconds=29.12, duration=None, audio_fractions=None):
    """The matplotlib ``Figure`` that :func:`plot_taggram` writes (a
    ``Figure`` of its own, outside pyplot's state, so that tests can
    measure it): the heat map's axes first, the key's second."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch, Rectangle
    scores = np.asarray(scores)
    fractions = np.ones(len(scores)) if audio_fractions is None else \
        np.asarray(audio_fractions)
    # The best tags of the song, not of the padding after it.
    best = np.argsort(-np.average(scores, axis=0, weights=fractions),
                      kind='stable')[:k]
    image = scores[:, best].T
    lo, hi = window_cells(starts, window_seconds, duration)
    padded = np.flatnonzero(fractions < 1.0 - PADDING_WARN_FRACTION)
    # The key gets a row of its own under the heat map, in inches whatever
    # the height, so that it starts where the heat map starts (a key at the
    # figure's corner had its hatch at the very edge).
    key_height = 0.2 * (1 + (len(padded) > 0))
    fig = Figure(figsize=(max(7, min(16, 0.4 * len(starts) + 5)),
                         0.35 * len(best) + 2.0 + key_height),
                 layout='constrained')
    grid = fig.add_gridspec(2, 1, height_ratios=[0.35 * len(best) + 1.6,
                                                 key_height])
    ax, key = fig.add_subplot(grid[0]), fig.add_subplot(grid[1])
    key.axis('off')
    rows = np.arange(len(best) + 1) - 0.5
    vmax = max(1e-6, float(image.max()))
    for j in range(len(lo)):  # one column per window, gaps left blank
        im = ax.pcolormesh([lo[j], hi[j]], rows, image[:, j:j + 1],
                           cmap='magma', vmin=0, vmax=vmax)
    for j in padded:
        ax.add_patch(Rectangle(
            (lo[j], rows[0]), hi[j] - lo[j], rows[-1] - rows[0], fill=False,
            hatch='//', edgecolor='0.8', linewidth=0))
    ax.set_xlim(0, hi[-1])
    ax.set_ylim(len(best) - 0.5, -0.5)
    ax.set_yticks(range(len(best)))
    ax.set_yticklabels([tags[j] for j in best])
    ax.set_xlabel('time in the song (s)')
    handles = [Patch(facecolor='none', edgecolor='none',
                     label=column_caption(starts, window_seconds))]
    if len(padded):
        handles.append(Patch(
            facecolor='none', edgecolor='0.4', hatch='//',
            label='window more than {:.0f} % zero padding, past the end of '
                  'the audio (the last: {:.0f} %)'.format(
                      100 * PADDING_WARN_FRACTION,
                      100 * (1.0 - fractions[padded[-1]]))))
    if title:
        ax.set_title(title, fontsize=10, loc='left')
    fig.colorbar(im, ax=ax, label='score')
    # Out of the layout: it may run on under the colour bar, whose column
    # the layout would otherwise widen.
    key.legend(handles=handles, loc='upper left', bbox_to_anchor=(0, 1),
               borderaxespad=0, borderpad=0, fontsize=8, frameon=False,
               handlelength=1.5).set_in_layout(False)
    return fig
