"""What ``similar`` does (its arguments: :mod:`chainer_tagger.cli.similar`)."""
from chainer_tagger.atomic_file import write_text_atomic
from chainer_tagger.cli.common import print_stderr, write_stdout
from chainer_tagger.cli.run.outputs import check_outputs
from chainer_tagger.library.similarity import LibrarySimilarity, render


def run_similar(args):
    check_outputs([('-o', args.output)], read=[args.db] + list(args.paths))
    with LibrarySimilarity(args.db, args.embed_model, gpu=args.gpu,
                           batch_size=args.batch_size,
                           decoder_delay=args.decoder_delay) as library:
        answers = library.similar(args.paths, args.k)
    text = render(answers, args.format)
    if args.output:
        write_text_atomic(args.output, text)
    else:
        write_stdout(text)
    failed = [a for a in answers if 'error' in a]
    for a in failed:
        print_stderr('error: {}'.format(a['error']))
    return 1 if failed else 0
