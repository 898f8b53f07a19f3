"""What the platform holds, in fwctl's own words.

These values are what the provider returns from a read and takes for a write. They are the only
bridge between the pure core and the wire: the provider maps them to and from Fireworks JSON;
the planner compares desired configs against observed ones field by field.
"""

from __future__ import annotations

import re
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)  # built on first use: a fast CLI start


# Trainer job states (reference §2.6).
JOB_RUNNING = "JOB_STATE_RUNNING"
JOB_PENDING = "JOB_STATE_PENDING"
JOB_CREATING = "JOB_STATE_CREATING"
JOB_FAILED = "JOB_STATE_FAILED"
JOB_PAUSED = "JOB_STATE_PAUSED"
RESUMABLE_JOB_STATES = frozenset({JOB_FAILED, "JOB_STATE_CANCELLED", JOB_PAUSED, "JOB_STATE_COMPLETED"})
TOMBSTONE_JOB_STATES = frozenset({"JOB_STATE_DELETED", "JOB_STATE_ARCHIVED"})
GONE_JOB_STATES = TOMBSTONE_JOB_STATES | {"JOB_STATE_DELETING", "JOB_STATE_EXPIRED"}
# A state the job never leaves and that ``:resume`` refuses (not in the SDK's resumable set): replaced.
FINAL_JOB_STATES = frozenset({"JOB_STATE_EARLY_STOPPED"})
# Transient: the platform moves the job on by itself (CANCELLING -> CANCELLED; RE_QUEUEING -> PENDING).
SETTLING_JOB_STATES = frozenset({"JOB_STATE_CANCELLING", "JOB_STATE_RE_QUEUEING"})

# Deployment states (reference §3.7).
DEPLOYMENT_READY = "READY"
DEPLOYMENT_UPDATING = "UPDATING"
DEPLOYMENT_CREATING = "CREATING"
DEPLOYMENT_FAILED = "FAILED"
DEPLOYMENT_DELETED = "DELETED"
GONE_DEPLOYMENT_STATES = frozenset({DEPLOYMENT_DELETED, "DELETING"})
BAD_DEPLOYMENT_STATES = GONE_DEPLOYMENT_STATES | {DEPLOYMENT_FAILED}


class TrainerConfig(_Value):
    """The comparable settings of one trainer job. ``None`` means "left to the platform"."""

    base_model: str
    lora_rank: int = 0
    learning_rate: float = 1e-5
    # As declared: a parent shape (the platform resolves its latest validated version) or a pinned
    # version. Read back: the versioned name the job actually runs on.
    training_shape: str | None = None
    accelerator_type: str | None = None
    accelerator_count: int | None = None
    node_count: int | None = None
    max_context_length: int | None = None
    replica_count: int | None = None
    region: str | None = None
    display_name: str | None = None
    inactivity_timeout: int | None = None  # seconds
    forward_only: bool = False
    hot_load_deployment_id: str | None = None  # perDeployment weight-sync scope (bare deployment id)


class TrainerJob(_Value):
    """A trainer job as read from the platform."""

    job_id: str
    name: str  # accounts/{a}/rlorTrainerJobs/{job}
    state: str
    status_message: str = ""
    config: TrainerConfig
    create_time: datetime | None = None
    update_time: datetime | None = None
    # Accelerator-seconds used so far, by accelerator type (``acceleratorSeconds``): what a read tells of
    # the job's hardware, which the platform does not return (a shape or manual accelerators at create).
    accelerator_seconds: dict[str, float] = Field(default_factory=dict)

    @property
    def resumable(self) -> bool:
        return self.state in RESUMABLE_JOB_STATES

    @property
    def gone(self) -> bool:
        return self.state in GONE_JOB_STATES

    @property
    def running(self) -> bool:
        return self.state == JOB_RUNNING

    @property
    def final(self) -> bool:
        return self.state in FINAL_JOB_STATES

    @property
    def settling(self) -> bool:
        return self.state in SETTLING_JOB_STATES


class DeploymentConfig(_Value):
    """The comparable settings of one deployment. ``None`` means "left to the platform"."""

    base_model: str
    deployment_shape: str | None = None  # declared: parent or version; read back: the version
    accelerator_type: str | None = None
    accelerator_count: int | None = None
    accept_shapeless_risk: bool = False  # a create flag; never read back
    # ``forTraining``: training infrastructure (the SDK's managed rollout deployments; required on a
    # deployment shape version a training shape pins). A create flag the public type does not return.
    for_training: bool = False
    min_replicas: int = 1
    max_replicas: int = 1
    region: str | None = None
    hot_load_enabled: bool = True
    hot_load_bucket_type: str | None = "FW_HOSTED"
    hot_load_transition: str | None = None  # ASYNC | SYNC
    hot_load_trainer_job: str | None = None  # accounts/{a}/rlorTrainerJobs/{job} (perTrainer scope)
    description: str | None = None
    annotations: dict[str, str] = Field(default_factory=dict)
    # The ownership mark ``fwctl:<stack>/<name>`` (the platform returns it, unlike annotations); not
    # compared: a create-time mark, like a trainer job's id.
    display_name: str | None = None


