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
