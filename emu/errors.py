"""Old import path kept for code written before the bottom layer existed: use
`bareflow.devices.base.errors`."""
from ..devices.base.errors import BadArgument, BadImage, BareflowError  # noqa: F401
