"""Differentiable primitives, grouped by kind; each one small class with forward and backward."""
from .elementwise import *          # noqa: F401,F403
from .reduction import *            # noqa: F401,F403
from .movement import *             # noqa: F401,F403
from .matmul import *               # noqa: F401,F403
from .comparison import *           # noqa: F401,F403
from .numeric import *              # noqa: F401,F403
from . import elementwise, reduction, movement, matmul, comparison, numeric   # noqa: F401
