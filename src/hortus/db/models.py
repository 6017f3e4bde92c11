"""Every domain's tables, imported so that metadata is complete (for migrations and tests)."""

from hortus.accounts import models as _accounts  # noqa: F401
from hortus.db.base import Base
from hortus.diagnose import models as _diagnose  # noqa: F401
from hortus.media import models as _media  # noqa: F401
from hortus.observations import dwc_models as _darwin_core  # noqa: F401
from hortus.observations import models as _observations  # noqa: F401
from hortus.plants import models as _plants  # noqa: F401

metadata = Base.metadata
