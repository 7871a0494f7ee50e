"""Computing inputs on a few threads ahead of the model."""
import collections
import concurrent.futures

from chainer_tagger.errors import InputError


def prefetch(function, items, workers, depth):
    """``(item, function(item))`` in order, computed on ``workers`` threads
    at most ``depth`` items ahead; an :class:`InputError` is returned in
    place of the result, so one bad input never stops the others.

    Decoding, resampling and the STFT release the GIL, so feature
    extraction overlaps the forward pass while memory stays bounded.
    """
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        pending = collections.deque()
        items = iter(items)
        for item in items:
            pending.append((item, pool.submit(function, item)))
            if len(pending) >= depth:
                break
        while pending:
            item, future = pending.popleft()
            try:
                result = future.result()
            except InputError as e:
                result = e
            yield item, result
            for nxt in items:
                pending.append((nxt, pool.submit(function, nxt)))
                break
