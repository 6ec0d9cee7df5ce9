"""`python -m scim_gateway` runs the command line."""

from __future__ import annotations

import sys

from scim_gateway.cli import main

sys.exit(main())
