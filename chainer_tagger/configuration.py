"""Every constant of the models and their inputs, in one place.

Sample rates and window geometry of the two input kinds, the layer tables
of the architectures, and the label lists of the published models.  Other
modules import these names; none of them types the numbers again.
"""
import collections

from chainer_tagger.errors import ModelFileError, UsageError

# -- Choi's log mel-spectrogram (``audio_processor.compute_melgram``) -------

#: Sample rate the melgram is computed at.
MELGRAM_SR = 12000
N_FFT = 512
HOP_LENGTH = 256
N_MELS = 96
#: Seconds of audio in one melgram window (the centre of the file).
MELGRAM_SECONDS = 29.12
#: Samples at 12 kHz in one melgram window.
MELGRAM_SAMPLES = int(MELGRAM_SECONDS * MELGRAM_SR)
#: STFT frames of one window: a melgram is ``(N_MELS, N_FRAMES)``.
N_FRAMES = 1 + MELGRAM_SAMPLES // HOP_LENGTH
#: Shapes a melgram ``.npy`` may have (one melgram, with or without the
#: batch and channel axes the original preprocessing saved).
MELGRAM_NPY_SHAPES = ((N_MELS, N_FRAMES), (1, N_MELS, N_FRAMES),
                      (1, 1, N_MELS, N_FRAMES))

#: File name extensions taken from folders (files named explicitly are
#: always tried, whatever their extension).
AUDIO_EXTENSIONS = frozenset(
    '.mp3 .wav .flac .ogg .oga .opus .au .aif .aiff .m4a .wma'.split())

#: What a folder scan takes (``chainer_tagger.audio.discovery``), for
#: ``--help``.
SCAN_RULE = ('folders are searched recursively for audio files ({}), '
             'skipping hidden files and folders; a .npy found there is '
             'taken only when it holds one melgram (96, 1366); files named '
             'explicitly are always tried; named pipes, sockets and devices '
             'found there, whatever their names, are never opened: each is '
             'reported as not a regular file'.format(
                 ' '.join(sorted(AUDIO_EXTENSIONS))))

# -- What a result warns about (chainer_tagger.audio.quality) -------------

#: A window more than this share of which is zero padding is reported
#: ("0.5 s of audio: 98 % of the 29.12 s window is padding").
PADDING_WARN_FRACTION = 0.25
#: Audio whose peak stays below this level (dBFS) is reported as silent:
#: its scores are the model's answer to silence, not to music.
SILENCE_PEAK_DBFS = -60.0
#: Decoding that delivers less than this share of the length a file's
#: header implies, and at least ``TRUNCATION_MIN_SECONDS`` less, is
#: reported ("decoding stopped at 15.4 s of 31.7 s").  The slack absorbs
#: MP3 encoder padding and libsndfile's bitrate-based length estimate
#: (31.69 s for a file that decodes to 31.27 s).
TRUNCATION_FRACTION = 0.9
TRUNCATION_MIN_SECONDS = 1.0
#: Audio whose level, once its constant (DC) offset is removed, varies by
#: less than this (dBFS: about one 16-bit step) holds nothing but the
#: offset: it is reported as carrying no sound.
DC_ONLY_DBFS = -90.0
#: A window whose log mel-spectrogram has at least this share of its bins
#: at the floor (80 dB below the peak, or the -100 dB minimum) holds
#: almost nothing to analyse (a click, a hum, near silence): reported.
FLOOR_WARN_FRACTION = 0.99
#: dB below its peak at which a log mel-spectrogram is clipped (Choi's
#: ``top_db``), and the smallest power it shows (``amin``, in dB).
MELGRAM_TOP_DB = 80.0
MELGRAM_MIN_DB = -100.0

# -- What a header may declare (chainer_tagger.audio.decode) ---------------

