"""Carrying an unfinished quality cell to another machine through a committed folder.

A cell of 12,000 iterations outlasts one working session on 2 cores, and the next session may run on a
fresh machine whose work folder is empty: BasicSR's checkpoints there are gone, the repository is not. So:

* :func:`pack` copies an unfinished cell's newest BasicSR checkpoint, the training state
  ``training_states/<N>.state`` (optimizer and scheduler) and the weights of the same iteration
  ``models/net_g_<N>.pth``, to ``<carry_dir>/<experiment>/`` with ``carry.json`` (iteration, sha256 of both
  files, date, CPU). Commit that folder.
* :func:`unpack` puts them back under ``<work_dir>/experiments/<experiment>/`` when the work folder has no
  state of that iteration or later, after checking both sha256, so ``basicsr train --auto_resume``
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

from scripts.bench.report_io import cpu_name, write_json_atomic

MANIFEST = 'carry.json'
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


def _copy_atomic(source, target):
    from aidn_plugin.utils.atomic import staged_file
    with staged_file(target) as tmp:
        shutil.copyfile(source, tmp)


def read_manifest(carry_dir, experiment):
    """The ``carry.json`` of ``experiment`` in ``carry_dir``, or None when nothing is carried for it."""
    path = os.path.join(carry_dir, experiment, MANIFEST)
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding='utf-8') as handle:
            manifest = json.load(handle)
        int(manifest['iteration']), manifest['files']['state'], manifest['files']['weights']
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
    from aidn_plugin.zoo.registry import file_sha256
    from aidn_plugin.utils.atomic import staged_folder
    newest = newest_checkpoint(experiment_folder(work_dir, experiment))
    if newest is None:
        return None
    iteration, state, weights = newest
    carried = read_manifest(carry_dir, experiment)
    if carried is not None and carried['iteration'] >= iteration:
        return None
    files = {'state': os.path.basename(state), 'weights': os.path.basename(weights)}
    manifest = {'experiment': experiment, 'iteration': iteration, 'files': files,
                'sha256': {key: file_sha256(path) for key, path in (('state', state), ('weights', weights))},
                'packed': datetime.datetime.now().astimezone().isoformat(timespec='seconds'), 'cpu': cpu_name()}
    with staged_folder(os.path.join(carry_dir, experiment), overwrite=True) as staging:
        shutil.copyfile(state, os.path.join(staging, files['state']))
        shutil.copyfile(weights, os.path.join(staging, files['weights']))
        write_json_atomic(os.path.join(staging, MANIFEST), manifest)
    return manifest


def unpack(carry_dir, experiment, work_dir):
    """Put the carried checkpoint of ``experiment`` into ``work_dir`` unless the work folder is as far already.

    Returns the carried iteration when it was put back, else None (nothing carried, or a local state of
    that iteration or later). Raises :class:`CarryError` when a carried file is missing or its sha256 differs.
    """
    from aidn_plugin.zoo.registry import file_sha256
    manifest = read_manifest(carry_dir, experiment)
    if manifest is None:
        return None
    folder = experiment_folder(work_dir, experiment)
    local = newest_checkpoint(folder)
    if local is not None and local[0] >= manifest['iteration']:
        return None
    sources = {}
    for key in ('state', 'weights'):
        source = os.path.join(carry_dir, experiment, manifest['files'][key])
        if not os.path.isfile(source):
            raise CarryError(f'{source}: missing (named in {MANIFEST})')
        if file_sha256(source) != manifest['sha256'][key]:
            raise CarryError(f'{source}: sha256 differs from {MANIFEST}; the carried checkpoint is damaged')
        sources[key] = source
    # weights first: BasicSR resumes from the newest state, which must find its weights in place
    _copy_atomic(sources['weights'], os.path.join(folder, 'models', manifest['files']['weights']))
    _copy_atomic(sources['state'], os.path.join(folder, 'training_states', manifest['files']['state']))
    return manifest['iteration']


def drop(carry_dir, experiment):
    """Remove the carried checkpoint of ``experiment`` (its cell is finished); True when there was one."""
    folder = os.path.join(carry_dir, experiment)
    if not os.path.isdir(folder):
        return False
    shutil.rmtree(folder)
    return True
