"""`chainer-tagger doctor` on a machine without a GPU."""
import chainer

from chainer_tagger.cli import main


def test_doctor_prints_what_chainer_sees(capsys, monkeypatch):
    monkeypatch.setattr(chainer.backends.cuda, 'available', False)
    assert main(['doctor']) == 0
    out = capsys.readouterr().out
    assert 'chainer.backends.cuda.available  False' in out
    assert out.splitlines()[-1].startswith('verdict: CPU only')
