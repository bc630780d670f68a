"""One-line errors for console scripts: a user mistake never prints a traceback."""
import argparse
import sys


class UsageError(Exception):
    """A mistake in what the user asked for; the message names the file, key or argument."""


class OneLineParser(argparse.ArgumentParser):
    """ArgumentParser whose errors are a single ``prog: error: ...`` line on stderr and exit code 2."""

    def error(self, message):
        fail(f'{self.prog}: error: {message}')


def fail(message, code=2):
    print(message, file=sys.stderr)
    raise SystemExit(code)
