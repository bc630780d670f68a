"""Timers the benchmarks share: interleaved rounds of several tasks and a millisecond summary.

Every CPU speed figure of the project is timed through these, so the benchmarks measure the same way.
"""
import statistics
import time


def round_robin(tasks, repeats, warmup=1, timer=time.perf_counter):
    """Time every callable of ``tasks`` (name -> fn) ``repeats`` times, interleaved.

    Each round runs every task once; the first task of a round rotates, so no task always follows the
    same one. ``warmup`` untimed calls per task come first. ``timer`` is the clock (wall time by default;
    ``time.thread_time`` gives the calling thread's CPU time). Returns name -> list of seconds.
    """
    names = list(tasks)
    for name in names:
        for _ in range(warmup):
            tasks[name]()
    samples = {name: [] for name in names}
    for round_index in range(repeats):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            start = timer()
            tasks[name]()
            samples[name].append(timer() - start)
    return samples


def summarize(seconds):
    """Median, quartiles and extremes of a list of seconds, in milliseconds."""
    ms = sorted(s * 1e3 for s in seconds)
    q1, _, q3 = statistics.quantiles(ms, n=4, method='inclusive') if len(ms) >= 2 else ms[:1] * 3
    return {'median_ms': round(statistics.median(ms), 3), 'q1_ms': round(q1, 3), 'q3_ms': round(q3, 3),
            'min_ms': round(ms[0], 3), 'max_ms': round(ms[-1], 3), 'runs': len(ms)}
