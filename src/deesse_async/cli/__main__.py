"""``python -m deesse_async.cli``: the ``deesse`` command without its console script."""

import sys

from . import main

sys.exit(main())
