"""Differentiable primitives, grouped by kind; each one small class with forward and backward."""
from .elementwise import *          # noqa: F401,F403
from .reduction import *            # noqa: F401,F403
from .movement import *             # noqa: F401,F403
from .matmul import *               # noqa: F401,F403
from .comparison import *           # noqa: F401,F403
from .numeric import *              # noqa: F401,F403
from .special import *              # noqa: F401,F403
from . import elementwise, reduction, movement, matmul, comparison, numeric   # noqa: F401
from . import special                                                         # noqa: F401
from .complex_numbers import *      # noqa: F401,F403
from . import complex_numbers, spectral  # noqa: F401  (spectral: dlbasic.fft's primitives)
from . import double_backward   # noqa: F401  (the backwards create_graph=True records)
