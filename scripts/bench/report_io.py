"""Small helpers shared by the benchmarks: the machine description, atomic result files, ratios."""
import datetime
import json
import os
import platform

import torch


def cpu_name():
    """The CPU model name from /proc/cpuinfo (Linux), else ``platform.processor()``."""
    try:
        with open('/proc/cpuinfo') as handle:
            for line in handle:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or 'unknown CPU'


def cpu_flags():
    """The CPU's vector-instruction flags (sse*, avx*, amx*, fma, f16c...; what oneDNN and onnxruntime pick
    their kernels by), sorted; [] where unknown. Read by the package's own reader of /proc/cpuinfo."""
    from aidn_plugin.inference.precision import cpu_flags as all_flags
    return sorted(f for f in all_flags() if f.startswith(('sse', 'ssse', 'avx', 'amx', 'fma', 'f16c', 'vnni')))


def machine_info(threads):
    """Date, CPU and its vector flags, core count, load average, torch version and the run's thread count."""
    load = os.getloadavg() if hasattr(os, 'getloadavg') else None
    return {
        'date': datetime.datetime.now().astimezone().isoformat(timespec='seconds'),
        'cpu': cpu_name(),
        'cpu_flags': cpu_flags(),
        'logical_cores': os.cpu_count(),
        'torch': torch.__version__,
        'threads': threads,
        'load_average_start': [round(v, 2) for v in load] if load else None,
        'python': platform.python_version(),
    }


def write_text_atomic(path, text):
    """Write ``text`` to ``path`` atomically (the package's one atomic writer)."""
    from aidn_plugin.utils.atomic import write_text
    write_text(path, text)


def write_json_atomic(path, data):
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False) + '\n')


def ratio(value, reference):
    """``value / reference`` rounded to 3 decimals; None when either is missing or the reference is 0."""
    if value is None or reference in (None, 0):
        return None
    return round(value / reference, 3)
