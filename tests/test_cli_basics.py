"""The console scripts' surface: help, version, one-line errors with exit code 2."""
from helpers import run, script

import aidn_plugin


def test_basicsr_help_lists_subcommands_and_plugins():
    result = run([script('basicsr'), '--help'])
    assert result.returncode == 0, result.stderr
    assert 'train' in result.stdout and 'test' in result.stdout
    assert 'aidn (aidn_plugin)' in result.stdout


def test_basicsr_train_help_lists_basicsr_flags():
    result = run([script('basicsr'), 'train', '--help'])
    assert result.returncode == 0
    for flag in ('-opt', '--launcher', '--auto_resume', '--debug', '--force_yml'):
        assert flag in result.stdout


def test_basicsr_unknown_subcommand_is_one_line_exit_2():
    result = run([script('basicsr'), 'fit', '-opt', 'x.yml'])
    assert result.returncode == 2
    assert result.stderr.strip().count('\n') == 0
    assert "unknown subcommand 'fit'" in result.stderr and 'Traceback' not in result.stderr


def test_basicsr_missing_option_file_is_one_line_exit_2(tmp_path):
    result = run([script('basicsr'), 'train', '-opt', 'missing.yml'], cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == 'basicsr train: error: option file not found: missing.yml'


def test_basicsr_without_opt_is_one_line_exit_2():
    result = run([script('basicsr'), 'test'])
    assert result.returncode == 2
    assert result.stderr.strip().count('\n') == 0 and '-opt' in result.stderr


def test_module_entry_is_the_basicsr_script():
    import sys
    result = run([sys.executable, '-m', 'aidn_plugin.cli', 'nope'])
    assert result.returncode == 2 and "unknown subcommand 'nope'" in result.stderr


def test_aidn_help_and_version():
    result = run([script('aidn'), '--help'])
    assert result.returncode == 0 and 'profile' in result.stdout
    result = run([script('aidn'), '--version'])
    assert result.returncode == 0 and result.stdout.strip() == f'aidn-plugin {aidn_plugin.__version__}'


def test_aidn_profile_counts_the_default_network():
    result = run([script('aidn'), 'profile', '--scale', '4', '--size', '1280x720'])
    assert result.returncode == 0, result.stderr
    assert 'parameters' in result.stdout and 'MACs' in result.stdout


def test_aidn_profile_bad_size_is_one_line():
    result = run([script('aidn'), 'profile', '--size', '1280by720'])
    assert result.returncode == 2
    assert result.stderr.strip().startswith('aidn profile: error: size must look like WIDTHxHEIGHT')
