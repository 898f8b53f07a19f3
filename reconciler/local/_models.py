"""Base models: read-only views of the catalog (``GET /v1/accounts/{a}/models[/{m}]``).

Answers follow the public ``Model`` type (list-models / get-model): ``name``, ``displayName``,
``state``, ``kind``, ``contextLength``, ``supportsLora``, ``tunable``, ``public``,
``baseModelDetails`` (the catalog's, as ``fireworks.types.BaseModelDetails``: ``modelType``,
``parameterCount`` (a string, as the type declares), ``moe``, ``supportsFireattention``,
``defaultPrecision``, ``checkpointFormat``, ``worldSize``, ``tunable``). The SDK's
``FireworksClient.model_is_moe`` reads ``moe``; the cookbook's shape selection reads ``modelType``,
``parameterCount`` and ``supportsFireattention``. The catalog's models are the shared public catalog of whatever account
names them (``accounts/fireworks/models/...``): any key may read them, as on Fireworks. Assumption
where the platform is silent: a model name not in the catalog is a 404 under every account (the
strictest reading; the platform never answers for a model it does not serve).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.local._catalog import Catalog
from reconciler.local._errors import not_found
from reconciler.local._validate import paginate


class Models:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        #: models made by checkpoint ``:promote`` (``_bootstrap``), by name: kept in memory, like faults
        self.promoted: dict[str, dict[str, Any]] = {}

    @staticmethod
    def _json(model: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "name": model["name"],
            "displayName": model.get("displayName", str(model["name"]).rsplit("/", 1)[-1]),
            "state": "READY",
            "kind": "HF_BASE_MODEL",
            "public": True,
            "contextLength": int(model.get("maxContextLength", 0)),
            "supportsLora": bool(model.get("supportsLora", True)),
            "tunable": True,
            "baseModelDetails": {"tunable": True, "checkpointFormat": "HUGGINGFACE",
                                 **dict(model.get("baseModelDetails") or {})},
        }

    def get_model(self, account: str, model_id: str) -> dict[str, Any]:
        name = f"accounts/{account}/models/{model_id}"
        if name in self.promoted:
            return dict(self.promoted[name])
        model = self.catalog.models.get(name)
        if model is None:
            raise not_found(f"model {name} not found")
        return self._json(model)

    def list_models(self, account: str, query: Mapping[str, str]) -> dict[str, Any]:
        prefix = f"accounts/{account}/models/"
        items = [self._json(m) for name, m in sorted(self.catalog.models.items()) if name.startswith(prefix)]
        items += [dict(m) for name, m in sorted(self.promoted.items()) if name.startswith(prefix)]
        page, token = paginate(items, query.get("pageSize"), query.get("pageToken"))
        return {"models": page, "nextPageToken": token, "totalSize": len(items)}
