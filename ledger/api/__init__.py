"""The HTTP API (contract section 4): thin routes over the ledger, the read models and the
license signing keys. `create_app` is its one factory."""

from ledger.api.app import application, create_app
from ledger.api.keys import ApiKeyError, IssuedKey, Principal
from ledger.api.remembered_keys import ApiKeys

__all__ = ["ApiKeyError", "ApiKeys", "IssuedKey", "Principal", "application", "create_app"]
