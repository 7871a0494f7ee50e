"""Tags written into audio files: read back by mutagen, the audio data
bit-identical (decoded, and as bytes), nothing written where it must not
be."""
import os
import stat
import struct

import mutagen
import numpy as np
import pytest
import soundfile as sf
from mutagen.id3 import ID3, TIT2
from mutagen.mp4 import MP4

from chainer_tagger.library import file_tags
from chainer_tagger.library.file_identity import FileIdentity, identify

from library_fixture import write_clip

FIELD = file_tags.field_name('crnn-msd')
RESULT = {'tags': [{'tag': 'jazz', 'score': 0.29912},
                   {'tag': 'female vocalists', 'score': 0.1004},
                   {'tag': 'rock', 'score': 0.05}]}
VALUES = file_tags.tag_values(RESULT, 2)


def flac_frames(data):
    """The bytes after a FLAC file's metadata blocks (4-byte headers:
    last-block flag, type, 24-bit length), by the format's definition."""
    assert data[:4] == b'fLaC'
    pos, last = 4, False
    while not last:
        last = bool(data[pos] & 0x80)
        pos += 4 + int.from_bytes(data[pos + 1:pos + 4], 'big')
    return data[pos:]


def id3_size(data):
    """Bytes of the ID3v2 tag at the start of ``data`` (header included)."""
    assert data[:3] == b'ID3'
    size = 0
    for b in data[6:10]:
        size = (size << 7) | b
    return 10 + size


def test_names_and_values():
    assert FIELD == 'chainer-tagger:crnn-msd'
    assert file_tags.field_name('runs/best model.npz') == \
        'chainer-tagger:best_model'
    assert VALUES == ['jazz 0.299', 'female vocalists 0.100']
    assert file_tags.parse_values(VALUES) == [('jazz', 0.299),
                                              ('female vocalists', 0.1)]


@pytest.mark.parametrize('ext', ['mp3', 'flac'])
def test_tags_round_trip_and_the_audio_stays_bit_identical(tmp_path, ext):
    path = write_clip(tmp_path / ('song.' + ext), seed=3)
    original = path.read_bytes()
    decoded, sr = sf.read(path, dtype='int16')
    out = file_tags.write_tags(path, FIELD, VALUES, genre='jazz')
    assert out.status == 'written'
    assert out.changes == {FIELD: VALUES, 'genre': ['jazz']}
    assert out.identity == identify(path)
    # What players read: the field and the genre, through mutagen itself.
    audio = mutagen.File(path)
    if ext == 'mp3':
        assert audio.tags.getall('TXXX:' + FIELD)[0].text == VALUES
        assert audio.tags.getall('TCON')[0].text == ['jazz']
    else:
        assert audio.tags[FIELD] == VALUES
        assert audio.tags['GENRE'] == ['jazz']
    assert file_tags.read_fields(path, FIELD) == (VALUES, ['jazz'])
    # The audio decodes to the same samples ...
    again, sr_again = sf.read(path, dtype='int16')
    assert sr_again == sr and np.array_equal(again, decoded)
    # ... and its bytes are the same bytes.
    new = path.read_bytes()
    if ext == 'mp3':
        assert original[:2] == b'\xff\xe3'  # no tag before: frames only
        assert new[id3_size(new):] == original
    else:
        assert flac_frames(new) == flac_frames(original)
        assert len(flac_frames(original)) > 1000
    # Writing the same tags again changes nothing.
    assert file_tags.write_tags(path, FIELD, VALUES,
                                genre='jazz').status == 'unchanged'
    assert path.read_bytes() == new


def test_other_tags_are_kept_and_the_field_replaced(tmp_path):
    path = write_clip(tmp_path / 'song.mp3', seed=4)
    tags = ID3()
    tags.add(TIT2(encoding=3, text=['My song']))
    tags.save(path)
    file_tags.write_tags(path, FIELD, ['old 0.500'])
    file_tags.write_tags(path, FIELD, VALUES)
    tags = ID3(path)
    assert tags.getall('TIT2')[0].text == ['My song']
    assert len(tags.getall('TXXX:' + FIELD)) == 1
    assert tags.getall('TXXX:' + FIELD)[0].text == VALUES
    assert tags.getall('TCON') == []  # the genre only when asked


