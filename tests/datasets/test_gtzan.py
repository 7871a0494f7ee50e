"""The GTZAN loader: layout, deterministic split, cache, bad clips."""
import numpy as np
import pytest

from chainer_tagger.audio import load_audio
from chainer_tagger.datasets.gtzan import (GTZAN, DatasetError, find_clips,
                                           stratified_split)

from conftest import SHARED
from gtzan_fixture import make_tiny_gtzan


def waveform_feature():
    """The decoded clip, as it is."""
    def feature(path):
        return load_audio(path)[0]
    return feature


def test_split_is_950_50_on_the_full_set_and_deterministic():
    labels = np.repeat(np.arange(10), 100)
    train, test = stratified_split(labels, seed=0)
    assert (len(train), len(test)) == (950, 50)
    assert np.bincount(labels[test]).tolist() == [5] * 10
    assert not set(train) & set(test)
    again = stratified_split(labels, seed=0)
    assert np.array_equal(again[1], test)
    assert not np.array_equal(stratified_split(labels, seed=1)[1], test)


def test_split_of_a_small_set_keeps_every_genre_in_both_parts():
    labels = np.repeat(np.arange(10), 7)  # gtzan-mini
    train, test = stratified_split(labels, 0.3, seed=0)
    assert np.bincount(labels[test]).tolist() == [2] * 10
    assert np.bincount(labels[train]).tolist() == [5] * 10


@pytest.mark.shared
def test_finds_the_shared_mini_collection():
    clips = find_clips(SHARED / 'gtzan-mini')
    assert len(clips) == 70
    assert clips[0][0].name == 'blues.00000.wav' and clips[0][1] == 0
    assert clips[-1][0].name == 'rock.00006.wav' and clips[-1][1] == 9


def test_cache_avoids_decoding_twice_and_bad_clips_warn(tmp_path):
    root = make_tiny_gtzan(tmp_path / 'data', unreadable=True)
    calls = []
    decode = waveform_feature()

    def feature(path):
        calls.append(path)
        return decode(path)
    with pytest.warns(UserWarning, match='blues.00099.wav'):
        first = GTZAN(root, feature, 'wave', tmp_path / 'cache',
                      progress=False)
    assert len(first) == 8 and len(first.skipped) == 1
    n_calls = len(calls)
    with pytest.warns(UserWarning):
        second = GTZAN(root, feature, 'wave', tmp_path / 'cache',
                       progress=False)
    assert len(calls) == n_calls + 1  # only the broken clip is tried again
    np.testing.assert_array_equal(second.feature(3), first.feature(3))
    assert first.feature(0).dtype == np.float32
    assert second.labels[5] == 1 and second.feature(5).shape == (44100,)


def test_empty_folder_is_a_clear_error(tmp_path):
    with pytest.raises(DatasetError, match='no clips found'):
        find_clips(tmp_path)


def test_truncated_feature_cache_file_is_rebuilt(tmp_path):
    """A cached .npy cut short (``mmap length is greater than file size``)
    is decoded again, with a warning; leftovers of killed writes go."""
    from chainer_tagger.errors import ChainerTaggerWarning
    root = make_tiny_gtzan(tmp_path / 'data')
    first = GTZAN(root, waveform_feature(), 'wave', tmp_path / 'cache',
                  progress=False)
    want = np.array(first.feature(2))
    cached = first._cached(first.paths[2])
    cached.write_bytes(cached.read_bytes()[:1000])
    (tmp_path / 'cache' / '.partial-killed.npy').write_bytes(b'x')
    with pytest.warns(ChainerTaggerWarning, match='damaged'):
        second = GTZAN(root, waveform_feature(), 'wave', tmp_path / 'cache',
                       progress=False)
    np.testing.assert_array_equal(second.feature(2), want)
    assert not (tmp_path / 'cache' / '.partial-killed.npy').exists()


