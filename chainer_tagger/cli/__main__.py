import sys

from chainer_tagger.cli import main

sys.exit(main())