#: Sample rates outside this range (Hz) are refused as impossible headers
#: (0 Hz, 4 GHz): no recording uses them, and resampling from them
#: divides by zero or needs gigabytes for one window.
MIN_SAMPLE_RATE = 1000
MAX_SAMPLE_RATE = 768000
#: Channel counts above this are refused (libsndfile's own limit is 1024;
#: a header that says 65535 is damage).
MAX_CHANNELS = 1024
#: A length (frames) beyond this many per byte of the file cannot be held
#: by it, even losslessly compressed silence (FLAC needs about 14 bytes
#: per 4096 frames): such a header's length is not believed, the file is
#: decoded to count its frames.
MAX_FRAMES_PER_BYTE = 4096
#: Samples (frames x channels) read from a decoder at once: many channels
#: are mixed to mono block by block, so memory stays bounded.
READ_BLOCK_SAMPLES = 1 << 20
#: ``--window full --aggregate max`` only takes windows holding at least
#: this share of real audio (all windows when none does); ``mean`` weights
#: each window by its share of real audio.
MIN_WINDOW_AUDIO_FRACTION = 0.5
#: How ``--aggregate`` may combine the windows of one file.
AGGREGATES = ('mean', 'max')
#: How the windows are combined, for ``--help`` and the results.
AGGREGATE_RULE = (
    "'mean' weights each window by the share of it that is real audio "
    "(the last window of a file is mostly zero padding); 'max' takes the "
    'windows holding at least {:.0f} % real audio (all of them when none '
    'does)'.format(100 * MIN_WINDOW_AUDIO_FRACTION))

# -- SoundNet and music2vec on raw audio -----------------------------------

#: SoundNet's input rate.
WAVEFORM_SR = 22050
#: music2vec's input length in samples at 22,050 Hz (30.6 s), as the
#: original.
WAVEFORM_SAMPLES = 675808
#: SoundNet's input scaling: samples in [-1, 1] times 256.
SOUNDNET_INPUT_SCALE = 256.0

SoundNetLayer = collections.namedtuple(
    'SoundNetLayer', 'name in_channels out_channels kernel stride pad pool')

#: conv1..conv7 of SoundNet-8: each is followed by batch normalization
#: (eps 1e-5) and ReLU, then max pooling of ``pool`` (None: no pooling).
SOUNDNET_LAYERS = (
    SoundNetLayer('conv1', 1, 16, 64, 2, 32, 8),
    SoundNetLayer('conv2', 16, 32, 32, 2, 16, 8),
    SoundNetLayer('conv3', 32, 64, 16, 2, 8, None),
    SoundNetLayer('conv4', 64, 128, 8, 2, 4, None),
    SoundNetLayer('conv5', 128, 256, 4, 2, 2, 4),
    SoundNetLayer('conv6', 256, 512, 4, 2, 2, None),
    SoundNetLayer('conv7', 512, 1024, 4, 2, 2, None),
)
SOUNDNET_BN_EPS = 1e-5
#: The two heads after conv7: kernel 8, stride 2, no padding.
SOUNDNET_HEAD_KERNEL = 8
SOUNDNET_HEAD_STRIDE = 2
N_OBJECTS = 1000
N_SCENES = 401

#: music2vec's head: LSTM units (two layers), then the dense layers.
MUSIC2VEC_LSTM_UNITS = 200
MUSIC2VEC_DENSE = (400, 100)
#: The most heads a music2vec ensemble may have (a model file that asks for
#: more is refused before anything is built).
MAX_MUSIC2VEC_HEADS = 32
#: Added to the standard deviation of each input feature of a trained head
#: (SoundNet's output in music2vec, the conv blocks' output in a fine-tuned
#: CRNN) when it is standardized, so a feature that never varies is not
#: blown up.
HEAD_INPUT_SCALE_FLOOR = 1e-3

#: Clips an embedding plot needs (t-SNE's perplexity must stay below the
#: number of points; two points make no picture).
MIN_CLIPS_TO_PLOT = 3

#: Colours of the classes in embedding plots: Okabe & Ito's palette, told
#: apart with every common colour-vision deficiency (black, orange, sky
#: blue, bluish green, yellow, blue, vermillion, reddish purple).
CLASS_COLOURS = ('#000000', '#E69F00', '#56B4E9', '#009E73', '#F0E442',
                 '#0072B2', '#D55E00', '#CC79A7')
