"""Where the verdict types lived before :mod:`argen.types`; kept so older imports still work.

New code imports :mod:`argen.types` (the bottom layer) directly.
"""

from argen.types import *  # noqa: F401,F403
from argen.types import __all__  # noqa: F401
