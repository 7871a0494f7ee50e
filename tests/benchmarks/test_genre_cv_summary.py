"""The protocol's results table (``benchmarks/genre_cv.py``), from fold
results written by hand: every model gets its row, and a trained model is
paired with its own probe fold by fold."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / 'benchmarks'))
import genre_cv  # noqa: E402
import recording  # noqa: E402


def _run(seed, fold, accuracy, quiet, band):
    return {'seed': seed, 'fold': fold, 'accuracy': accuracy, 'n_test': 10,
            'train_seconds': 100.0,
            'perturbed': {'-10 dB': quiet, 'band 150-5000 Hz': band}}


RESULTS = {
    'probe:soundnet8': [_run(1, 0, 0.6, 0.5, 0.4), _run(1, 1, 0.4, 0.4, 0.3),
                        _run(2, 0, 0.5, 0.5, 0.5)],
    'music2vec': [_run(1, 0, 0.7, 0.4, 0.5), _run(1, 1, 0.4, 0.5, 0.3),
                  _run(2, 0, 0.8, 0.5, 0.7)],
}


def test_every_model_has_its_row_with_the_paired_differences():
    # A loop variable once shadowed the row-name function: the table failed
    # after its first model.
    recorder = recording.Recorder('genre_cv')
    genre_cv.summary_table(RESULTS, recorder, [1, 2])
    [table] = recorder.tables
    rows = {row[0]: row for row in table['rows']}
    assert set(rows) == {'probe on soundnet8', 'music2vec'}
    m2v = rows['music2vec']
    # Pooled accuracy of each seed: (7 + 4) / 20 and 8 / 10.
    assert m2v[1:3] == ['0.550', '0.800']
    # Differences +0.1, 0, +0.3: mean, population std, won/tied/lost.
    assert m2v[4] == '+0.133 ± 0.125, 2/1/0'
    # The perturbed conditions: mean, then the paired difference.
    assert m2v[5] == '0.467, +0.000'
    assert m2v[6] == '0.500, +0.100'
    assert rows['probe on soundnet8'][4] == ''


def test_the_console_summary_pools_each_seed():
    text = genre_cv.summary(RESULTS)
    assert 'seed 1: 0.550, seed 2: 0.800' in text
    assert text.count('\n') == 1
