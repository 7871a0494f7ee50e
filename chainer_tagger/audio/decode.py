"""Decoding audio files into float32 samples, with bounded memory.

libsndfile (through :mod:`soundfile`) decodes WAV, FLAC, OGG/Vorbis, Opus
and MP3; files it cannot decode are tried with :mod:`audioread` when one of
its back ends (ffmpeg, GStreamer) is installed.

Two details reproduce how audio was decoded in 2016 (``librosa.load`` over
``audioread`` and ffmpeg), which the published mel-spectrograms depend on:

* MP3 is decoded to 16-bit integers and scaled by 1/32768, as ffmpeg's
  ``s16`` output was (libsndfile decodes MP3 to floats; its own
  conversion to 16 bits, ``rint(x * 32768)`` clipped, costs a third of
  the decoding time, so :func:`_read_int16` does it with NumPy, to the
  same integers);
* the MP3 decoder's delay of 529 samples is dropped from the start while
  the signal keeps its length (``decoder_delay='remove'``, the default:
  what made the shipped melgrams).  Decoders without gapless information,
  as on many 2016 Linux machines, delivered the same number of samples
  with the delay kept, i.e. the music 529 samples later
  (``decoder_delay='keep'``); some published tables were computed from
  such audio.

Tagging a file on its centre window decodes only that window and the end
of an MP3 (for its length: ``whole=False``), and a read never leaves
python-soundfile to seek where it stopped (:class:`_SequentialSoundFile`):
for MP3s with a LAME header that restarted the decoder at every block.
"""
import os
import stat
import struct

import numpy as np
import soundfile as sf

from chainer_tagger.audio.discovery import special_file_kind
from chainer_tagger.audio.resample import resample
from chainer_tagger.configuration import (DECODER_DELAY_CHOICES,
                                          MAX_CHANNELS, MAX_FRAMES_PER_BYTE,
                                          MAX_SAMPLE_RATE, MIN_SAMPLE_RATE,
                                          READ_BLOCK_SAMPLES)
from chainer_tagger.errors import AudioDecodeError, UsageError

#: Samples of delay that an MP3 decoder adds at the start (MPEG layer III).
MP3_DECODER_DELAY = 529

#: Samples decoded before the first one wanted after a seek in an MP3, and
#: dropped (eight MPEG-1 frames).  Right after a seek libmpg123, as
#: libsndfile drives it, gives silence and then wrong samples in
#: LAME-encoded files, for up to three frames, until its bit reservoir and
#: its filter bank hold what the frames before gave; from four frames back
#: the samples are those of the whole decode, to float rounding.
MP3_SEEK_PREROLL = 8 * 1152