def test_feature_cache_folder_that_is_a_file(tmp_path):
    from chainer_tagger.errors import FolderError
    root = make_tiny_gtzan(tmp_path / 'data')
    (tmp_path / 'cache').write_text('a file')
    with pytest.raises(FolderError, match='exists and is not a folder'):
        GTZAN(root, waveform_feature(), 'wave', tmp_path / 'cache',
              progress=False)


def test_genre_folders_are_matched_without_regard_to_case(tmp_path):
    """``Blues/`` and ``CLASSICAL/`` hold the blues and classical clips:
    a folder that differs from a genre only by case is not dropped."""
    root = make_tiny_gtzan(tmp_path / 'data', genres=('Blues', 'CLASSICAL'))
    clips = find_clips(root)
    assert [label for _, label in clips] == [0] * 4 + [1] * 4
    assert clips[4][0].parent.name == 'CLASSICAL'


def _doubtful_folder(root):
    """Two genres of 2 s clips, with a 0.2 s clip, a silent one, one whose
    WAV header promises 4 s of which 1.5 s remain, and one whose name holds
    a newline."""
    import soundfile as sf
    root = make_tiny_gtzan(root)
    blues = root / 'genres' / 'blues'
    t = np.arange(int(0.2 * 22050)) / 22050
    sf.write(blues / 'blues.00010.wav',
             (0.4 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 22050,
             subtype='PCM_16')
    sf.write(blues / 'blues.00011.wav', np.zeros(2 * 22050, np.float32),
             22050, subtype='PCM_16')
    t = np.arange(4 * 22050) / 22050
    sf.write(blues / 'blues.00012.wav',
             (0.4 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 22050,
             subtype='PCM_16')
    data = (blues / 'blues.00012.wav').read_bytes()
    (blues / 'blues.00012.wav').write_bytes(data[:44 + 2 * int(1.5 * 22050)])
    (blues / 'blues.00000.wav').rename(blues / 'blues.0\n0000.wav')
    return root


def test_clips_tag_would_warn_about_are_named_once_each(tmp_path):
    """What ``tag`` says of a clip (audio/quality.py: mostly the clip
    repeated, silent, cut short) is measured once, cached, and said of
    each such clip, its name on one line."""
    from chainer_tagger.configuration import ClipInput
    from chainer_tagger.training.probe import warn_about_clips
    import warnings
    root = _doubtful_folder(tmp_path / 'data')
    one_second = ClipInput('waveform', 22050, 22050, 'loop')
    calls = []

    def feature(path):
        calls.append(path)
        return load_audio(path)[0]
    for attempt in range(2):  # measured once, then from the cache
        gtzan = GTZAN(root, feature, 'wave', tmp_path / 'cache',
                      progress=False, measure=True)
        found = dict(gtzan.quality_warnings(one_second))
        assert sorted(found) == ['blues/blues.00010.wav',
                                 'blues/blues.00011.wav',
                                 'blues/blues.00012.wav']
        assert found['blues/blues.00010.wav'] == [
            '0.2 s of audio: repeated to fill the 1.00 s window (80 % of '
            'it is the clip again)']
        assert found['blues/blues.00011.wav'] == [
            'silent (no signal): the scores are those of silence']
        [cut] = found['blues/blues.00012.wav']
        assert cut.startswith('decoding stopped at 1.5 s of 4.0 s')
    assert len(calls) == 11  # decoded once each
    # The 30 s windows of music2vec: every 2 s clip is mostly repeats.
    long_window = ClipInput('waveform', 22050, 30 * 22050, 'loop')
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        warn_about_clips(gtzan, long_window)
    lines = [str(w.message) for w in caught]
    assert len(lines) == 11 and all('\n' not in line for line in lines)
    assert lines[0].startswith('training clip blues/blues.0\\n0000.wav: '
                               '2.0 s of audio: repeated')
    assert sum('blues.00011.wav' in line for line in lines) == 1
