"""Run one function over many items in worker processes, with an optional tqdm progress bar."""
import multiprocessing

from tqdm import tqdm


def run_parallel(function, items, workers, desc, unit='image', initializer=None, progress=False):
    """Yield ``function(item)`` for each item, in order; ``workers`` > 1 uses a multiprocessing Pool.

    ``initializer`` runs once in each worker process (not in this process when ``workers`` <= 1).
    ``progress`` shows a tqdm bar on stderr (labelled ``desc``, counted in ``unit``) when it is a terminal;
    the library is silent by default, the command line asks for the bar.
    An exception raised for an item is re-raised here (the pool is terminated), so the caller's
    staging folder is removed and no partial output remains.
    """
    items = list(items)
    bar = tqdm(total=len(items), desc=desc, unit=unit, disable=None if progress else True)
    try:
        if workers <= 1 or len(items) <= 1:
            for item in items:
                yield function(item)
                bar.update(1)
            return
        with multiprocessing.get_context().Pool(min(workers, len(items)), initializer=initializer) as pool:
            for result in pool.imap(function, items, chunksize=1):
                yield result
                bar.update(1)
    finally:
        bar.close()


__all__ = ['run_parallel']