#: Their marker shapes, one per class for up to ten (GTZAN's genres), so
#: that no two classes look alike even where colours repeat or cannot be
#: told apart; all can be drawn hollow (held-out clips).
CLASS_MARKERS = ('o', 's', '^', 'D', 'v', 'P', 'X', '<', '>', '*')

#: ONNX opsets the export can write (onnx_chainer has no BroadcastTo
#: before opset 8, and knows nothing after 11).
ONNX_OPSETS = (8, 9, 10, 11)

# -- Choi's taggers --------------------------------------------------------

#: MusicTaggerCRNN: zero frames added on each side of the time axis before
#: the input BN, and the (out_channels, pooling) of the four conv blocks.
CRNN_TIME_PADDING = 37
CRNN_BLOCKS = ((64, (2, 2)), (128, (3, 3)), (128, (4, 4)), (128, (4, 4)))
CRNN_GRU_UNITS = 32
#: Kernel size of the taggers' 'same' convolutions (3x3).
TAGGER_CONV_KERNEL = 3
#: MusicTaggerCNN: (out_channels, pooling) of the five conv blocks.
CNN_BLOCKS = ((32, (2, 4)), (128, (2, 4)), (128, (2, 4)), (192, (3, 5)),
              (256, (4, 4)))


# -- Keras-1 BatchNormalization, by Keras version and backend ---------------


class KerasPreset(collections.namedtuple(
        'KerasPreset',
        'name versions running_std divisor eps momentum')):
    """How one Keras-1 release (and backend) ran ``BatchNormalization``.

    ``running_std`` is what the layer stored in its ``running_std`` weight
    while training, and how it reads that weight: ``'std'`` (the running
    average of ``sqrt(var + eps)``) or ``'variance'`` (of the biased batch
    variance).  ``divisor`` is what ``x - mean`` is divided by, written
    with ``s`` for that value: the stored one at test time (mode 0), the
    batch's one in mode 2 (``sqrt(var + eps)`` or ``var``, as stored).
    The output is then ``* gamma + beta``.  ``eps`` and ``momentum`` are
    the layer's defaults in that release.  See
    :mod:`chainer_tagger.links.keras_batch_normalization`.
    """


#: The Keras-1 BatchNormalization semantics, read from the Keras source
#: (tags 1.0.3 to 1.2.2: keras/layers/normalization.py and both backends).
#: The weight files are the same whatever the version; what changes is
#: how ``running_std`` is read, where eps enters, and eps itself.
KERAS_PRESETS = collections.OrderedDict((p.name, p) for p in (
    # 1.0.3-1.0.5: the maths is in the layer, identical on both backends.
    KerasPreset('1.0.5', 'Keras 1.0.3-1.0.5, Theano or TensorFlow',
                'std', 's + eps', 1e-6, 0.9),
    # 1.0.6 moved it into the backends: Theano kept the std ...
    KerasPreset('1.0.6-theano', 'Keras 1.0.6, Theano',
                'std', 's + eps', 1e-6, 0.9),
    # ... TensorFlow's tf.nn.moments returns (mean, variance).
    KerasPreset('1.0.6-tensorflow', 'Keras 1.0.6, TensorFlow',
                'variance', 'sqrt(s + eps)', 1e-6, 0.9),
    # 1.0.7 "Unify BN behavior in TF and Theano": a variance on both, but
    # Theano's T.nnet.bn got sqrt(var) + eps; momentum 0.99.
    KerasPreset('1.0.7-theano', 'Keras 1.0.7, Theano',
                'variance', 'sqrt(s) + eps', 1e-6, 0.99),
    KerasPreset('1.0.7-tensorflow', 'Keras 1.0.7, TensorFlow',
                'variance', 'sqrt(s + eps)', 1e-6, 0.99),
    # 1.0.8: eps 1e-5 (cuDNN's minimum) and Theano's eps inside the sqrt.
    KerasPreset('1.1-theano', 'Keras 1.0.8-1.1.2, Theano',
                'variance', 'sqrt(s + eps)', 1e-5, 0.99),
    KerasPreset('1.1-tensorflow', 'Keras 1.0.8-1.1.2, TensorFlow',
                'variance', 'sqrt(s + eps)', 1e-5, 0.99),
    # 1.2.0: eps 1e-3 on both backends.
    KerasPreset('1.2', 'Keras 1.2.0-1.2.2, Theano or TensorFlow',
                'variance', 'sqrt(s + eps)', 1e-3, 0.99),
))

