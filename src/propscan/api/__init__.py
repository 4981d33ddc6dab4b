"""propscan as a web service: the REST API and the reading page (needs the ``serve`` extra)."""

from propscan.api.app import create_app
from propscan.api.config import ServerSettings
from propscan.api.server import serve

__all__ = ["ServerSettings", "create_app", "serve"]