class DeploymentInfo(_Value):
    """A deployment as read from the platform."""

    deployment_id: str
    name: str  # accounts/{a}/deployments/{dep}
    state: str
    status_message: str = ""
    config: DeploymentConfig
    replica_count: int = 0  # replicas running now
    create_time: datetime | None = None
    update_time: datetime | None = None

    @property
    def bad(self) -> bool:
        return self.state in BAD_DEPLOYMENT_STATES

    @property
    def gone(self) -> bool:
        return self.state in GONE_DEPLOYMENT_STATES

    @property
    def parked(self) -> bool:
        """Scaled to zero: no GPUs, kept for later."""
        return self.config.min_replicas == 0 and self.config.max_replicas == 0

    @property
    def ready(self) -> bool:
        return self.state == DEPLOYMENT_READY


class Checkpoint(_Value):
    """A checkpoint (sampler snapshot) of a trainer job, from the control-plane listing."""

    name: str  # accounts/{a}/rlorTrainerJobs/{job}/checkpoints/{id}
    snapshot: str  # the last path segment: the identity the hot-load API takes
    checkpoint_type: str = ""
    create_time: datetime | None = None
    promotable: bool = True  # False: a delta, loadable only on top of its base (the listing's ``promotable``)

    @property
    def step(self) -> str:
        """The snapshot's name without the training session's suffix: ``step-4-a1b2c3d4`` -> ``step-4``."""
        return re.sub(r"-[0-9a-f]{8}$", "", self.snapshot)


class HotLoadReplica(_Value):
    identity: str = ""  # the serving pod
    current_snapshot: str | None = None
    readiness: bool = False
    stage: str = "unknown"
    target_snapshot: str | None = None
    message: str = ""
    loaded_adapters: tuple[str, ...] = ()  # LoRA adapters reported "loaded" (the SDK accepts either report)

    def serves(self, snapshot: str) -> bool:
        return self.readiness and (self.current_snapshot == snapshot or snapshot in self.loaded_adapters)


class HotLoadStatus(_Value):
    replicas: tuple[HotLoadReplica, ...] = ()

    @property
    def current_snapshot(self) -> str | None:
        """What the first replica serves: its newest loaded adapter, else its current snapshot."""
        if not self.replicas:
            return None
        first = self.replicas[0]
        return first.loaded_adapters[-1] if first.loaded_adapters else first.current_snapshot


class TrainingShapeVersion(_Value):
    name: str  # accounts/{x}/trainingShapes/{s}/versions/{v}
    base_model: str | None = None
    trainer_mode: str = "POLICY_TRAINER"  # POLICY_TRAINER | LORA_TRAINER | FORWARD_ONLY
    accelerator_type: str | None = None
    accelerator_count: int | None = None
    node_count: int = 1
    max_context_length: int | None = None
    deployment_shape_version: str | None = None

    @property
    def shape(self) -> str:
        return self.name.split("/versions/")[0]


class DeploymentShapeVersion(_Value):
    name: str
    base_model: str | None = None
    accelerator_type: str | None = None
    accelerator_count: int | None = None
    #: The training shape versions that pin this version (a deployment on it needs ``forTraining``);
    #: None: not asked, or the platform did not answer.
    pinned_by: tuple[str, ...] | None = None

    @property
    def shape(self) -> str:
        return self.name.split("/versions/")[0]


class BaseModelInfo(_Value):
    """A base model of the account's catalog (``GET /v1/accounts/{a}/models/{m}``)."""

    name: str  # accounts/{a}/models/{m}
    context_length: int | None = None  # the longest context the model takes; None: not reported
    supports_lora: bool | None = None


def shape_of(name: str | None) -> str | None:
    """The shape a (possibly versioned) shape name belongs to: version drift is not a change."""
    return name.split("/versions/")[0] if name else name



class Quota(_Value):
    """An account quota (``accounts/{a}/quotas/{q}``, what ``firectl quota list`` shows): a GPU count per
    type, ``monthly-spend-usd``, request rates. ``usage`` is None when the platform does not report it."""

    name: str  # the quota id (the last segment of accounts/{a}/quotas/{q})
    value: float
    max_value: float | None = None
    usage: float | None = None


class Observed(_Value):
    """A fresh read of the account: everything the planner may look at, keyed by remote id.

    A key mapped to ``None`` was looked for and not found.
    """

    account: str
    trainers: dict[str, TrainerJob | None] = Field(default_factory=dict)
    deployments: dict[str, DeploymentInfo | None] = Field(default_factory=dict)
    checkpoints: dict[str, tuple[Checkpoint, ...]] = Field(default_factory=dict)  # by job id
    hot_load: dict[str, HotLoadStatus] = Field(default_factory=dict)  # by deployment id
    # The account's catalog, by name as declared; a name the platform said it does not have is in
    # ``catalog_missing`` with the reason (a name whose read failed otherwise is in neither).
    models: dict[str, BaseModelInfo] = Field(default_factory=dict)
    training_shapes: dict[str, TrainingShapeVersion] = Field(default_factory=dict)
    deployment_shapes: dict[str, DeploymentShapeVersion] = Field(default_factory=dict)
    catalog_missing: dict[str, str] = Field(default_factory=dict)  # name -> "is not in the catalog", ...

    def trainer_name(self, job_id: str) -> str:
        return f"accounts/{self.account}/rlorTrainerJobs/{job_id}"

    def deployment_name(self, deployment_id: str) -> str:
        return f"accounts/{self.account}/deployments/{deployment_id}"
