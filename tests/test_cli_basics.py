"""The console scripts' surface: help, version, one-line errors with exit code 2.

Most checks call the scripts' main() in this process (fast); a few run the installed scripts for real."""
import sys

import pytest

import aidn_plugin
from aidn_plugin.cli import aidn_cli, basicsr_cli
from helpers import run, script


def _exit_code(main, argv):
    try:
        return main(argv)
    except SystemExit as exit_info:  # output stays in capsys for the test to read
        return exit_info.code


def test_basicsr_help_lists_subcommands_and_plugins_installed_script():
    result = run([script('basicsr'), '--help'])
    assert result.returncode == 0, result.stderr
    assert 'train' in result.stdout and 'test' in result.stdout
    assert 'aidn (aidn_plugin)' in result.stdout


def test_basicsr_train_help_lists_basicsr_flags(capsys):
    assert _exit_code(basicsr_cli.main, ['train', '--help']) == 0
    out = capsys.readouterr().out
    for flag in ('-opt', '--launcher', '--auto_resume', '--debug', '--force_yml'):
        assert flag in out


def test_basicsr_unknown_subcommand_is_one_line_exit_2_installed_script():
    result = run([script('basicsr'), 'fit', '-opt', 'x.yml'])
    assert result.returncode == 2
    assert result.stderr.strip().count('\n') == 0
    assert "unknown subcommand 'fit'" in result.stderr and 'Traceback' not in result.stderr


def test_basicsr_missing_option_file_is_one_line_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert _exit_code(basicsr_cli.main, ['train', '-opt', 'missing.yml']) == 2
    assert capsys.readouterr().err.strip() == 'basicsr train: error: option file not found: missing.yml'


def test_basicsr_without_opt_is_one_line_exit_2(capsys):
    assert _exit_code(basicsr_cli.main, ['test']) == 2
    err = capsys.readouterr().err.strip()
    assert err.count('\n') == 0 and '-opt' in err


def test_basicsr_bad_launcher_is_one_line(capsys):
    assert _exit_code(basicsr_cli.main, ['train', '-opt', 'x.yml', '--launcher', 'mpi']) == 2
    err = capsys.readouterr().err.strip()
    assert err.count('\n') == 0 and "--launcher" in err


def test_module_entry_is_the_basicsr_script():
    result = run([sys.executable, '-m', 'aidn_plugin.cli', 'nope'])
    assert result.returncode == 2 and "unknown subcommand 'nope'" in result.stderr


def test_aidn_version_installed_script():
    result = run([script('aidn'), '--version'])
    assert result.returncode == 0 and result.stdout.strip() == f'aidn-plugin {aidn_plugin.__version__}'


@pytest.mark.parametrize('command', ['profile', 'prepare', 'zoo', 'upscale', 'export'])
def test_aidn_help_lists_every_subcommand(command, capsys):
    assert _exit_code(aidn_cli.main, ['--help']) == 0
    assert command in capsys.readouterr().out


def test_aidn_profile_counts_the_default_network(capsys):
    assert _exit_code(aidn_cli.main, ['profile', '--scale', '4', '--size', '1280x720']) == 0
    out = capsys.readouterr().out
    assert 'parameters' in out and 'MACs' in out


def test_aidn_profile_bad_size_is_one_line(capsys):
    assert _exit_code(aidn_cli.main, ['profile', '--size', '1280by720']) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith('aidn profile: error:') and 'size must look like WIDTHxHEIGHT' in err
    assert '\n' not in err


def test_aidn_without_command_prints_help(capsys):
    assert _exit_code(aidn_cli.main, []) == 2
    assert 'COMMAND' in capsys.readouterr().out
