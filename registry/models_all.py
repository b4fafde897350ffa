"""Import every model module so that the metadata is complete (migrations, create_all, tests)."""

from registry.approvals import models as _approvals  # noqa: F401
from registry.areas import models as _areas  # noqa: F401
from registry.assets import models as _assets  # noqa: F401
from registry.auth import models as _auth  # noqa: F401
from registry.cooperation import models as _cooperation  # noqa: F401
from registry.core import audit as _audit  # noqa: F401
from registry.core import labels as _labels  # noqa: F401
from registry.core import security_events as _security  # noqa: F401
from registry.core import settings as _settings  # noqa: F401
from registry.people import models as _people  # noqa: F401
from registry.visits import models as _visits  # noqa: F401
from registry.cooperation import provision_models as _provisions  # noqa: F401
from registry.stocktake import models as _stocktake  # noqa: F401