def _tiny_m4a(path, payload):
    """A minimal MP4 (ftyp, moov with one sound track, mdat): enough for
    mutagen to read and write its tags."""
    def atom(kind, body):
        return struct.pack('>I', 8 + len(body)) + kind + body
    mvhd = atom(b'mvhd', bytes(12) + struct.pack('>II', 1000, 1000) +
                bytes(80))
    mdhd = atom(b'mdhd', bytes(12) + struct.pack('>II', 8000, 8000) +
                bytes(4))
    hdlr = atom(b'hdlr', bytes(8) + b'soun' + bytes(13))
    stco = atom(b'stco', bytes(4) + struct.pack('>II', 1, 0))
    trak = atom(b'trak', atom(b'mdia', mdhd + hdlr + atom(
        b'minf', atom(b'stbl', stco))))
    path.write_bytes(atom(b'ftyp', b'M4A \0\0\0\0M4A isom') +
                     atom(b'moov', mvhd + trak) + atom(b'mdat', payload))
    return path


def test_ogg_and_m4a_keep_their_audio_packets(tmp_path):
    ogg = write_clip(tmp_path / 'song.ogg', seed=5)
    decoded = sf.read(ogg, dtype='float32')[0]
    digest = file_tags.audio_digest(ogg)
    assert file_tags.write_tags(ogg, FIELD, VALUES).status == 'written'
    assert mutagen.File(ogg).tags[FIELD] == VALUES
    assert file_tags.audio_digest(ogg) == digest
    assert np.array_equal(sf.read(ogg, dtype='float32')[0], decoded)

    payload = np.random.RandomState(0).bytes(5000)
    m4a = _tiny_m4a(tmp_path / 'song.m4a', payload)
    assert file_tags.write_tags(m4a, FIELD, VALUES,
                                genre='jazz').status == 'written'
    tags = MP4(m4a).tags
    assert [bytes(v).decode() for v in
            tags['----:com.apple.iTunes:' + FIELD]] == VALUES
    assert tags['\xa9gen'] == ['jazz']
    data = m4a.read_bytes()
    assert data.count(payload) == 1
    assert data[data.index(payload) - 4:data.index(payload)] == b'mdat'


def test_a_read_only_file_is_reported_and_left_alone(tmp_path):
    path = write_clip(tmp_path / 'song.flac', seed=6)
    os.chmod(path, 0o444)
    before = path.read_bytes()
    out = file_tags.write_tags(path, FIELD, VALUES)
    assert out.status == 'failed' and 'read-only (mode 0444)' in out.reason
    assert path.read_bytes() == before
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o444
    # A dry run says so too, rather than promising a write.
    assert file_tags.write_tags(path, FIELD, VALUES,
                                dry_run=True).status == 'failed'
    assert os.listdir(tmp_path) == ['song.flac']


def test_a_file_changed_since_it_was_tagged_is_not_touched(tmp_path):
    path = write_clip(tmp_path / 'song.mp3', seed=7)
    when_tagged = identify(path, with_hash=True)
    write_clip(path, seed=8)  # replaced after tagging
    before = path.read_bytes()
    out = file_tags.write_tags(path, FIELD, VALUES, expected=when_tagged)
    assert out.status == 'failed' and 'changed since it was tagged' in \
        out.reason
    assert path.read_bytes() == before
    # Same size and mtime, other bytes: caught when a sha256 is known.
    st = os.stat(path)
    forged = FileIdentity(st.st_size, st.st_mtime_ns, '0' * 64)
    out = file_tags.write_tags(path, FIELD, VALUES, expected=forged)
    assert out.status == 'failed' and 'sha256' in out.reason
    assert path.read_bytes() == before


def test_a_write_that_would_change_the_audio_is_dropped(tmp_path,
                                                        monkeypatch):
    path = write_clip(tmp_path / 'song.flac', seed=9)
    before = path.read_bytes()
    digests = iter(['before', 'after'])
    container = file_tags.CONTAINERS['.flac']
    monkeypatch.setattr(container, 'digest', lambda f: next(digests))
    out = file_tags.write_tags(path, FIELD, VALUES)
    assert out.status == 'failed' and 'would change the audio' in out.reason
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ['song.flac']  # no copy left behind


def test_dry_run_permissions_links_and_formats_without_tags(tmp_path):
    path = write_clip(tmp_path / 'song.mp3', seed=10)
    os.chmod(path, 0o640)
    before = path.read_bytes()
    out = file_tags.write_tags(path, FIELD, VALUES, dry_run=True)
    assert out.status == 'would write' and out.changes == {FIELD: VALUES}
    assert path.read_bytes() == before
    link = tmp_path / 'link.mp3'
    link.symlink_to(path)
    assert file_tags.write_tags(link, FIELD, VALUES).status == 'written'
    assert link.is_symlink()
    assert file_tags.read_fields(path, FIELD)[0] == VALUES
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    wav = write_clip(tmp_path / 'song.wav', seed=11)
    out = file_tags.write_tags(wav, FIELD, VALUES)
    assert out.status == 'skipped' and '.mp3' in out.reason
