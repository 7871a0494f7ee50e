"""One training step, single-process or data-parallel under mpiexec.

    python distributed_step.py single MODEL OUT.npz
    mpiexec -n 2 python distributed_step.py mpi MODEL OUT.npz

MODEL is 'music2vec' or 'crnn'.  Dropout is off; batch statistics are
global in the MPI run.  Writes the updated parameters (rank 0).
"""
import sys

import numpy as np

import chainer
import chainer.links as L


def main(mode, model, out):
    from chainer_tagger.models import Music2Vec, MusicTaggerCRNN
    from chainer_tagger.configuration import WAVEFORM_SAMPLES as N_SAMPLES
    from chainer_tagger.training.inputs import Logits
    from chainer_tagger.training import seed_everything
    seed_everything(0)
    rng = np.random.RandomState(1)
    if model == 'music2vec':
        net = Music2Vec(dropout=0.0, soundnet='soundnet8')
        x = rng.uniform(-0.3, 0.3, (4, N_SAMPLES)).astype(np.float32)
    else:
        net = MusicTaggerCRNN(tags='gtzan')
        net.feature_dropout = 0.0
        for i in range(1, 5):
            net['block{}'.format(i)].dropout = 0.0
        x = rng.normal(-20, 15, (4, 1, 96, 1366)).astype(np.float32)
    t = np.array([0, 3, 5, 9], np.int32)
    opt = chainer.optimizers.SGD(lr=0.01)
    if mode == 'mpi':
        import chainermn
        from chainer_tagger.training.distributed import make_batch_norm_global
        comm = chainermn.create_communicator('naive')
        make_batch_norm_global(net, comm)
        opt = chainermn.create_multi_node_optimizer(opt, comm)
        part = slice(2 * comm.rank, 2 * comm.rank + 2)
        x, t = x[part], t[part]
        rank = comm.rank
    else:
        rank = 0
    classifier = L.Classifier(Logits(net))
    opt.setup(classifier)
    if rank == 0:
        np.savez(out.replace('.npz', '-init.npz'),
                 **{name: p.array for name, p in net.namedparams()})
    if mode == 'mpi':
        # ChainerMN's first update only broadcasts rank 0's parameters.
        opt.update()
    with chainer.using_config('train', True):
        opt.update(classifier, x, t)
    if rank == 0:
        np.savez(out, **{name: p.array for name, p in net.namedparams()})


if __name__ == '__main__':
    main(*sys.argv[1:])
