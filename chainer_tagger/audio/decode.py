"""Decoding audio files into float32 samples, with bounded memory.

libsndfile (through :mod:`soundfile`) decodes WAV, FLAC, OGG/Vorbis, Opus
and MP3; files it cannot decode are tried with :mod:`audioread` when one of
its back ends (ffmpeg, GStreamer) is installed.

Two details reproduce how audio was decoded in 2016 (``librosa.load`` over
``audioread`` and ffmpeg), which the published mel-spectrograms depend on:

* MP3 is decoded to 16-bit integers and scaled by 1/32768, as ffmpeg's
  ``s16`` output was;
* the MP3 decoder's delay of 529 samples is dropped from the start while
  the signal keeps its length (``decoder_delay='remove'``, the default:
  what made the shipped melgrams).  Decoders without gapless information,
  as on many 2016 Linux machines, delivered the same number of samples
  with the delay kept, i.e. the music 529 samples later
  (``decoder_delay='keep'``); some published tables were computed from
  such audio.
"""
import os
import struct

import numpy as np
import soundfile as sf

from chainer_tagger.audio.resample import resample
from chainer_tagger.configuration import DECODER_DELAY_CHOICES
from chainer_tagger.errors import AudioDecodeError, UsageError

#: Samples of delay that an MP3 decoder adds at the start (MPEG layer III).
MP3_DECODER_DELAY = 529


class AudioSource:
    """An audio file opened for reading windows of its samples.

    Parameters
    ----------
    path : str or path-like
    decoder_delay : {'remove', 'keep'}
        For MP3: drop the decoder's delay (529 samples) from the start, or
        keep it, as 2016 decoders without gapless information did.  The
        length is the same either way.

    Attributes
    ----------
    samplerate : int
    channels : int
    n_samples : int
        Length in samples (per channel), after the MP3 decoder delay shift
        (the same with the delay removed or kept): what decodes.
    expected_samples : int or None
        The length the file's header implies (for MP3 libsndfile's estimate
        from the size and bitrate, for WAV the declared data chunk), when
        it differs from what decodes; None when unknown.
    decoder_error : str or None
        Why decoding stopped before the end of the file, when the decoder
        failed part way (what decoded before the damage is kept).
    is_mp3 : bool
    """

    #: MP3s up to this long keep the samples decoded while counting them.
    KEEP_DECODED_SECONDS = 600

    def __init__(self, path, decoder_delay='remove'):
        if decoder_delay not in DECODER_DELAY_CHOICES:
            raise UsageError('decoder_delay must be {}, not {!r}'.format(
                ' or '.join(DECODER_DELAY_CHOICES), decoder_delay))
        self.decoder_delay = decoder_delay
        self.path = os.fspath(path)
        check_readable(self.path)
        # Bytes: libsndfile then opens names that are not valid UTF-8 too.
        self._file = os.fsencode(self.path)
        self._audioread_samples = None
        self._decoded = None
        self.expected_samples = None
        self.decoder_error = None
        try:
            info = sf.info(self._file)
        except (sf.LibsndfileError, RuntimeError, TypeError) as e:
            self._open_with_audioread(e)
            return
        self.samplerate = int(info.samplerate)
        self.channels = int(info.channels)
        self.is_mp3 = info.format == 'MP3' or 'MPEG' in info.subtype
        self._dtype = 'int16' if self.is_mp3 else 'float32'
        # libsndfile delivers the delay: drop it, or keep what it gives.
        self._delay = MP3_DECODER_DELAY if (
            self.is_mp3 and decoder_delay == 'remove') else 0
        # libsndfile only estimates the length of an MP3; count by decoding.
        if self.is_mp3:
            self.n_samples = self._count()
            self.expected_samples = int(info.frames)
        else:
            self.n_samples = int(info.frames)
            if info.format == 'WAV':
                self.expected_samples = riff_declared_frames(self._file)
        if self.n_samples <= 0:
            raise AudioDecodeError('{}: no audio samples'.format(self.path))

    def _open_with_audioread(self, sf_error):
        try:
            import audioread
            with audioread.audio_open(self.path) as f:
                self.samplerate = int(f.samplerate)
                self.channels = int(f.channels)
                buf = b''.join(f)
        except Exception as e:
            reason = str(e) or type(e).__name__
            if type(e).__name__ == 'NoBackendError':
                reason = 'no ffmpeg or GStreamer back end installed'
            raise AudioDecodeError(
                '{}: not a decodable audio file (libsndfile: {}; audioread: '
                '{})'.format(self.path, _libsndfile_reason(sf_error),
                             reason)) from None
        data = np.frombuffer(buf, '<i2').reshape(-1, self.channels)
        self.is_mp3 = self.path.lower().endswith('.mp3')
        self._delay = 0  # ffmpeg and GStreamer already drop it ...
        if self.is_mp3 and self.decoder_delay == 'keep':
            # ... so put it back: the same length, 529 samples later.
            data = np.concatenate([np.zeros(
                (MP3_DECODER_DELAY, self.channels), data.dtype), data])[
                    :len(data)]
        self._audioread_samples = data
        self.n_samples = len(data)
        if self.n_samples == 0:
            raise AudioDecodeError('{}: no audio samples'.format(self.path))

    @property
    def duration(self):
        return self.n_samples / float(self.samplerate)

    def length_at(self, sr):
        """Samples after resampling to ``sr``: ``ceil(n * sr / rate)``, the
        length old librosa gave (see
        :func:`chainer_tagger.audio.resample.resample`).
        """
        return int(np.ceil(self.n_samples * float(sr) / self.samplerate))

    def _count(self, blocksize=1 << 16):
        """Decode once to count the samples.

        Files up to ``KEEP_DECODED_SECONDS`` keep what was decoded (mono
        int16 is at most 53 MB for 10 minutes at 44.1 kHz) so that
        reading the window later needs no second decode; longer files are
        decoded again around the window, which keeps memory bounded.
        """
        n = 0
        keep = self.KEEP_DECODED_SECONDS * self.samplerate
        blocks = []
        try:
            with sf.SoundFile(self._file) as f:
                while True:
                    block = f.read(blocksize, dtype='int16', always_2d=True)
                    if not len(block):
                        break
                    n += len(block)
                    if blocks is not None:
                        blocks.append(block)
                        if n > keep:
                            blocks = None
        except (sf.LibsndfileError, RuntimeError) as e:
            if n == 0:
                raise AudioDecodeError('{}: cannot decode ({})'.format(
                    self.path, e)) from None
            # Damage part way: keep what decoded before it, and say so.
            self.decoder_error = 'decoder error: {}'.format(e)
        if blocks:
            decoded = np.concatenate(blocks)[self._delay:]
            self._decoded = np.concatenate([decoded, np.zeros(
                (min(self._delay, n), self.channels), np.int16)])
        return n  # the delay shift keeps the length

    def read(self, start=0, stop=None):
        """Mono float32 samples ``[start, stop)``, zeros outside the file.

        Channels are averaged (``librosa.to_mono``).
        """
        stop = self.n_samples if stop is None else stop
        out = np.zeros(max(0, stop - start), dtype=np.float32)
        lo, hi = max(start, 0), min(stop, self.n_samples)
        if hi <= lo:
            return out
        if self._decoded is not None:
            raw = self._decoded[lo:hi]
        elif self._audioread_samples is not None:
            raw = self._audioread_samples[lo:hi]
        else:
            try:
                with sf.SoundFile(self._file) as f:
                    f.seek(lo + self._delay)
                    raw = f.read(hi - lo, dtype=self._dtype, always_2d=True)
            except (sf.LibsndfileError, RuntimeError) as e:
                raise AudioDecodeError('{}: cannot decode ({})'.format(
                    self.path, e)) from None
        if raw.dtype == np.int16:
            raw = raw.astype(np.float32) / np.float32(32768)
        mono = raw.mean(axis=1, dtype=np.float32) if raw.shape[1] > 1 \
            else raw[:, 0]
        out[lo - start:lo - start + len(mono)] = mono
        return out


