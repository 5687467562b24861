"""``python -m focalyolo`` (also what ``torchrun -m focalyolo`` runs)."""

import sys

from .cli import main

sys.exit(main())
