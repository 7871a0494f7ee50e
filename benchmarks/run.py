"""chainer-tagger benchmark: speed and memory, one command.

    python benchmarks/run.py [--quick] [--gpu ID] [--onnx-batch N]
                             [--peer PYTHON [--rounds N] [--peer-only]] [--note TEXT]
    python benchmarks/run.py --pipeline [--note TEXT]

``--pipeline`` runs only the GEMM rates and the split of ``tag``'s path
(48 mp3s to tags, crnn-msd loaded: decode, resample, melgram, measure, the
CRNN forward at batch 16 and the hand-over; the ratio end to end / forward
and the forward as a share of the GEMM rate, in wall and in CPU time) and
writes ``benchmarks/results/pipeline.json``; the full run prints the same
section.

Prints, in one run: the machine's float32 GEMM rate (SciPy's BLAS, which
the CPU kernels use, and NumPy's), per model the forward time per clip at
batch 1 and 16 and the achieved GFLOP/s (FLOPs counted by a Chainer
function hook), onnxruntime on the same models (``--onnx-batch``, default
16), end-to-end clips/s from mp3 to tags on the Bensound songs, music2vec
forward and the two training steps (music2vec, and the CRNN fine-tune
with a 10-class top; Adam, batch 8), the library mode (store) against
plain tagging (``benchmarks/library.py``) and a whole 5-minute song.

Memory: every row runs alone in a fresh process (``--row``, hidden), so
no row's memory adds to another's, and each row states its own peak RSS
(the child's ``VmHWM``); the run ends with the largest.  This process
only coordinates (about 100 MiB).  The heaviest rows are the ONNX ones
at batch 16: for the CRNN the export (onnx_chainer keeps every
intermediate of the batch) about 5.4 GiB and onnxruntime's session about
4.5 GiB.  Every other row stays under 1.2 GiB, and with ``--onnx-batch
4`` the largest process of a run is the CRNN's export at 1.6 GiB: the
whole benchmark runs within 2 GB (a laptop).

With ``--peer PYTHON`` (a Python with PyTorch, outside the project; see
``../shared/peer/README.md``) it also runs the PyTorch peer
(``../shared/peer/torch_peer.py``) on the same five workloads, ``--rounds``
times interleaved with chainer-tagger's (each workload in a fresh
process), and prints the ratio PyTorch time / chainer-tagger time of the
best of each side (also into ``benchmarks/results/peer.json``;
``--peer-only`` runs just that comparison).  Writes what it printed, with the machine, date, commit
and command, to ``benchmarks/results/speed.json`` (``--results``), which
the documentation renders.  Needs CHAINER_TAGGER_WEIGHTS_DIR (as the tests) for
the pretrained models.  Not part of the test suite.
"""
import argparse
import collections
import importlib.util
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

# chainer_tagger before chainer: with the [gpu] extra, chainer_tagger loads
# NVIDIA's wheel libraries that CuPy 13 does not find itself (installed,
# chainer_tagger_cuda.pth does that in any order; this covers a checkout
# on PYTHONPATH).
import chainer_tagger  # noqa: F401
from chainer_tagger.device import get_device
from chainer_tagger.errors import ChainerTaggerError

import chainer

from library import library_rows
from recording import Recorder, add_results_option

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get('CHAINER_TAGGER_SHARED', ROOT.parent / 'shared'))


class FlopCounter(chainer.FunctionHook):
    """Multiply-adds x 2 of convolutions, linear layers and matmuls."""

    name = 'FlopCounter'

    def __init__(self):
        self.flops = 0

    def forward_postprocess(self, function, in_data):
        label = function.label
        if label in ('Convolution2DFunction', 'ConvolutionND'):
            from chainer.utils.conv import get_conv_outsize
            x, w = in_data[0], in_data[1]
            f = function
            if label == 'Convolution2DFunction':
                stride, pad, dil = (f.sy, f.sx), (f.ph, f.pw), (f.dy, f.dx)
            else:
                stride, pad, dil = f.stride, f.pad, f.dilate
            out = [get_conv_outsize(n, k, s, p, f.cover_all, d)
                   for n, k, s, p, d in zip(x.shape[2:], w.shape[2:],
                                            stride, pad, dil)]
            n_out = x.shape[0] * w.shape[0] * int(np.prod(out))
            self.flops += 2 * n_out * int(np.prod(w.shape[1:]))
        elif label == 'LinearFunction':
            x, w = in_data[0], in_data[1]
            self.flops += 2 * x.shape[0] * w.shape[0] * w.shape[1]
        elif label == 'MatMul':
            a, b = in_data
            self.flops += 2 * int(np.prod(a.shape)) * b.shape[-1]
        elif label == 'NStepLSTM':
            pass  # counted below from shapes (small)