def check_readable(path):
    """An :class:`AudioDecodeError` naming what keeps ``path`` from being
    read: missing, a folder, not readable (permission), or empty."""
    if os.path.isdir(path):
        try:
            os.scandir(path).close()
        except OSError as e:
            raise AudioDecodeError('{}: a folder that cannot be read ({})'
                                   .format(path, e.strerror or e)) from None
        raise AudioDecodeError('{}: a folder, not a file'.format(path))
    try:
        with open(path, 'rb') as f:
            empty = not f.read(1)
    except FileNotFoundError:
        raise AudioDecodeError('{}: no such file'.format(path)) from None
    except PermissionError:
        raise AudioDecodeError('{}: permission denied (the file is not '
                               'readable)'.format(path)) from None
    except OSError as e:
        raise AudioDecodeError('{}: cannot open ({})'.format(
            path, e.strerror or e)) from None
    if empty:
        raise AudioDecodeError('{}: empty file'.format(path))


def riff_declared_frames(path):
    """Frames that a WAV file's ``data`` chunk declares, or None.

    libsndfile reports what the file holds; a WAV cut short (an interrupted
    copy) still declares its full length in its header, which tells how
    much is missing.
    """
    try:
        with open(path, 'rb') as f:
            head = f.read(12)
            if head[:4] != b'RIFF' or head[8:] != b'WAVE':
                return None
            block_align = None
            while True:
                header = f.read(8)
                if len(header) < 8:
                    return None
                chunk, size = header[:4], struct.unpack('<I', header[4:])[0]
                if chunk == b'fmt ':
                    fmt = f.read(size)
                    if len(fmt) >= 14:
                        block_align = struct.unpack('<H', fmt[12:14])[0]
                    f.seek(size % 2, os.SEEK_CUR)
                elif chunk == b'data':
                    return size // block_align if block_align else None
                else:
                    f.seek(size + size % 2, os.SEEK_CUR)
    except OSError:
        return None


def _libsndfile_reason(error):
    text = str(error)
    if 'not a regular file' in text or 'Format not recognised' in text:
        return 'format not recognised'
    return text


def load_audio(path, sr=None, decoder_delay='remove'):
    """Decode a whole file to mono float32, optionally resampled.

    Parameters
    ----------
    path : str or path-like
    sr : int, optional
        Target rate; resampled with 2016's ``kaiser_best``
        (:func:`chainer_tagger.audio.resample.resample`).
    decoder_delay : {'remove', 'keep'}
        See :class:`AudioSource`.

    Returns
    -------
    y : np.ndarray, float32
    sr : int
    """
    source = AudioSource(path, decoder_delay)
    y = source.read()
    if sr is not None and sr != source.samplerate:
        y = resample(y, source.samplerate, sr)
        return y, sr
    return y, source.samplerate
