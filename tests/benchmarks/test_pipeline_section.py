"""The pipeline benchmark's report (``benchmarks/run.py --pipeline``),
from a row written by hand: the ratios asked for, the floor of the ratio
on the machine's cores, and the split table."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / 'benchmarks'))
import recording  # noqa: E402
import run  # noqa: E402

ROW = {'files': 48, 'cpus': 2, 'window_only_from': 40,
       'steps': {'decode': 0.0178, 'resample': 0.0093, 'melgram': 0.0053,
                 'measure': 0.0035},
       'song_decode': {'window': 0.0327, 'whole': 0.1473},
       'forward_b16': 0.0403, 'forward_b16_cpu': 0.0795,
       'flop_per_clip': 6.46e9, 'end_to_end': 0.0618,
       'end_to_end_cpu': 0.119, 'model_in_run': 0.0549, 'peak_rss_mib': 700}


def test_the_report_states_the_ratios_and_the_floor(capsys):
    recorder = recording.Recorder('pipeline')
    run.pipeline_section(ROW, {'scipy': 222.0, 'one_core_cpu': 119.0},
                         recorder)
    lines = capsys.readouterr().out.splitlines()
    assert 'ratio 1.53 (goal <= 1.3)' in lines[0]
    assert '72 % of the float32 GEMM rate' in lines[1]
    # (79.5 + 35.9) CPU-ms over 2 cores x 40.3 ms.
    assert lines[3].startswith('the ratio cannot go below 1.43 on these 2 '
                               'cores')
    assert '32.7 CPU-ms for the window' in lines[4]
    assert 'against 147.3 for the whole file (files under 40 s' in lines[4]
    [table] = recorder.tables
    rows = {r[0]: r[1] for r in table['rows']}
    assert rows['decode (CPU, one thread)'] == '17.8'
    assert rows['end to end: wall'] == '61.8'