def gemm_rate(matmul, n=2048, repeat=5, clock=time.perf_counter):
    a = np.random.rand(n, n).astype(np.float32)
    b = np.random.rand(n, n).astype(np.float32)
    matmul(a, b)
    t = clock()
    for _ in range(repeat):
        matmul(a, b)
    return 2 * n ** 3 * repeat / (clock() - t) / 1e9


def training_step_time(kind, repeat, gpu=None):
    """Seconds per clip (best of ``repeat``, after a warm-up step) of an
    Adam training step at batch 8: ``'music2vec'`` (SoundNet trained too,
    no dropout, 675,808-sample waveforms) or ``'crnn'`` (crnn-msd with a
    new 10-class top, (1, 96, 1366) melgrams)."""
    import chainer.functions as F
    from chainer_tagger.configuration import GTZAN_GENRES, WAVEFORM_SAMPLES
    from chainer_tagger.device import to_device
    from chainer_tagger.models import Music2Vec, load_model
    from chainer_tagger.training.optimizers import FusedAdam
    rng = np.random.RandomState(0)
    if kind == 'music2vec':
        net = Music2Vec(soundnet='soundnet8', dropout=0.0)
        x = rng.uniform(-0.3, 0.3, (8, WAVEFORM_SAMPLES))
    else:
        net = load_model('crnn-msd').with_classes(GTZAN_GENRES)
        x = rng.normal(size=(8, 1, 96, 1366))
    net = to_device(net, gpu)
    x = net.device.send(x.astype(np.float32))
    labels = net.xp.zeros(len(x), np.int32)
    opt = FusedAdam()  # the optimizer of `chainer-tagger train`
    opt.setup(net)
    times = []
    with chainer.using_config('train', True):
        for _ in range(repeat + 1):
            t = time.perf_counter()
            loss = F.softmax_cross_entropy(net.logits(x), labels)
            net.cleargrads()
            loss.backward()
            opt.update()
            del loss  # the graph goes, as in Chainer's updaters
            if net.xp is not np:
                chainer.backends.cuda.Stream.null.synchronize()
            times.append(time.perf_counter() - t)
    return min(times[1:]) / len(x)


#: The peer's workloads (``torch_peer.py`` keys).
WORKLOADS = ('crnn_fwd_b16', 'cnn_fwd_b16', 'm2v_fwd_b8', 'm2v_train_b8',
             'crnn_train_b8')
#: How the results table names them.
WORKLOAD_NAMES = {
    'crnn_fwd_b16': 'CRNN forward, batch 16',
    'cnn_fwd_b16': 'CNN forward, batch 16',
    'm2v_fwd_b8': 'music2vec forward, batch 8',
    'm2v_train_b8': 'music2vec training step (SoundNet trained too, Adam), '
                    'batch 8',
    'crnn_train_b8': 'CRNN fine-tune step (10-class top, Adam), batch 8',
}


def workload_time(key, repeat):
    """chainer-tagger's seconds per clip on one of the peer's workloads."""
    if key.endswith('_train_b8'):
        return training_step_time(
            'music2vec' if key.startswith('m2v') else 'crnn', repeat)
    from chainer_tagger.models import Music2Vec, load_model
    if key == 'm2v_fwd_b8':
        from chainer_tagger.configuration import WAVEFORM_SAMPLES
        model = Music2Vec(soundnet='soundnet8', dropout=0.0)
        x = np.random.RandomState(0).uniform(
            -0.3, 0.3, (8, WAVEFORM_SAMPLES)).astype(np.float32)
    else:
        model = load_model('crnn-msd' if key.startswith('crnn')
                           else 'cnn-msd')
        x = np.random.RandomState(0).normal(
            size=(16, 1, 96, 1366)).astype(np.float32)
    return time_forward(model, x, repeat) / len(x)


def own_peak_rss():
    """Peak RSS in MiB of this process's own memory.

    ``ru_maxrss`` of a child starts from its parent's peak at fork (Linux
    keeps it across exec), so a child of this benchmark reads the kernel's
    high-water mark of its own address space (``VmHWM``) instead.
    """
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _melgram():
    return np.load(SHARED / 'audio' / 'bensound-cute.melgram.npy').astype(
        np.float32)


def row_gemm(args, repeat):
    """The GEMM rates (wall, all cores), and SciPy's on one core per
    CPU-second of the thread (``one_core_cpu``): a rate that other
    processes on a shared machine do not divide as they do wall time."""
    import threadpoolctl
    from chainer_tagger.functions.gemm import matmul
    out = {'scipy': gemm_rate(matmul), 'numpy': gemm_rate(np.matmul)}
    with threadpoolctl.threadpool_limits(1, 'blas'):
        out['one_core_cpu'] = gemm_rate(matmul, clock=time.thread_time)
    return out