#: What the old ``running_std_is`` setting meant, as a preset: 'std' was
#: Keras <= 1.0.6 (eps 1e-6), 'variance' Keras 1.0.8-1.1.2 (eps 1e-5).
RUNNING_STD_ALIASES = {'std': '1.0.6-theano', 'variance': '1.1-theano'}

#: The preset of a Keras file that is not in the registry (nothing in a
#: Keras-1 weight file says which version wrote it): Keras 1.1, what the
#: registered files of later Keras ran with (and the former default).
DEFAULT_KERAS_PRESET = '1.1-theano'


def keras_preset(preset):
    """The :class:`KerasPreset` of a name (``'1.0.6-theano'``) or preset.

    Raises :class:`~chainer_tagger.errors.UsageError` naming the known
    presets for anything else.
    """
    if isinstance(preset, KerasPreset):
        return preset
    try:
        return KERAS_PRESETS[preset]
    except (KeyError, TypeError):
        raise UsageError('unknown Keras preset {!r}; known: {}'.format(
            preset, ', '.join(KERAS_PRESETS))) from None


#: Numeric precisions a model can run in: float32 (the default and the
#: fast CPU kernels) or float64 (reference runs).
PRECISIONS = ('float32', 'float64')

#: What to do with the MP3 decoder's delay (529 samples at the start):
#: 'remove' it, as the shipped melgrams were made, or 'keep' it, as
#: decoders without gapless information did on 2016 Linux machines.
DECODER_DELAY_CHOICES = ('remove', 'keep')


#: How a window that runs past the end of a clip is filled: with zeros, as
#: the original taggers did, or with the clip again from its start, so a
#: 15 s clip fills a 30 s window with music rather than silence.
WINDOW_FILLS = ('zeros', 'loop')


def check_fill(fill):
    """Return ``fill`` if it is one of :data:`WINDOW_FILLS` (a model
    file's setting), else raise
    :class:`~chainer_tagger.errors.ModelFileError`."""
    if fill not in WINDOW_FILLS:
        raise ModelFileError('input_fill must be one of {}, not {!r}'.format(
            ', '.join(WINDOW_FILLS), fill))
    return fill


class ClipInput(collections.namedtuple(
        'ClipInput', 'kind sample_rate n_samples fill',
        defaults=('zeros',))):
    """What one model input is made of.

    ``kind`` is ``'melgram'`` (Choi's log mel-spectrogram of ``n_samples``
    at ``sample_rate``) or ``'waveform'`` (the samples themselves);
    ``fill`` (one of :data:`WINDOW_FILLS`) says what a window holds past
    the end of a clip.
    """

    @property
    def seconds(self):
        return self.n_samples / float(self.sample_rate)


#: Windows spread over a clip whose class probabilities are averaged when a
#: genre classifier is evaluated (and, with a frozen body, the windows a
#: training run draws from).
DEFAULT_EVALUATION_WINDOWS = 8

#: Test clips per genre in the original 950/50 split of the full GTZAN.
DEFAULT_TEST_FRACTION = 0.05

#: The training recipe of each model (music2vec's head, or the CRNN's):
#: what ``train`` uses when ``--lr``, ``--epochs``, ``--dropout`` or
#: ``--heads`` is not given, and music2vec's input dropout, decoupled
#: weight decay and training gains (each training window is also seen
#: played this many dB louder or quieter: SoundNet's features change with
#: the level, and a head trained on one level lost to the probe on clips
#: 10 dB quieter; see ``benchmarks/music2vec_recipe.py``);
#: ``training.trainer.RECIPES`` (here so that ``train --help`` shows them
#: without importing the training machinery).
TRAINING_RECIPES = {
    'music2vec': {'lr': 3e-4, 'epochs': 60, 'dropout': 0.5, 'heads': 5,
                  'input_dropout': 0.3, 'decoupled_weight_decay': 1e-3,
                  'average_from': 0.5,
                  'training_gains_db': [6, -6, -12, -18]},
    'crnn': {'lr': 3e-3, 'epochs': 40, 'dropout': 0.3},
}

