"""``python -m sottovoce.demo`` (``make demo``): play every act, exit 1 on any failure."""

import sys

from sottovoce.demo import main

sys.exit(main())
