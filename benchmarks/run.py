"""chainer-tagger benchmark: speed and memory, one command.

    python benchmarks/run.py [--quick] [--gpu ID]

Prints, in one run: the machine's float32 GEMM rate (NumPy 2048x2048
matmul), per model the forward time per clip at batch 1 and 16 and the
achieved GFLOP/s (FLOPs counted by a Chainer function hook), end-to-end
clips/s from mp3 to tags on the Bensound songs, SoundNet and music2vec
forward and training-step times, the library mode (store) against plain
tagging (``benchmarks/library.py``), and the peak RSS.  Needs
CHAINER_TAGGER_WEIGHTS_DIR (as the tests) for the pretrained models.
Not part of the test suite.
"""
import argparse
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np

import chainer

from library import library_rows

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


def gemm_rate(n=2048, repeat=5):
    a = np.random.rand(n, n).astype(np.float32)
    b = np.random.rand(n, n).astype(np.float32)
    a @ b
    t = time.perf_counter()
    for _ in range(repeat):
        a @ b
    return 2 * n ** 3 * repeat / (time.perf_counter() - t) / 1e9


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
    """FLOPs per clip, counted on the Chainer graph path (the CPU fast
    path does the same arithmetic outside Chainer functions)."""
    hook = FlopCounter()
    with hook, chainer.using_config('train', False):
        model(model.xp.asarray(x))
    return hook.flops / len(x)


