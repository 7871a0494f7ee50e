"""What mutation testing of ``audio/resample.py`` found untested: the
bound on the filter's reach that windowed reads rely on, multichannel and
unusual rate pairs (resampy's loop), the shortest signals, and the same
rate (synthetic signals only)."""
import numpy as np
import pytest
import resampy

from chainer_tagger.audio.resample import (MAX_PHASES, _filter, check_rates,
                                           _resample_polyphase,
                                           kaiser_best_2016,
                                           filter_half_width, phase_period,
                                           resample)

RATES = [(44100, 12000), (22050, 12000), (8000, 22050)]


@pytest.mark.parametrize('rates', RATES)
def test_filter_half_width_bounds_the_reach_of_an_output_sample(rates):
    """An input sample ``filter_half_width`` or more input samples away
    from an output sample's position never changes it, and the bound is
    within two samples of the filter's real reach (downsampling and
    upsampling alike: the filter is stretched by ``sr_new / sr_orig`` only
    when that is below 1)."""
    sr_orig, sr_new = rates
    hw = filter_half_width(sr_orig, sr_new)
    down, up = phase_period(sr_orig, sr_new)
    n = 8 * hw + 4 * down
    reach = 0
    for t in sorted({3 * up + k for k in range(0, up, max(1, up // 5))}):
        position = t * sr_orig / sr_new
        centre = int(position)
        for k in range(centre - hw - 2, centre + hw + 3):
            y = np.zeros(n, np.float32)
            y[k] = 1
            if resample(y, sr_orig, sr_new)[t] != 0:
                assert abs(k - position) < hw, (t, k)
                reach = max(reach, abs(k - position))
    assert reach > hw - 3


def test_multichannel_signals_go_through_resampy_like_each_channel():
    """(channels, samples) is resampled along the last axis to the 2016
    length (``ceil``), each channel as a 1-D signal is; resampy gives the
    ``floor`` length and librosa 2016's ``fix_length`` a zero after it.
    (The 1-D polyphase path interpolates that last sample instead, against
    the zero-padded end, as windowed reads do: not compared here.)"""
    y = np.random.RandomState(0).uniform(-1, 1, (2, 4411)).astype(np.float32)
    out = resample(y, 44100, 12000)
    assert out.shape == (2, int(np.ceil(4411 * 12000 / 44100)))
    for channel in range(2):
        np.testing.assert_allclose(out[channel, :-1],
                                   resample(y[channel], 44100, 12000)[:-1],
                                   atol=2e-6)
    # resampy's floor length, padded with zeros to the ceil length.
    theirs = resampy.resample(y, 44100, 12000, filter=_filter, axis=-1)
    assert theirs.shape[1] == out.shape[1] - 1
    np.testing.assert_array_equal(out[:, -1], 0)


def test_rate_pairs_with_many_phases_equal_resampy():
    """A rate pair with more than ``MAX_PHASES`` phases takes resampy's
    loop and gives the same samples and length."""
    sr_orig, sr_new = 44100, 12007
    assert phase_period(sr_orig, sr_new)[1] > MAX_PHASES
    y = np.random.RandomState(1).uniform(-1, 1, 5003).astype(np.float32)
    out = resample(y, sr_orig, sr_new)
    theirs = resampy.resample(y, sr_orig, sr_new, filter=_filter)
    assert len(out) == int(np.ceil(len(y) * sr_new / sr_orig))
    np.testing.assert_allclose(out[:len(theirs)], theirs, atol=1e-6)


def test_shortest_signals():
    """One output sample is enough; none is refused with the reason."""
    assert len(resample(np.ones(4, np.float32), 44100, 12000)) == 2
    with pytest.raises(ValueError, match='3 samples is too short to '
                       'resample from 44100 Hz to 12000 Hz'):
        resample(np.ones(3, np.float32), 44100, 12000)


def test_the_cached_filter_table_is_read_only():
    """Callers get the cached table itself: it cannot be changed in place
    (resampy gets a copy, which it may)."""
    window, _, _ = kaiser_best_2016()
    assert not window.flags.writeable
    with pytest.raises(ValueError):
        window[0] = 0
    assert _filter()[0].flags.writeable


def test_same_rate_is_the_signal_itself():
    y = np.arange(5, dtype=np.float32)
    assert resample(y, 22050, 22050) is y


def test_polyphase_blocks_join_seamlessly():
    """Output computed in blocks of rows (bounded memory) equals one block,
    across block boundaries and at a ragged last block."""
    y = np.random.RandomState(2).uniform(-1, 1, 44100).astype(np.float32)
    n_out = int(np.ceil(len(y) * 12000 / 44100))
    whole = _resample_polyphase(y, 44100, 12000, n_out, block=10 ** 6)
    assert len(whole) == n_out
    np.testing.assert_allclose(
        _resample_polyphase(y, 44100, 12000, n_out, block=7), whole,
        atol=1e-6)
    np.testing.assert_array_equal(resample(y, 44100, 12000), whole)


@pytest.mark.parametrize('rates', [(0, 12000), (44100, 0), (-1, 12000),
                                   (44100, -12000), (-1, -1)])
def test_rates_that_are_not_positive_are_refused(rates):
    with pytest.raises(ValueError, match=r'^cannot resample from -?\d+ Hz '
                       r'to -?\d+ Hz: sample rates must be positive$'):
        check_rates(*rates)


def test_at_most_512_to_1_down():
    """The 2016 table has 512 entries per zero crossing: 512:1 down still
    leaves one per output sample, 513:1 none.  A rate of 1 Hz is a rate."""
    for rates in [(1, 1), (512, 1), (1, 512), (512000, 1000)]:
        check_rates(*rates)
    for rates in [(513, 1), (513000, 1000)]:
        with pytest.raises(ValueError, match=r'^cannot resample from \d+ Hz '
                           r'to \d+ Hz: more than 512:1 down$'):
            check_rates(*rates)