def row_forward(args, repeat, name, batch):
    """A model's forward pass at ``batch`` (and its FLOPs per clip)."""
    from chainer_tagger.device import to_device
    from chainer_tagger.models import load_model
    model = to_device(load_model(name), args.gpu)
    mel = _melgram()
    x = np.repeat(mel, int(batch), axis=0)
    return {'s_per_clip': time_forward(model, x, repeat) / int(batch),
            'flop_per_clip': count_flops(model, mel)}


def row_onnx_export(args, repeat, name, batch, path):
    """Only the export (onnx_chainer traces the whole batch through
    Chainer's standard functions, every intermediate kept: its peak grows
    with the batch, for the CRNN 1.6 GiB at 4 and 5.4 GiB at 16)."""
    from chainer_tagger.inference.onnx_export import export_onnx
    export_onnx(name, path, batch_size=int(batch))
    return {}


def row_onnx_run(args, repeat, name, batch, path):
    """onnxruntime's CPU session (default options) on an exported file."""
    import onnxruntime
    session = onnxruntime.InferenceSession(
        path, providers=['CPUExecutionProvider'])
    x = np.repeat(_melgram(), int(batch), axis=0)
    session.run(None, {'melgram': x})
    best = float('inf')
    for _ in range(repeat):
        t = time.perf_counter()
        session.run(None, {'melgram': x})
        best = min(best, time.perf_counter() - t)
    return {'s_per_clip': best / int(batch)}


def row_music2vec_forward(args, repeat):
    from chainer_tagger.configuration import WAVEFORM_SAMPLES
    from chainer_tagger.device import to_device
    from chainer_tagger.models import Music2Vec
    m2v = to_device(Music2Vec(soundnet='soundnet8', dropout=0.0), args.gpu)
    wave = np.random.RandomState(0).uniform(
        -0.3, 0.3, (8, WAVEFORM_SAMPLES)).astype(np.float32)
    return {'s_per_clip': time_forward(m2v, wave, repeat) / len(wave),
            'flop_per_clip': count_flops(m2v, wave[:1])}


def row_training_step(args, repeat, kind):
    return {'s_per_clip': training_step_time(kind, repeat, args.gpu)}


def row_workload(args, repeat, key):
    """One of the peer's workloads (the CPU)."""
    return {'s_per_clip': workload_time(key, repeat)}


def row_end_to_end(args, repeat):
    from chainer_tagger.device import to_device
    from chainer_tagger.inference import tag
    from chainer_tagger.models import load_model
    songs = sorted((SHARED / 'audio').glob('*.mp3')) * 12
    tagger = to_device(load_model('crnn-msd'), args.gpu)
    tag(songs[:4], model=tagger)  # warm-up (imports, JIT)
    t = time.perf_counter()
    results = tag(songs, model=tagger, batch_size=16)
    wall = time.perf_counter() - t
    assert all('tags' in r for r in results)
    return {'files': len(songs), 'clips_per_s': len(songs) / wall}


def _pipeline_files(folder, copies=12):
    """``copies`` symlinks of each Bensound mp3 in ``folder`` (48 files:
    three batches of 16), so the files differ by name only."""
    songs = sorted((SHARED / 'audio').glob('*.mp3'))
    files = []
    for k in range(copies):
        for song in songs:
            link = Path(folder) / '{:02d}-{}'.format(k, song.name)
            link.symlink_to(song)
            files.append(link)
    return files


def _stage_times(files, repeat, whole=False):
    """CPU seconds per clip of each step of reading a file's centre window
    for the CRNN, one step after the other on this thread (its CPU time,
    which other processes on a shared machine do not inflate as they do
    wall time): the median over the files of the best of ``repeat``.

    ``whole=False`` is ``tag``'s path: an MP3's end is decoded for its
    length, then the window (inside ``read_window``: that decoding counts
    as 'decode', the rest as 'resample'); ``whole=True`` decodes the whole
    file on opening, as ``tag --db`` does for its default embedding."""
    from chainer_tagger.audio.decode import AudioSource
    from chainer_tagger.audio.melgram import log_melgram
    from chainer_tagger.audio.quality import measure
    from chainer_tagger.audio.windows import centre_window, read_window
    from chainer_tagger.configuration import MELGRAM_INPUT
    clock = time.thread_time
    steps = collections.defaultdict(list)
    for path in files:
        best = collections.defaultdict(lambda: float('inf'))
        for _ in range(max(3, repeat)):
            t0 = clock()
            source = AudioSource(path, whole=whole)
            t1 = clock()
            inside, read = [0.0], source.read

            def timed_read(*a, read=read, inside=inside):
                t = clock()
                out = read(*a)
                inside[0] += clock() - t
                return out

            source.read = timed_read
            n = source.length_at(MELGRAM_INPUT.sample_rate)
            start = centre_window(n, MELGRAM_INPUT.n_samples)[0]
            samples = read_window(source, start, MELGRAM_INPUT.n_samples,
                                  MELGRAM_INPUT.sample_rate)
            t2 = clock()
            x = log_melgram(samples)
            t3 = clock()
            measure(samples, x, 1.0)
            t4 = clock()
            for step, s in (('decode', t1 - t0 + inside[0]),
                            ('resample', t2 - t1 - inside[0]),
                            ('melgram', t3 - t2), ('measure', t4 - t3)):
                best[step] = min(best[step], s)
        for step, s in best.items():
            steps[step].append(s)
    return {step: float(np.median(s)) for step, s in steps.items()}


