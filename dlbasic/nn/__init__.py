"""Neural-network building blocks with torch.nn's names and behaviour."""
from .parameter import Parameter, Buffer                             # noqa: F401
from .modules import *                                               # noqa: F401,F403
from . import functional, init, utils, parallel                      # noqa: F401
