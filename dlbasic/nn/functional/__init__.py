"""torch.nn.functional: the stateless form of every layer, activation and loss."""
from .linear import *                                                # noqa: F401,F403
from .activation import *                                            # noqa: F401,F403
from .loss import *                                                  # noqa: F401,F403
from .conv import *                                                  # noqa: F401,F403
from .pooling import *                                               # noqa: F401,F403
from .normalization import *                                         # noqa: F401,F403
from .batchnorm import *                                             # noqa: F401,F403
from .spatial import *                                               # noqa: F401,F403
from .interpolate import *                                           # noqa: F401,F403
from .fold import *                                                  # noqa: F401,F403
from .attention import *                                             # noqa: F401,F403
from .attention import _canonical_mask, _none_or_dtype               # noqa: F401  (torch's)