def _songs_of(minutes, folder):
    """Each Bensound mp3 repeated to ``minutes`` and encoded again by
    libsndfile's LAME (with a LAME header, as most MP3s in a library): the
    length of a song, for what decoding a whole file costs."""
    import soundfile as sf
    files = []
    for song in sorted((SHARED / 'audio').glob('*.mp3')):
        y, sr = sf.read(song, dtype='float32')
        n = int(minutes * 60 * sr)
        path = Path(folder) / '{}-{}min.mp3'.format(song.stem, minutes)
        reps = (n // len(y) + 1,) + (1,) * (y.ndim - 1)
        sf.write(path, np.tile(y, reps)[:n], sr, format='MP3')
        files.append(path)
    return files


def row_pipeline(args, repeat):
    """The end-to-end path of ``chainer-tagger tag`` (48 mp3s, centre
    windows, crnn-msd loaded, batch 16) taken apart: the CPU time of each
    step of reading a clip (:func:`_stage_times`), the CRNN forward per
    clip at batch 16 on the same clips' melgrams (wall and CPU time), and
    the whole run (median of ``repeat``), where the model's own wall time
    is measured around ``predict``: the rest of the run's wall time is the
    model waiting for inputs, stacking them and making results (the
    hand-over)."""
    import tempfile
    from chainer_tagger.audio.decode import AudioSource
    from chainer_tagger.inference import tag
    from chainer_tagger.models import load_model
    crnn = load_model('crnn-msd')
    mels = [np.load(p)[0].astype(np.float32) for p in sorted(
        (SHARED / 'audio').glob('*.melgram.npy'))]
    with tempfile.TemporaryDirectory() as d:
        files = _pipeline_files(d)
        steps = _stage_times(files[:4], repeat)
        songs = _songs_of(4, d)
        song_decode = {
            how: _stage_times(songs, 1, whole=how == 'whole')['decode']
            for how in ('whole', 'window')}
        tag(files[:16], model=crnn)  # warm-up (imports, JIT)
        x = np.stack(mels * 4).astype(np.float32)
        cpu = time.process_time()
        forward = time_forward(crnn, x, repeat) / len(x)
        forward_cpu = (time.process_time() - cpu) / (repeat + 1) / len(x)
        predict, busy = crnn.predict, []

        def timed_predict(*a, **k):
            t = time.perf_counter()
            out = predict(*a, **k)
            busy.append(time.perf_counter() - t)
            return out

        crnn.predict = timed_predict
        runs = []
        for _ in range(max(1, repeat)):
            busy.clear()
            t, cpu = time.perf_counter(), time.process_time()
            results = tag(files, model=crnn, batch_size=16)
            runs.append((time.perf_counter() - t, time.process_time() - cpu,
                         sum(busy)))
            assert all('tags' in r for r in results)
        del crnn.predict
    wall, cpu, model = sorted(runs)[len(runs) // 2]
    clips = len(files)
    return {'files': clips, 'steps': steps, 'song_decode': song_decode,
            'window_only_from': AudioSource.WINDOW_ONLY_FROM_SECONDS,
            'cpus': os.cpu_count() or 1,
            'forward_b16': forward,
            'forward_b16_cpu': forward_cpu,
            'flop_per_clip': count_flops(crnn, mels[0][None]),
            'end_to_end': wall / clips, 'end_to_end_cpu': cpu / clips,
            'model_in_run': model / clips}


def pipeline_section(r, gemm, recorder):
    """Print and record the pipeline's split (a :func:`row_pipeline`
    result ``r``; ``gemm``: the GEMM rates of the same run, GFLOP/s).

    Besides the wall-time ratios asked for, the same two in CPU time,
    which a machine shared with other work inflates far less: the run's
    CPU per clip against the forward's, and the forward's GFLOP per
    CPU-second against one core's GEMM rate per CPU-second."""
    rate = gemm['scipy']
    ratio = r['end_to_end'] / r['forward_b16']
    gflops = r['flop_per_clip'] / r['forward_b16'] / 1e9
    per_cpu = r['flop_per_clip'] / r['forward_b16_cpu'] / 1e9
    lines = [
        'pipeline, mp3 -> tags, crnn-msd loaded, {} files, batch 16: {:.3f} '
        's/clip end to end against {:.3f} s/clip for the CRNN forward alone '
        '(batch 16, same clips): ratio {:.2f} (goal <= 1.3); peak RSS alone '
        '{}'.format(r['files'], r['end_to_end'], r['forward_b16'], ratio,
                    mib(r)),
        'CRNN forward at batch 16: {:.2f} GFLOP/clip, {:.0f} GFLOP/s, {:.0f} '
        '% of the float32 GEMM rate of this run (goal 70 %)'.format(
            r['flop_per_clip'] / 1e9, gflops, 100 * gflops / rate),
        'in CPU time: end to end {:.3f} CPU-s/clip against {:.3f} for the '
        'forward alone, ratio {:.2f}; the forward {:.0f} GFLOP per '
        'CPU-second, {:.0f} % of one core\'s GEMM rate per CPU-second '
        '({:.0f} GFLOP/s)'.format(
            r['end_to_end_cpu'], r['forward_b16_cpu'],
            r['end_to_end_cpu'] / r['forward_b16_cpu'], per_cpu,
            100 * per_cpu / gemm['one_core_cpu'], gemm['one_core_cpu'])]
    steps = r['steps']
    floor = (r['forward_b16_cpu'] + sum(steps.values())) / (
        r['cpus'] * r['forward_b16'])
    lines += [
        'the ratio cannot go below {:.2f} on these {} cores: the '
        'forward\'s CPU time and the steps\' (table) over every core '
        'busy for the forward\'s wall time'.format(floor, r['cpus']),
        'decoding a 4-minute song (LAME) for its centre window: {:.1f} '
        'CPU-ms for the window and the end (for the length), against '
        '{:.1f} for the whole file (files under {} s, as these 32 s '
        'ones, are decoded whole)'.format(
            1e3 * r['song_decode']['window'],
            1e3 * r['song_decode']['whole'], r['window_only_from'])]
    for line in lines:
        print(line)
        recorder.line(line)
    split = recorder.table(
        'pipeline', 'Where a clip\'s time goes, mp3 to tags (CPU ms per clip '
        'of each step alone; the run: wall and CPU ms per clip)',
        ['step', 'ms/clip', 'share'])
    producer = sum(steps.values())
    model_cpu = r['forward_b16_cpu']
    row(split, 'step', 'ms/clip', 'share', header=True)
    for step in ('decode', 'resample', 'melgram', 'measure'):
        row(split, '{} (CPU, one thread)'.format(step),
            '{:.1f}'.format(1e3 * steps[step]),
            '{:.0f} %'.format(100 * steps[step] / (producer + model_cpu)))
    row(split, 'CRNN forward, batch 16 (CPU, all threads)',
        '{:.1f}'.format(1e3 * model_cpu),
        '{:.0f} %'.format(100 * model_cpu / (producer + model_cpu)))
    row(split, 'end to end: CPU of the whole run',
        '{:.1f}'.format(1e3 * r['end_to_end_cpu']), '')
    row(split, 'end to end: wall', '{:.1f}'.format(1e3 * r['end_to_end']),
        '')
    row(split, 'of which the model ran (wall inside predict)',
        '{:.1f}'.format(1e3 * r['model_in_run']),
        '{:.0f} %'.format(100 * r['model_in_run'] / r['end_to_end']))
    row(split, 'of which hand-over (model waiting, stacking, results)',
        '{:.1f}'.format(1e3 * (r['end_to_end'] - r['model_in_run'])),
        '{:.0f} %'.format(100 * (1 - r['model_in_run'] / r['end_to_end'])))
    row(split, 'CRNN forward alone, batch 16 (wall)',
        '{:.1f}'.format(1e3 * r['forward_b16']), '')


def row_library(args, repeat):
    """The library mode against plain tagging (``benchmarks/library.py``):
    its printed lines and its table."""
    from chainer_tagger.device import to_device
    from chainer_tagger.models import load_model
    tagger = to_device(load_model('crnn-msd'), args.gpu)
    recorder, lines = Recorder('speed'), []
    library_rows(tagger, out=lines.append, recorder=recorder)
    return {'lines': lines, 'tables': recorder.tables}


def row_whole_song(args, repeat):
    """A whole 5-minute song in 29.12 s windows with a 14.56 s hop."""
    import tempfile
    import soundfile as sf
    from chainer_tagger.audio import melgram_windows
    from chainer_tagger.device import to_device
    from chainer_tagger.models import load_model
    crnn = to_device(load_model('crnn-msd'), args.gpu)
    y, sr = sf.read(SHARED / 'audio' / 'bensound-cute.mp3', dtype='float32')
    with tempfile.TemporaryDirectory() as d:
        song = os.path.join(d, 'five-minutes.mp3')
        sf.write(song, np.tile(y, 11)[:300 * sr], sr, format='MP3')
        t = time.perf_counter()
        windows = [m for _, m in melgram_windows(song, hop=14.56)]
        crnn.predict(np.stack(windows), batch_size=16)
        wall = time.perf_counter() - t
    return {'windows': len(windows), 'seconds': wall}


#: What ``--row NAME ARG...`` runs in a child: ``function(args, repeat,
#: *ARG)`` -> a dict of numbers, printed as JSON with the child's peak RSS.
ROWS = {
    'gemm': row_gemm, 'forward': row_forward,
    'onnx-export': row_onnx_export, 'onnx-run': row_onnx_run,
    'music2vec-forward': row_music2vec_forward,
    'training-step': row_training_step, 'workload': row_workload,
    'end-to-end': row_end_to_end, 'library': row_library,
    'whole-song': row_whole_song, 'pipeline': row_pipeline,
}


class Peaks:
    """The peak RSS of each process of a run (every row runs in a fresh
    one, so each peak is that row's alone and none adds to another's)."""

    def __init__(self):
        self.rows = []

    def add(self, label, mib):
        self.rows.append((label, mib))
        return mib

    def summary(self):
        """One line: the largest process, and this coordinating one."""
        line = 'peak RSS: this process {:.0f} MiB'.format(own_peak_rss())
        if self.rows:
            label, mib = max(self.rows, key=lambda r: r[1])
            line = ('peak RSS of this run: {:.0f} MiB, {} (each row runs '
                    'alone in a fresh process; {})'.format(
                        mib, label, line[len('peak RSS: '):]))
        return line


def measure(row_name, *params, args, repeat, peaks=None, label=None):
    """Run one row alone in a fresh process (``--row``); returns its
    numbers with ``peak_rss_mib``, the child's own peak (also added to
    ``peaks`` under ``label``)."""
    command = [sys.executable, __file__, '--row', row_name] + [
        str(p) for p in params] + ['--repeat', str(repeat)]
    if args.gpu is not None:
        command += ['--gpu', str(args.gpu)]
    out = subprocess.run(command, check=True, stdout=subprocess.PIPE,
                         text=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    if peaks is not None:
        peaks.add(label or ' '.join([row_name] + [str(p) for p in params]),
                  result['peak_rss_mib'])
    return result


def in_fresh_process(key, repeat, args=None):
    """``(s/clip, peak RSS in MiB)`` of one workload run alone."""
    result = measure('workload', key, repeat=repeat,
                     args=args or argparse.Namespace(gpu=None))
    return result['s_per_clip'], result['peak_rss_mib']


def mib(result):
    return '{:.0f} MiB'.format(result['peak_rss_mib'])


def run_peer(python, repeat):
    """The peer's ``{key: s/clip}``."""
    script = SHARED / 'peer' / 'torch_peer.py'
    out = subprocess.run([python, str(script), str(repeat)], check=True,
                         capture_output=True, text=True).stdout
    return {k: float(v) for k, v in
            (line.split() for line in out.splitlines() if line.strip())}


def compare_with_peer(python, rounds, repeat, recorder):
    """Interleaved rounds of chainer-tagger's and the peer's workloads;
    prints each round's times and ratios, then the best of each side and
    the ratio PyTorch / ours (also into ``recorder``'s ``peer`` and
    ``peer_rounds`` tables)."""
    per_round = recorder.table(
        'peer_rounds', 'Each round: s/clip of chainer-tagger / PyTorch '
        '(PyTorch time / ours)', ['round'] + list(WORKLOADS))
    ours = {k: float('inf') for k in WORKLOADS}
    theirs = dict(ours)
    rss = {}
    for r in range(rounds):
        mine = {}
        for key in WORKLOADS:
            mine[key], rss[key] = in_fresh_process(key, repeat)
        peer = run_peer(python, repeat)
        for key in WORKLOADS:
            ours[key] = min(ours[key], mine[key])
            theirs[key] = min(theirs[key], peer[key])
        cells = ['{} {:.3f}/{:.3f} ({:.2f})'.format(
            k, mine[k], peer[k], peer[k] / mine[k]) for k in WORKLOADS]
        print('round {}: {}'.format(r + 1, ', '.join(cells)), flush=True)
        per_round.append([r + 1] + ['{:.3f}/{:.3f} ({:.2f})'.format(
            mine[k], peer[k], peer[k] / mine[k]) for k in WORKLOADS])
    print()
    best = recorder.table(
        'peer', 'Against the PyTorch peer: s/clip, best of {} interleaved '
        'rounds'.format(rounds), [
            'workload', 'chainer-tagger', 'PyTorch', 'PyTorch / ours',
            'peak RSS alone'])
    row(best, 'workload (s/clip, best of {} rounds)'.format(rounds),
        'chainer-tagger', 'PyTorch', 'PyTorch / ours', 'peak RSS alone',
        header=True)
    for key in WORKLOADS:
        row(best, WORKLOAD_NAMES.get(key, key), '{:.3f}'.format(ours[key]),
            '{:.3f}'.format(theirs[key]),
            '{:.2f}'.format(theirs[key] / ours[key]),
            '{:.0f} MiB'.format(rss[key]))


def time_forward(model, x, repeat):
    xp = model.xp
    xb = xp.asarray(x)
    with chainer.using_config('train', False), \
            chainer.using_config('enable_backprop', False):
        model(xb)  # warm-up
        best = float('inf')
        for _ in range(repeat):
            t = time.perf_counter()
            model(xb)
            if xp is not np:
                chainer.backends.cuda.Stream.null.synchronize()
            best = min(best, time.perf_counter() - t)
    return best


def count_flops(model, x):
    """FLOPs per clip, counted on Chainer's standard functions (the CPU
    kernels do the same arithmetic in functions of their own)."""
    from chainer_tagger.functions import generic_kernels
    hook = FlopCounter()
    with hook, chainer.using_config('train', False), generic_kernels():
        model(model.xp.asarray(x))
    return hook.flops / len(x)


def row(rows, *cells, header=False):
    """Print a Markdown table row; a data row also goes into ``rows``."""
    print('| ' + ' | '.join(str(c) for c in cells) + ' |')
    if header:
        print('| ' + ' | '.join(['---'] * len(cells)) + ' |')
    else:
        rows.append([str(c) for c in cells])


def run_row(args, repeat):
    """In a child: one row, as one JSON line on stdout."""
    name, params = args.row[0], args.row[1:]
    result = ROWS[name](args, repeat, *params)
    print(json.dumps(dict(result, peak_rss_mib=own_peak_rss())))
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--quick', action='store_true', help='fewer repeats')
    p.add_argument('--gpu', type=int, default=None)
    p.add_argument('--onnx-batch', type=int, default=16, metavar='N',
                   help='batch of the onnxruntime rows (default: 16, '
                        "whose CRNN export peaks at 5.4 GiB; 4 keeps "
                        'every process of a run under 2 GB)')
    p.add_argument('--pipeline', action='store_true',
                   help='only the GEMM rate and the pipeline split of '
                        "`tag` (writes benchmarks/results/pipeline.json)")
    p.add_argument('--note', default=None,
                   help='a note on the run, kept with the results')
    p.add_argument('--peer', metavar='PYTHON',
                   help='a Python with PyTorch: compare with the peer')
    p.add_argument('--peer-only', action='store_true',
                   help='only the comparison with the peer (--peer)')
    p.add_argument('--rounds', type=int, default=3,
                   help='interleaved rounds of the peer comparison')
    p.add_argument('--row', nargs='+', metavar='NAME',
                   help=argparse.SUPPRESS)  # one row, in a child
    p.add_argument('--repeat', type=int, default=None,
                   help=argparse.SUPPRESS)
    add_results_option(p, 'speed')
    args = p.parse_args()
    if args.peer_only and not args.peer:
        p.error('--peer-only needs --peer PYTHON')
    if args.pipeline and args.results is None:
        args.results = str(ROOT / 'benchmarks' / 'results' / 'pipeline.json')
    repeat = args.repeat or (1 if args.quick else 3)
    if args.row:
        return run_row(args, repeat)
    if args.gpu is not None:
        try:  # before minutes of CPU rows: is the GPU there?
            get_device(args.gpu)
        except ChainerTaggerError as e:
            print('benchmark: {}'.format(e), file=sys.stderr)
            return 2

    def alone(row_name, *params, label=None):
        return measure(row_name, *params, args=args, repeat=repeat,
                       peaks=peaks, label=label)

    recorder = Recorder('pipeline' if args.pipeline else 'speed')
    peaks = Peaks()
    print('machine: {}, {} CPUs, Python {}, NumPy {}, Chainer {}'.format(
        platform.processor() or platform.machine(), os.cpu_count(),
        platform.python_version(), np.__version__, chainer.__version__))
    gemm = alone('gemm', label='GEMM rates')
    rate = gemm['scipy']
    line = ('float32 GEMM rate (2048^2 matmul): {:.0f} GFLOP/s through '
            'SciPy\'s BLAS (the CPU kernels), {:.0f} through NumPy\'s'.format(
                rate, gemm['numpy']))
    print(line + '\n')
    recorder.line(line)
    if args.peer_only:
        peer_section(args, repeat, None)
        return 0
    if args.pipeline:
        pipeline_section(alone('pipeline', label='pipeline split'), gemm,
                         recorder)
        line = peaks.summary()
        print(line)
        recorder.line(line)
        recorder.write(args.results, note=args.note)
        return 0
    work = recorder.table('work', 'Forward passes and training steps on '
                          '{}'.format('GPU {}'.format(args.gpu)
                                      if args.gpu is not None else 'the CPU'),
                          ['work', 'batch', 's/clip', 'GFLOP/clip', 'GFLOP/s',
                           '% of GEMM', 'peak RSS alone'])
    row(work, 'work', 'batch', 's/clip', 'GFLOP/clip', 'GFLOP/s',
        '% of GEMM', 'peak RSS alone', header=True)

    def work_row(label, batch, r, flops):
        per_clip = r['s_per_clip']
        row(work, label, batch, '{:.3f}'.format(per_clip),
            '{:.2f}'.format(flops / 1e9),
            '{:.0f}'.format(flops / per_clip / 1e9),
            '{:.0f} %'.format(100 * flops / per_clip / 1e9 / rate), mib(r))

    flops = {}
    for name in ('crnn-msd', 'cnn-msd'):
        for batch in (1, 16):
            r = alone('forward', name, batch,
                      label='{} forward, batch {}'.format(name, batch))
            flops[name] = r['flop_per_clip']
            work_row('{} forward'.format(name), batch, r, flops[name])

    if all(importlib.util.find_spec(m) for m in ('onnxruntime',
                                                  'onnx_chainer')):
        import tempfile
        batch = args.onnx_batch
        exports = []
        with tempfile.TemporaryDirectory() as d:
            for name in ('crnn-msd', 'cnn-msd'):
                path = os.path.join(d, name + '.onnx')
                exported = alone('onnx-export', name, batch, path,
                                 label='{} ONNX export, batch {}'.format(
                                     name, batch))
                exports.append('{} {}'.format(name, mib(exported)))
                r = alone('onnx-run', name, batch, path,
                          label='{} onnxruntime, batch {}'.format(
                              name, batch))
                work_row('{} onnxruntime (CPU)'.format(name), batch, r,
                         flops[name])
        export_line = ('ONNX export at batch {} (onnx_chainer keeps every '
                       'intermediate of the batch), peak RSS alone: {}'
                       .format(batch, ', '.join(exports)))
    else:
        export_line = ('(onnxruntime or onnx_chainer not installed: no '
                       'ONNX rows)')

    r = alone('music2vec-forward', label='music2vec forward, batch 8')
    work_row('music2vec forward (SoundNet + LSTMs)', 8, r,
             r['flop_per_clip'])
    for kind, label in (('music2vec', 'music2vec'),
                        ('crnn', 'CRNN fine-tune (10 classes)')):
        r = alone('training-step', kind,
                  label='{} training step, batch 8'.format(label))
        row(work, '{} training step'.format(label), 8,
            '{:.3f}'.format(r['s_per_clip']), '', '', '', mib(r))

    print('\n' + export_line)
    recorder.line(export_line)
    r = alone('end-to-end', label='end to end (tag)')
    line = ('end to end, mp3 -> tags, crnn-msd, {} files (model loaded): '
            '{:.2f} clips/s; peak RSS alone {}'.format(
                r['files'], r['clips_per_s'], mib(r)))
    print('\n' + line + '\n')
    recorder.line(line)
    pipeline_section(alone('pipeline', label='pipeline split'), gemm,
                     recorder)
    # the library mode against plain tagging
    r = alone('library', label='library mode')
    for text in r['lines']:
        print(text)
    for table in r['tables']:
        recorder.table(table['name'], table['title'],
                       table['columns']).extend(table['rows'])
    line = 'library mode rows: peak RSS alone {}'.format(mib(r))
    print(line)
    recorder.line(line)
    r = alone('whole-song', label='whole song')
    line = ('whole song, 5 min mp3, {} windows (hop 14.56 s), crnn-msd: '
            '{:.2f} s, {:.0f}x real time; peak RSS alone {}'.format(
                r['windows'], r['seconds'], 300 / r['seconds'], mib(r)))
    print(line + '\n')
    recorder.line(line)
    if args.gpu is None:
        print('GPU rows (batch 64 clips/s for crnn-msd and cnn-msd, a '
              'music2vec epoch): not yet measured (run with --gpu ID)')
    else:
        for name in ('crnn-msd', 'cnn-msd'):
            r = alone('forward', name, 64,
                      label='GPU {} forward, batch 64'.format(name))
            line = 'GPU {} forward, batch 64: {:.0f} clips/s'.format(
                name, 1 / r['s_per_clip'])
            print(line)
            recorder.line(line)
    line = peaks.summary()
    print(line)
    recorder.line(line)
    if args.peer:
        peer_section(args, repeat, recorder)
    recorder.write(args.results, note=args.note)


def peer_section(args, repeat, recorder):
    """The comparison with the PyTorch peer, into ``recorder`` (the whole
    run's) and always into its own ``benchmarks/results/peer.json``, which
    the documentation shows."""
    print('\nPyTorch peer ({}), {} interleaved rounds:'.format(
        args.peer, args.rounds))
    own = Recorder('peer')
    compare_with_peer(args.peer, args.rounds, repeat, own)
    if recorder is not None:
        recorder.tables.extend(own.tables)
    own.write(None if args.results == '' else
              ROOT / 'benchmarks' / 'results' / 'peer.json', note=args.note)


if __name__ == '__main__':
    sys.exit(main())
