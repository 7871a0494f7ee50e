"""Tag vocabularies of the published models."""

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
