"""A tiny GTZAN-layout folder made on the fly (synthetic clips)."""
import numpy as np
import soundfile as sf

SR = 22050


def make_tiny_gtzan(root, genres=('blues', 'classical'), per_genre=4,
                    seconds=2.0, unreadable=False):
    rng = np.random.RandomState(0)
    t = np.arange(int(seconds * SR)) / SR
    for g, genre in enumerate(genres):
        folder = root / 'genres' / genre
        folder.mkdir(parents=True)
        for i in range(per_genre):
            if g % 2 == 0:  # tonal
                y = 0.4 * np.sin(2 * np.pi * (220 + 30 * i) * t)
            else:  # noisy
                y = 0.3 * rng.uniform(-1, 1, len(t))
            sf.write(folder / '{}.{:05d}.wav'.format(genre, i),
                     y.astype(np.float32), SR, subtype='PCM_16')
    if unreadable:
        (root / 'genres' / genres[0] / '{}.00099.wav'.format(
            genres[0])).write_bytes(b'RIFF\x00\x00broken')
    return root