def row(*cells):
    print('| ' + ' | '.join(str(c) for c in cells) + ' |')


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--quick', action='store_true', help='fewer repeats')
    p.add_argument('--gpu', type=int, default=None)
    args = p.parse_args()
    repeat = 1 if args.quick else 3
    from chainer_tagger.device import to_device
    from chainer_tagger.models import load_model
    from chainer_tagger.inference import tag

    print('machine: {}, {} CPUs, Python {}, NumPy {}, Chainer {}'.format(
        platform.processor() or platform.machine(), os.cpu_count(),
        platform.python_version(), np.__version__, chainer.__version__))
    rate = gemm_rate()
    print('float32 GEMM rate (NumPy 2048^2 matmul): {:.0f} GFLOP/s\n'.format(
        rate))
    row('work', 'batch', 's/clip', 'GFLOP/clip', 'GFLOP/s', '% of GEMM')
    row(*['---'] * 6)
    mel = np.load(SHARED / 'audio' / 'bensound-cute.melgram.npy').astype(
        np.float32)
    for name in ('crnn-msd', 'cnn-msd'):
        model = to_device(load_model(name), args.gpu)
        flops = count_flops(model, mel)
        for batch in (1, 16):
            x = np.repeat(mel, batch, axis=0)
            per_clip = time_forward(model, x, repeat) / batch
            row('{} forward'.format(name), batch, '{:.3f}'.format(per_clip),
                '{:.2f}'.format(flops / 1e9),
                '{:.0f}'.format(flops / per_clip / 1e9),
                '{:.0f} %'.format(100 * flops / per_clip / 1e9 / rate))

    try:
        import tempfile
        import onnxruntime
        from chainer_tagger.inference.onnx_export import export_onnx
        with tempfile.TemporaryDirectory() as d:
            for name in ('crnn-msd', 'cnn-msd'):
                path = os.path.join(d, name + '.onnx')
                export_onnx(name, path, batch_size=16)
                session = onnxruntime.InferenceSession(
                    path, providers=['CPUExecutionProvider'])
                x = np.repeat(mel, 16, axis=0)
                session.run(None, {'melgram': x})
                best = float('inf')
                for _ in range(repeat):
                    t = time.perf_counter()
                    session.run(None, {'melgram': x})
                    best = min(best, time.perf_counter() - t)
                flops = count_flops(load_model(name), mel)
                row('{} onnxruntime (CPU)'.format(name), 16,
                    '{:.3f}'.format(best / 16), '{:.2f}'.format(flops / 1e9),
                    '{:.0f}'.format(flops * 16 / best / 1e9),
                    '{:.0f} %'.format(100 * flops * 16 / best / 1e9 / rate))
    except ImportError:
        print('(onnxruntime not installed: no ONNX rows)')

    from chainer_tagger.models import Music2Vec
    from chainer_tagger.configuration import WAVEFORM_SAMPLES as N_SAMPLES
    m2v = to_device(Music2Vec(soundnet='soundnet8', dropout=0.0), args.gpu)
    wave = np.random.RandomState(0).uniform(
        -0.3, 0.3, (8, N_SAMPLES)).astype(np.float32)
    flops = count_flops(m2v, wave[:1])
    per_clip = time_forward(m2v, wave, repeat) / len(wave)
    row('music2vec forward (SoundNet + LSTMs)', 8, '{:.3f}'.format(per_clip),
        '{:.2f}'.format(flops / 1e9), '{:.0f}'.format(
            flops / per_clip / 1e9),
        '{:.0f} %'.format(100 * flops / per_clip / 1e9 / rate))
    import chainer.functions as F
    opt = chainer.optimizers.Adam()
    opt.setup(m2v)
    labels = m2v.xp.zeros(len(wave), np.int32)
    xw = m2v.xp.asarray(wave)
    times = []
    for _ in range(repeat + 1):
        t = time.perf_counter()
        loss = F.softmax_cross_entropy(m2v.logits(xw), labels)
        m2v.cleargrads()
        loss.backward()
        opt.update()
        times.append(time.perf_counter() - t)
    row('music2vec training step', 8, '{:.3f}'.format(min(times[1:]) / 8),
        '', '', '')

    songs = sorted((SHARED / 'audio').glob('*.mp3')) * 12
    tagger = to_device(load_model('crnn-msd'), args.gpu)
    tag(songs[:4], model=tagger)  # warm-up (imports, JIT)
    t = time.perf_counter()
    results = tag(songs, model=tagger, batch_size=16)
    wall = time.perf_counter() - t
    assert all('tags' in r for r in results)
    print('\nend to end, mp3 -> tags, crnn-msd, {} files (model loaded): '
          '{:.2f} clips/s'.format(len(songs), len(songs) / wall))
    print()
    library_rows(tagger)  # the library mode against plain tagging
    # A whole 5-minute song in 29.12 s windows with a 14.56 s hop.
    import tempfile
    import soundfile as sf
    from chainer_tagger.audio import melgram_windows
    crnn = to_device(load_model('crnn-msd'), args.gpu)
    y, sr = sf.read(SHARED / 'audio' / 'bensound-cute.mp3', dtype='float32')
    with tempfile.TemporaryDirectory() as d:
        song = os.path.join(d, 'five-minutes.mp3')
        sf.write(song, np.tile(y, 11)[:300 * sr], sr, format='MP3')
        t = time.perf_counter()
        windows = [m for _, m in melgram_windows(song, hop=14.56)]
        crnn.predict(np.stack(windows), batch_size=16)
        wall = time.perf_counter() - t
    print('whole song, 5 min mp3, {} windows (hop 14.56 s), crnn-msd: '
          '{:.2f} s, {:.0f}x real time'.format(len(windows), wall,
                                               300 / wall))
    print()
    if args.gpu is None:
        print('GPU rows (batch 64 clips/s for crnn-msd and cnn-msd, a '
              'music2vec epoch): not yet measured (run with --gpu ID)')
    else:
        for name in ('crnn-msd', 'cnn-msd'):
            model = to_device(load_model(name), args.gpu)
            x = np.repeat(mel, 64, axis=0)
            per_clip = time_forward(model, x, repeat) / 64
            print('GPU {} forward, batch 64: {:.0f} clips/s'.format(
                name, 1 / per_clip))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print('peak RSS of this run: {:.0f} MiB'.format(peak))


if __name__ == '__main__':
    sys.exit(main())
