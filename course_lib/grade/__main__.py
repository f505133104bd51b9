"""`python -m course_lib.grade`: ver `course_lib/grade/__init__.py`."""

import sys

from .cli import main

sys.exit(main())
