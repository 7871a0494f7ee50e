"""What each command does, one module per command group (the arguments
are in the group's module of :mod:`chainer_tagger.cli`), and the checks of
output paths that scan the inputs (:mod:`~chainer_tagger.cli.run.outputs`).

These modules import the numerical stack (Chainer, NumPy, librosa...);
the CLI imports one only when its command runs
(:data:`chainer_tagger.cli.COMMANDS`), so ``--help`` stays fast.
"""
