"""Audio in, model inputs out: decoding, 2016 resampling, windows, Choi's
melgram, and finding the files to work on.  No Chainer here."""
from chainer_tagger.audio.decode import (  # NOQA
    MP3_DECODER_DELAY, AudioSource, load_audio)
from chainer_tagger.audio.discovery import (  # NOQA
    AUDIO_EXTENSIONS, SCAN_RULE, expand_paths)
from chainer_tagger.audio.inputs import (  # NOQA
    FileInput, Window, clip_windows, open_input, read_input,
    read_melgram_npy, window_input)
from chainer_tagger.audio.melgram import (  # NOQA
    log_melgram, melgram, melgram_windows, window_melgram)
