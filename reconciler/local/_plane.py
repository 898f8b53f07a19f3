"""The emulated account: what every resource module shares, and the account itself.

Each resource module (``_trainers``, ``_deployments``, ``_hotload``, ``_shapes``) takes plain
request data, checks it like the platform does, and returns the JSON answer or raises
:class:`ApiError`. HTTP lives in ``_app``; storage in ``_store``; time in ``_lifecycle``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from reconciler.local import _lifecycle as life
from reconciler.local._catalog import Catalog
from reconciler.local._config import LocalConfig
from reconciler.local._errors import ApiError, invalid, not_found
from reconciler.local._faults import Faults
from reconciler.local._store import Doc, Store
from reconciler.local._weights import WeightStore

BUCKET_ROOT = "gs://fireworks-local-rl/rl-checkpoints"
TRAINER_NAME_RE = re.compile(r"^accounts/([^/]+)/rlorTrainerJobs/([^/]+)$")


class Plane:
    """The one account, its store, catalog, faults and clock, and the lookups resources share."""

    def __init__(
        self, store: Store, catalog: Catalog, config: LocalConfig, faults: Faults, clock: Callable[[], float]
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.account = config.account
        self.speed = config.speed
        self.faults = faults
        self.clock = clock
        self.quotas: Any = None  # the account's quotas (``_quotas.Quotas``), set by the app
        self.weights = WeightStore(store)  # the tiny models saved under snapshot identities
        self.stay_creating = config.deployments_stay_creating  # ``_autoscale``: hot-load deployments stay CREATING

    # -- the account ------------------------------------------------------------------------------

    def check_account(self, account: str) -> None:
        if account != self.account:
            raise ApiError(403, f"the API key has no access to account {account!r}")

    def accounts(self) -> dict[str, Any]:
        return {"accounts": [self.account_json()], "totalSize": 1, "nextPageToken": ""}

    def account_json(self) -> dict[str, Any]:
        return {
            "name": f"accounts/{self.account}",
            "displayName": f"{self.account} (fwctl local control plane)",
            "email": f"{self.account}@localhost",
            "accountType": "ENTERPRISE",
            "state": "READY",
            "suspendState": "UNSUSPENDED",
        }

    # -- shared lookups ---------------------------------------------------------------------------

    def model(self, name: str, where: str) -> dict[str, Any]:
        model = self.catalog.models.get(name)
        if model is None:
            known = ", ".join(sorted(self.catalog.models))
            raise invalid(f"{where}: unknown base model {name!r} (models in this control plane: {known})")
        return model

    def trainer_state(self, doc: Doc, activity: float | None) -> str:
        return life.trainer_state(doc, activity, self.clock(), self.speed)[0]

    def deployment(self, account: str, dep: str) -> tuple[Doc, str]:
        """The stored document and its state; 404 when missing or gone."""
        self.check_account(account)
        doc = self.store.get_deployment(account, dep)
        state = life.deployment_state(doc, self.clock(), self.speed) if doc else None
        if doc is None or state is None:
            raise not_found(f"deployment accounts/{account}/deployments/{dep} not found")
        return doc, state


class Resource:
    """A resource kind's routes: the plane and short names for what they use most."""

    def __init__(self, plane: Plane) -> None:
        self.plane = plane
        self.store = plane.store
        self.catalog = plane.catalog
        self.faults = plane.faults
        self.clock = plane.clock
        self.speed = plane.speed