#: Trainer snapshots a training run keeps (the latest ones; each is
#: written completely before an older one is removed).
TRAINING_SNAPSHOTS_KEPT = 2

#: Inverse regularization strength of the linear probe's logistic
#: regression (scikit-learn's ``C``) on standardized features.
PROBE_C = 0.01

MELGRAM_INPUT = ClipInput('melgram', MELGRAM_SR, MELGRAM_SAMPLES)
WAVEFORM_INPUT = ClipInput('waveform', WAVEFORM_SR, WAVEFORM_SAMPLES)

# -- Label lists -----------------------------------------------------------

#: The 50 Last.fm tags of the Million Song Dataset models, in the order of
#: the output units of Choi's MusicTaggerCNN / MusicTaggerCRNN.
MSD_TAGS = (
    'rock', 'pop', 'alternative', 'indie', 'electronic', 'female vocalists',
    'dance', '00s', 'alternative rock', 'jazz', 'beautiful', 'metal',
    'chillout', 'male vocalists', 'classic rock', 'soul', 'indie rock',
    'Mellow', 'electronica', '80s', 'folk', '90s', 'chill', 'instrumental',
    'punk', 'oldies', 'blues', 'hard rock', 'ambient', 'acoustic',
    'experimental', 'female vocalist', 'guitar', 'Hip-Hop', '70s', 'party',
    'country', 'easy listening', 'sexy', 'catchy', 'funk', 'electro',
    'heavy metal', 'Progressive rock', '60s', 'rnb', 'indie pop', 'sad',
    'House', 'happy',
)

#: The 10 GTZAN genres, in the order of the GTZAN models' output units
#: (alphabetical, as in jsalbert's fine-tuned CRNN and music2vec).
GTZAN_GENRES = (
    'blues', 'classical', 'country', 'disco', 'hiphop', 'jazz', 'metal',
    'pop', 'reggae', 'rock',
)

VOCABULARIES = {'msd': MSD_TAGS, 'gtzan': GTZAN_GENRES}

# --- the library store and the tags written into files --------------------

#: ``PRAGMA application_id`` of a library database (``'CTLB'``): what tells
#: a chainer-tagger library from any other SQLite file.
LIBRARY_APPLICATION_ID = 0x43544C42
#: ``PRAGMA user_version``: the schema this release writes.  A database of
#: a higher version was written by a newer release and is refused; a
#: lower one is migrated when opened (``library.store.MIGRATIONS``).
#: 2: each file's embedding (``embeddings``) and the ``generations``
#: stamp that tells an index built from them that it is stale.
#: 3: every result's scores by tag (``scores``), for pages that filter and
#: sort by a tag's score.
LIBRARY_SCHEMA_VERSION = 3
#: Seconds a process waits for another one's write lock on the database.
LIBRARY_BUSY_SECONDS = 60

#: What a library run stores as each file's embedding for "more like
#: this" (``tag --db --embed-model``): rnn0-msd's 32 features (its second
#: GRU's state) of the centre window, each clip normalised on its own,
#: followed by the file's MFCC mean and standard deviation (72 values),
#: chosen by leave-one-out genre precision@5 on gtzan-mini
#: (``benchmarks/similarity_quality.py``; docs/guide/similar.rst).
DEFAULT_EMBED_MODEL = 'rnn0-msd+mfcc'
#: ``--embed-model NAME+mfcc``: the model's features fused with MFCCs.
FUSED_SUFFIX = '+mfcc'
#: The MFCCs of a fused embedding: librosa's defaults (2048-sample frames,
#: hop 512) at this rate, this many coefficients; mean and standard
#: deviation over the whole file.
SIMILARITY_MFCC = {'sr': 22050, 'n_mfcc': 20}
#: Similarity is the cosine of embeddings standardised over the library
#: and projected on their first principal axes (at most this many), which
#: keeps exact search of a million tracks fast without losing precision
#: (``benchmarks/similarity_scale.py``).
SIMILARITY_DIMENSIONS = 32
#: At most this many stored embeddings fit the principal axes (an evenly
#: spaced sample of a larger library): the axes settle long before.
SIMILARITY_PCA_SAMPLE = 20000
#: What the arrays of a similarity index saved beside a store mean; raised
#: when that changes, so an index saved by another release is rebuilt
#: rather than misread.
SIMILARITY_INDEX_FORMAT = 1
#: Neighbours listed per query by ``similar`` when ``-k`` is not given.
SIMILAR_TOP = 10
#: Neighbours ``similar`` asks the index for beyond ``-k``, as some may be
#: dropped: the query's own file under another name, or a second name of
#: a file already listed (links; asked again for more when too few).
SIMILAR_EXTRA = 8

