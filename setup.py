"""The metadata is in setup.cfg.  This file only adds the start-up hook
``chainer_tagger_cuda.pth`` to site-packages (see ``_chainer_tagger_cuda``):
setuptools has no setting that installs a ``.pth`` file."""
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

PTH = 'chainer_tagger_cuda.pth'


class BuildPyWithPth(build_py):
    """``build_py`` that also puts the ``.pth`` file at the top of the
    wheel, for regular and editable installs alike."""

    def run(self):
        super().run()
        top = self.build_lib
        if getattr(self, 'editable_mode', False):
            # An editable wheel (setuptools >= 64) holds what `install`
            # writes into the unpacked wheel, not build_lib's files.
            top = self.get_finalized_command('install').install_lib
        self.copy_file(str(Path(__file__).parent / PTH),
                       str(Path(top) / PTH), preserve_mode=0)

    def get_outputs(self, include_bytecode=1):
        return super().get_outputs(include_bytecode) + [
            str(Path(self.build_lib) / PTH)]


setup(cmdclass={'build_py': BuildPyWithPth})
