"""``python -m aidn_plugin.cli train ...`` (and ``torchrun ... -m aidn_plugin.cli``) = the ``basicsr`` script."""
from aidn_plugin.cli.basicsr_cli import main

if __name__ == '__main__':
    raise SystemExit(main())