#: Tags written into a file's metadata when ``--top`` is not given.
FILE_TAGS_TOP = 5
#: The metadata field of a model's tags is this prefix and the model's
#: name: ID3 ``TXXX:chainer-tagger:crnn-msd``, Vorbis comment
#: ``chainer-tagger:crnn-msd``, MP4 freeform
#: ``----:com.apple.iTunes:chainer-tagger:crnn-msd``.
FILE_TAGS_FIELD_PREFIX = 'chainer-tagger:'
#: The "mean" (namespace) of MP4 freeform atoms; iTunes' own, which
#: Picard, beets and foobar2000 show as custom fields.
MP4_FREEFORM_MEAN = 'com.apple.iTunes'


# -- Reading untrusted model and weight files -------------------------------

#: The Keras-1 BatchNormalization modes the taggers have (0: feature-wise
#: with moving statistics, 2: feature-wise with the batch's statistics).
KERAS_BN_MODES = (0, 2)
#: Classes a classifier may have, and the longest class name, in a model
#: file's ``tags`` (bounds what a hostile file can make us build).
MAX_CLASSES = 10000
MAX_CLASS_NAME = 200
#: The longest text a model file's setting may be.
MAX_SETTING_TEXT = 4096
#: A model file's ``_meta`` JSON: its size in bytes and how deep its
#: containers may nest (a probe's is 5 deep).
MODEL_META_MAX_BYTES = 1 << 20
MODEL_META_MAX_DEPTH = 16
#: Entries of a ``.npz`` (model file or training snapshot); the bytes one
#: entry whose shape the target cannot tell beforehand may declare, and
#: all entries together (entries the target can tell must have its shape).
NPZ_MAX_MEMBERS = 10000
NPZ_MAX_UNKNOWN_MEMBER_BYTES = 1 << 28
NPZ_MAX_TOTAL_BYTES = 1 << 30
#: The longest ``.npy`` header read (NumPy's own bound) and the largest
#: entry holding Python objects that is looked at (only ``None`` passes).
NPY_MAX_HEADER_BYTES = 10000
NPZ_MAX_OBJECT_MEMBER_BYTES = 1 << 16
#: How deep the ``layer_names`` of a Keras-1 weight file may nest groups.
KERAS_MAX_NESTING = 8
#: The HDF5 filters a weight file's datasets may use (gzip, shuffle,
#: fletcher32, szip, nbit, scaleoffset, lzf): built in, so no plugin is
#: loaded to decode them.
HDF5_BUILTIN_FILTERS = (1, 2, 3, 4, 5, 6, 32000)

# --- serve: the library's web page ------------------------------------------

#: Where ``serve`` listens unless told otherwise: this machine only.
WEB_HOST = '127.0.0.1'
WEB_PORT = 8765
#: Tracks on one page of the list, and the most a page may ask for.
WEB_PAGE_SIZE = 50
WEB_MAX_PAGE_SIZE = 500
#: Tags shown beside each track in the list (the track's page shows all).
WEB_TOP_TAGS = 5
#: Tracks listed under "more like this".
WEB_SIMILAR = 10


def resolve_tags(tags):
    """Return a tuple of tag names from a vocabulary name or a sequence."""
    if isinstance(tags, str):
        try:
            return VOCABULARIES[tags]
        except KeyError:
            raise ModelFileError('unknown tag vocabulary {!r} (known: {})'
                                 .format(tags, ', '.join(sorted(
                                     VOCABULARIES)))) from None
    return tuple(tags)
