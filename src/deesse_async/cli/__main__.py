"""``python -m deesse_async.cli``: the ``deesse`` command."""

import sys

from . import main

sys.exit(main())
