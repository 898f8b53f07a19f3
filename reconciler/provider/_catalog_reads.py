"""Which training shapes pin a deployment shape version (the platform then needs ``forTraining: true``).

The public deployment shape types say nothing about training (``fireworks.types.DeploymentShapeVersion``
has no such field); the link is on the training side: a training shape version names the
``deploymentShapeVersion`` its rollout deployments use (the cookbook's rl-hotload page:
``forTraining`` is "required for deployment shape versions pinned by training shapes"). So fwctl asks
the platform the way the cookbook's shape selection does: a version listing across every account's
shapes with an AIP-160 filter, ``accounts/-/trainingShapes/-/versions?filter=
snapshot.deployment_shape_version="<version>"``. One list request per deployment shape a plan sends.
"""

from __future__ import annotations

from collections.abc import Mapping

SHAPE_PAGE_SIZE = 200


class CatalogReads:
    """A mixin of ``FireworksProvider``."""

    async def training_shapes_pinning(self, deployment_shape_version: str) -> list[str]:
        """The training shape versions whose rollout deployments use this deployment shape version."""
        quoted = deployment_shape_version.replace('"', "")
        url = (f"{self.base_url}/v1/accounts/-/trainingShapes/-/versions"  # type: ignore[attr-defined]
               f"?filter=snapshot.deployment_shape_version%3D%22{quoted}%22")
        rows = await self._paginate(url, ("trainingShapeVersions",), SHAPE_PAGE_SIZE,  # type: ignore[attr-defined]
                                    f"listing the training shapes that pin {deployment_shape_version}")
        return [str(r["name"]) for r in rows if isinstance(r, Mapping) and r.get("name")]


__all__ = ["CatalogReads"]
