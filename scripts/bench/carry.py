"""Carrying an unfinished quality cell to another machine through a committed folder.

A cell of 12,000 iterations outlasts one working session on 2 cores, and the next session may run on a
fresh machine whose work folder is empty: BasicSR's checkpoints there are gone, the repository is not. So:

* :func:`pack` copies an unfinished cell's newest BasicSR checkpoint, the training state
  ``training_states/<N>.state`` (optimizer and scheduler) and the weights of the same iteration
  ``models/net_g_<N>.pth``, to ``<carry_dir>/<experiment>/`` with ``carry.json`` (iteration, sha256 of both
  files, date, CPU). Each file is stored as parts ``<name>.000``, ``.001``... of at most :data:`PART_BYTES`,
  so no committed file is large. Commit that folder.
* :func:`unpack` puts them back under ``<work_dir>/experiments/<experiment>/`` when the work folder has no
  state of that iteration or later, after checking both sha256 (of the joined parts), so ``basicsr train --auto_resume``
  continues the cell where the other machine stopped.
* :func:`drop` removes the folder once the cell's result is written.

Every file appears whole or not at all (the package's atomic writer), so a kill mid-copy leaves either the
old checkpoint or the new one.
"""
import datetime
import json
import os
import re
import shutil

from aidn_plugin.zoo.registry import file_sha256
from scripts.bench.report_io import cpu_name, write_json_atomic

MANIFEST = 'carry.json'
PART_BYTES = 2 * 1024 * 1024  # every committed part stays well below the repository's 3 MiB file limit
_STATE = re.compile(r'^(\d+)\.state$')


class CarryError(Exception):
    """A carried checkpoint that cannot be used (damaged or incomplete); the message names the file."""


def experiment_folder(work_dir, experiment):
    """BasicSR's folder of ``experiment`` when ``basicsr train`` runs in ``work_dir``."""
    return os.path.join(work_dir, 'experiments', experiment)


def newest_checkpoint(folder):
    """(iteration, state path, weights path) of the newest training state under BasicSR experiment folder
    ``folder`` that has its weights file too, or None when there is none."""
    states = os.path.join(folder, 'training_states')
    if not os.path.isdir(states):
        return None
    found = sorted((int(m.group(1)) for m in map(_STATE.match, os.listdir(states)) if m), reverse=True)
    for iteration in found:
        weights = os.path.join(folder, 'models', f'net_g_{iteration}.pth')
        if os.path.isfile(weights):
            return iteration, os.path.join(states, f'{iteration}.state'), weights
    return None


def _write_parts(source, folder):
    """``source`` split into ``<name>.000``, ``.001``... of at most PART_BYTES in ``folder``; their names."""
    names = []
    with open(source, 'rb') as handle:
        for index, data in enumerate(iter(lambda: handle.read(PART_BYTES), b'')):
            names.append(f'{os.path.basename(source)}.{index:03d}')
            with open(os.path.join(folder, names[-1]), 'wb') as part:
                part.write(data)
    return names


def _join_atomic(paths, target):
    from aidn_plugin.utils.atomic import staged_file
    with staged_file(target) as tmp:
        with open(tmp, 'wb') as out:
            for path in paths:
                with open(path, 'rb') as part:
                    shutil.copyfileobj(part, out)


def read_manifest(carry_dir, experiment):
    """The ``carry.json`` of ``experiment`` in ``carry_dir``, or None when nothing is carried for it."""
    path = os.path.join(carry_dir, experiment, MANIFEST)
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding='utf-8') as handle:
            manifest = json.load(handle)
        # every field unpack reads, so a hand-edited manifest fails here with its name
        int(manifest['iteration'])
        for key in ('state', 'weights'):
            str(manifest['files'][key]['name']), list(manifest['files'][key]['parts']), str(manifest['sha256'][key])
    except (ValueError, KeyError, TypeError) as error:
        raise CarryError(f'{path}: not a carry manifest ({error!r})') from None
    return manifest


def pack(work_dir, experiment, carry_dir):
    """Copy the newest checkpoint of ``experiment`` (run in ``work_dir``) to ``<carry_dir>/<experiment>/``.

    Args:
        work_dir (str): the folder ``basicsr train`` ran in (holding ``experiments/<experiment>``).
        experiment (str): the BasicSR experiment name of the cell.
        carry_dir (str): the committed folder of carried cells.

    Returns the manifest written, or None when the work folder has no checkpoint of ``experiment`` or the
    carried one is as new already.
    """
    from aidn_plugin.utils.atomic import staged_folder
    newest = newest_checkpoint(experiment_folder(work_dir, experiment))
    if newest is None:
        return None
    iteration, state, weights = newest
    carried = read_manifest(carry_dir, experiment)
    if carried is not None and carried['iteration'] >= iteration:
        return None
    experiment_carry = os.path.join(carry_dir, experiment)
    with staged_folder(experiment_carry, overwrite=True) as staging:
        sources = {'state': state, 'weights': weights}
        manifest = {'experiment': experiment, 'iteration': iteration,
                    'files': {key: {'name': os.path.basename(path), 'parts': _write_parts(path, staging)}
                              for key, path in sources.items()},
                    'sha256': {key: file_sha256(path) for key, path in sources.items()},
                    'packed': datetime.datetime.now().astimezone().isoformat(timespec='seconds'),
                    'cpu': cpu_name()}
        write_json_atomic(os.path.join(staging, MANIFEST), manifest)
    return manifest


def unpack(carry_dir, experiment, work_dir):
    """Put the carried checkpoint of ``experiment`` into ``work_dir`` unless the work folder is as far already.

    Returns the manifest of the checkpoint put back, else None (nothing carried, or a local state of that
    iteration or later). Raises :class:`CarryError` when a carried part is missing or a file's sha256 differs;
    then nothing is written to ``work_dir``.
    """
    manifest = read_manifest(carry_dir, experiment)
    if manifest is None:
        return None
    folder = experiment_folder(work_dir, experiment)
    local = newest_checkpoint(folder)
    if local is not None and local[0] >= manifest['iteration']:
        return None
    parts = {}
    for key in ('state', 'weights'):
        entry = manifest['files'][key]
        carried = os.path.join(carry_dir, experiment, entry['name'])
        parts[key] = [os.path.join(carry_dir, experiment, name) for name in entry['parts']]
        missing = [path for path in parts[key] if not os.path.isfile(path)]
        if missing:
            raise CarryError(f'{missing[0]}: missing (a part of {entry["name"]} named in {MANIFEST})')
        if file_sha256(*parts[key]) != manifest['sha256'][key]:
            raise CarryError(f'{carried}: sha256 differs from {MANIFEST}; the carried checkpoint is damaged')
    # weights first: BasicSR resumes from the newest state, which must find its weights in place
    _join_atomic(parts['weights'], os.path.join(folder, 'models', manifest['files']['weights']['name']))
    _join_atomic(parts['state'], os.path.join(folder, 'training_states', manifest['files']['state']['name']))
    return manifest


def drop(carry_dir, experiment):
    """Remove the carried checkpoint of ``experiment`` (its cell is finished); True when there was one."""
    folder = os.path.join(carry_dir, experiment)
    if not os.path.isdir(folder):
        return False
    shutil.rmtree(folder)
    return True