class AudioSource:
    """An audio file opened for reading windows of its samples.

    Parameters
    ----------
    path : str or path-like
    decoder_delay : {'remove', 'keep'}
        For MP3: drop the decoder's delay (529 samples) from the start, or
        keep it, as 2016 decoders without gapless information did.  The
        length is the same either way.
    whole : bool
        For MP3: decode the whole file on opening, to count its samples
        (keeping them, up to ``KEEP_DECODED_SECONDS``, for the reads), as
        a file read whole or in many windows wants.  False: count them by
        decoding only the file's end (:meth:`_length_from_end`), and decode
        only what is read: for one window of a long file (decoding a
        4-minute song for its centre window costs a quarter of decoding
        it whole; files under ``WINDOW_ONLY_FROM_SECONDS`` are decoded
        whole all the same).  Damage outside the window then goes
        unnoticed (no ``decoder_error``).  A
        read then decodes from a seek, which may differ from decoding from
        the start by one 16-bit step on a few samples in ten thousand
        (libmpg123's float sums).

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
        failed part way (what decoded before the damage is kept); known
        only for a file decoded whole.
    is_mp3 : bool
    length_from_end : bool
        Whether the length was found by decoding only the end (``whole``
        False, and it could be): the samples are decoded as they are read.
    """

    #: MP3s up to this long keep the samples decoded while counting them.
    KEEP_DECODED_SECONDS = 600

    #: MP3s shorter than this (by libsndfile's estimate) are decoded whole
    #: even with ``whole=False``: finding the end and seeking cost about
    #: what skipping a few seconds saves.  Decoding and resampling the
    #: centre window of bensound-cute, repeated and encoded again by
    #: LAME, in CPU-ms, window only against whole: 25.1 against 24.2 at
    #: 32 s, 24.4 against 28.3 at 45 s, 37 against 107 at 4 minutes.
    WINDOW_ONLY_FROM_SECONDS = 40

    #: Where :meth:`_length_from_end` starts decoding, back from
    #: libsndfile's estimate of an MP3's length, as shares of it: the
    #: estimate (from the size and first bitrate when the file has no Xing
    #: header) was 1.4 % too long on the Bensound mp3s.
    END_SEARCH_BACK = (1 / 32, 1 / 4)

    def __init__(self, path, decoder_delay='remove', whole=True):
        if decoder_delay not in DECODER_DELAY_CHOICES:
            raise UsageError('decoder_delay must be {}, not {!r}'.format(
                ' or '.join(DECODER_DELAY_CHOICES), decoder_delay))
        self.decoder_delay = decoder_delay
        self.path = os.fspath(path)
        size = check_readable(self.path)
        # Bytes: libsndfile then opens names that are not valid UTF-8 too.
        self._file = os.fsencode(self.path)
        self._audioread_samples = None
        self._decoded = None
        self.expected_samples = None
        self.decoder_error = None
        self.length_from_end = False
        try:
            info = sf.info(self._file)
        except (sf.LibsndfileError, RuntimeError, TypeError) as e:
            self._open_with_audioread(e)
            return
        self.samplerate, self.channels = check_header(
            self.path, info.samplerate, info.channels)
        self.is_mp3 = info.format == 'MP3' or 'MPEG' in info.subtype
        self._dtype = 'int16' if self.is_mp3 else 'float32'
        # libsndfile delivers the delay: drop it, or keep what it gives.
        self._delay = MP3_DECODER_DELAY if (
            self.is_mp3 and decoder_delay == 'remove') else 0
        frames = int(info.frames)
        # libsndfile only estimates the length of an MP3; count by decoding.
        if self.is_mp3:
            self.expected_samples = frames
            long_enough = self.WINDOW_ONLY_FROM_SECONDS * self.samplerate \
                <= frames <= MAX_FRAMES_PER_BYTE * size
            n = None
            if not whole and long_enough:
                n = self._length_from_end(frames)
            self.length_from_end = n is not None
            self.n_samples = self._count() if n is None else n
        elif not 0 <= frames <= MAX_FRAMES_PER_BYTE * size:
            # A length the file cannot hold (a FLAC header's "unknown",
            # 2**63 - 1, or a damaged one): count what decodes.
            self.n_samples = self._count()
        else:
            self.n_samples = frames
            if info.format == 'WAV':
                self.expected_samples = riff_declared_frames(self._file)
        if self.n_samples <= 0:
            raise AudioDecodeError('{}: no audio samples'.format(self.path))

    def _open_with_audioread(self, sf_error):
        try:
            import audioread
            with audioread.audio_open(self.path) as f:
                header = f.samplerate, f.channels
                check_header(self.path, *header)
                buf = b''.join(f)
        except AudioDecodeError:
            raise
        except Exception as e:
            reason = str(e) or type(e).__name__
            if type(e).__name__ == 'NoBackendError':
                reason = 'no ffmpeg or GStreamer back end installed'
            raise AudioDecodeError(
                '{}: not a decodable audio file (libsndfile: {}; audioread: '
                '{})'.format(self.path, _libsndfile_reason(sf_error),
                             reason)) from None
        self.samplerate, self.channels = check_header(self.path, *header)
        usable = len(buf) // (2 * self.channels) * 2 * self.channels
        data = np.frombuffer(buf[:usable], '<i2').reshape(-1, self.channels)
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

    def _count(self):
        """Decode once to count the samples (an MP3, or a file whose header
        gives no believable length).

        Files up to ``KEEP_DECODED_SECONDS`` keep what was decoded (mono
        int16 is at most 53 MB for 10 minutes at 44.1 kHz) so that
        reading the window later needs no second decode; longer files are
        decoded again around the window, which keeps memory bounded.
        """
        n = 0
        keep = self.KEEP_DECODED_SECONDS * self.samplerate
        blocks = []
        try:
            with _SequentialSoundFile(self._file) as f:
                for block in self._blocks(f):
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
                (min(self._delay, n), self.channels), decoded.dtype)])
        return n  # the delay shift keeps the length

    def _length_from_end(self, estimate):
        """The samples an MP3 decodes to (what :meth:`_count` gives),
        found by seeking to a little before libsndfile's ``estimate`` of
        its length and decoding from there to the end; None when that
        cannot tell, and the whole file is decoded instead: the seek lands
        past the end even at the last of ``END_SEARCH_BACK`` (libsndfile
        refuses a seek past its estimate; libmpg123 accepts one past the
        last frame and then decodes nothing), or the decoder fails.

        libmpg123 seeks exactly by walking the frame headers without
        decoding them; libsndfile reads no further than its estimate, when
        decoding from the start as from a seek, so the two counts agree
        whichever way the estimate errs.
        """
        for share in self.END_SEARCH_BACK:
            start = max(0, estimate - int(estimate * share))
            try:
                with _SequentialSoundFile(self._file) as f:
                    if f.seek(start) != start:
                        continue
                    n = start + sum(len(b) for b in self._blocks(f))
            except (sf.LibsndfileError, RuntimeError):
                return None
            if n > start:
                return n
        return None

    def _blocks(self, f):
        """The frames of an open file from where it stands to its end, in
        blocks of :meth:`_read_frames` (small: what decodes before damage
        is kept block by block)."""
        blocksize = max(1, min(1 << 16, READ_BLOCK_SAMPLES // self.channels))
        while True:
            block = self._read_frames(f, blocksize)
            if not len(block):
                return
            yield block

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
            self._read_blocks(out, lo - start, lo, hi)
            return out
        mono = _mono(raw)
        out[lo - start:lo - start + len(mono)] = mono
        return out

    def _read_frames(self, f, frames):
        """Up to ``frames`` frames ``(n, channels)`` of an open
        :class:`soundfile.SoundFile`, int16 for an MP3."""
        if self._dtype == 'int16':
            return _read_int16(f, frames)
        return f.read(frames, dtype=self._dtype, always_2d=True)

    def _read_blocks(self, out, at, lo, hi):
        """Decode samples ``[lo, hi)`` into ``out[at:]``, mixed to mono a
        block at a time (memory stays bounded however many channels the
        file has); a short read leaves zeros.  An MP3 is decoded from
        :data:`MP3_SEEK_PREROLL` samples before ``lo``."""
        step = max(1, READ_BLOCK_SAMPLES // self.channels)
        first = lo + self._delay
        preroll = min(first, MP3_SEEK_PREROLL) if self.is_mp3 else 0
        try:
            with _SequentialSoundFile(self._file) as f:
                f.seek(first - preroll)
                if preroll:
                    self._read_frames(f, preroll)
                while lo < hi:
                    raw = self._read_frames(f, min(step, hi - lo))
                    if not len(raw):
                        break
                    out[at:at + len(raw)] = _mono(raw)
                    at += len(raw)
                    lo += len(raw)
        except (sf.LibsndfileError, RuntimeError) as e:
            raise AudioDecodeError('{}: cannot decode ({})'.format(
                self.path, e)) from None
        if lo < min(hi, self.n_samples - self._delay) and \
                self.length_from_end:
            # The decoder stopped before the length found at the end: the
            # file is damaged in between (decoding it whole says where).
            raise AudioDecodeError('{}: decoding stopped at sample {} of '
                                   '{}'.format(self.path, lo, self.n_samples))


class _SequentialSoundFile(sf.SoundFile):
    """A :class:`soundfile.SoundFile` whose reads go on from where the last
    one ended, without seeking there.

    python-soundfile (0.14) seeks to the end of every read it has made.
    For an MP3 with a LAME header (gapless information: most MP3s that
    LAME made) libmpg123 then starts decoding again from that frame, and
    the next read begins with silence and then wrong samples, about 2,300
    of them: reading such a file in blocks of 65,536 samples spoiled 4 %
    of it, in clicks every 1.5 s (reading it in one call did not).  Files
    without that header were decoded exactly after a seek.  An explicit
    :meth:`seek` still seeks.

    soundfile also asks :meth:`seekable` to clamp a read to the frames
    left: here every read must name its frames (``read()``, ``read(-1)``
    and ``blocks()`` without them raise a ValueError), and libsndfile
    itself stops at its estimate of the length.
    """

    def seekable(self):
        return False


def _read_int16(f, frames):
    """Up to ``frames`` frames of ``f`` as int16, ``(n, channels)``: the
    integers libsndfile's own int16 reading gives (``rint(x * 32768)`` of
    its float samples, clipped to the int16 range; equal on every sample
    of the Bensound mp3s, clipped ones included), at two thirds of its
    cost."""
    x = f.read(frames, dtype='float32', always_2d=True)
    x *= np.float32(32768)
    np.rint(x, out=x)
    np.clip(x, -32768, 32767, out=x)
    return x.astype(np.int16)


def _mono(raw):
    """Frames ``(n, channels)`` as mono float32: int16 scaled by 1/32768,
    channels averaged (``librosa.to_mono``)."""
    if raw.dtype == np.int16:
        raw = raw.astype(np.float32) / np.float32(32768)
    return raw.mean(axis=1, dtype=np.float32) if raw.shape[1] > 1 \
        else raw[:, 0]


def check_header(path, samplerate, channels):
    """``(samplerate, channels)`` as ints, or an :class:`AudioDecodeError`
    naming ``path`` when the header declares what no audio has: a sample
    rate outside :data:`~chainer_tagger.configuration.MIN_SAMPLE_RATE` to
    :data:`~chainer_tagger.configuration.MAX_SAMPLE_RATE` (0 Hz would
    divide by zero in every length, 4 GHz would need gigabytes for one
    window), no channels, or more than
    :data:`~chainer_tagger.configuration.MAX_CHANNELS`."""
    try:
        samplerate, channels = int(samplerate), int(channels)
    except (TypeError, ValueError, OverflowError):
        raise AudioDecodeError('{}: impossible header (sample rate {!r}, '
                               'channels {!r})'.format(
                                   path, samplerate, channels)) from None
    if not MIN_SAMPLE_RATE <= samplerate <= MAX_SAMPLE_RATE:
        raise AudioDecodeError(
            '{}: impossible header: a sample rate of {} Hz (audio files '
            'have {} to {} Hz)'.format(path, samplerate, MIN_SAMPLE_RATE,
                                       MAX_SAMPLE_RATE))
    if not 1 <= channels <= MAX_CHANNELS:
        raise AudioDecodeError(
            '{}: impossible header: {} channels (audio files have 1 to '
            '{})'.format(path, channels, MAX_CHANNELS))
    return samplerate, channels


def check_readable(path):
    """The size of ``path`` in bytes, or an :class:`AudioDecodeError`
    naming what keeps it from being read: missing, a folder, not a regular
    file (a named pipe, socket or device: recognised by ``stat`` and never
    opened, since opening one can wait forever), not readable
    (permission), or empty."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise AudioDecodeError('{}: no such file'.format(path)) from None
    except OSError as e:
        raise AudioDecodeError('{}: cannot open ({})'.format(
            path, e.strerror or e)) from None
    if stat.S_ISDIR(mode):
        try:
            os.scandir(path).close()
        except OSError as e:
            raise AudioDecodeError('{}: a folder that cannot be read ({})'
                                   .format(path, e.strerror or e)) from None
        raise AudioDecodeError('{}: a folder, not a file'.format(path))
    _refuse_special(path, mode)
    try:
        # Non-blocking, and checked again once open: a file swapped for a
        # pipe since the stat above cannot make the run wait.
        with open(path, 'rb', opener=_open_nonblocking) as f:
            st = os.fstat(f.fileno())
            _refuse_special(path, st.st_mode)
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
    return st.st_size


def _refuse_special(path, mode):
    kind = special_file_kind(mode)
    if kind is not None:
        raise AudioDecodeError('{}: {}, not a regular file (not '
                               'read)'.format(path, kind))


def _open_nonblocking(path, flags):
    return os.open(path, flags | getattr(os, 'O_NONBLOCK', 0))


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
                    if size == 0xFFFFFFFF or not block_align:
                        return None  # a stream's "unknown length"
                    return size // block_align
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
