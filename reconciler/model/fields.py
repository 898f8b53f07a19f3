"""The field types of fwctl's manifests: names and ids the platform checks, with messages people can act on.

Every manifest model derives from :class:`Frozen` (frozen, ``extra="forbid"``, strict, camelCase
aliases; a field's docstring is its JSON Schema description, which editors show on hover).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Final, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, WithJsonSchema
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from reconciler.model.deployment_rules import DEFAULT_SHAPE
from reconciler.model.duration import Duration, format_duration

API_VERSION: Final = "fwctl/v1"

#: Longest id the platform accepts for trainer jobs and deployments.
MAX_REMOTE_ID = 63
#: fwctl names trainer jobs ``<stack>-<name>-<6 hex>`` and deployments ``<stack>-<name>``:
#: ``len(stack) + len(name) <= 55`` keeps both within MAX_REMOTE_ID.
MAX_STACK_PLUS_NAME = MAX_REMOTE_ID - len("-") - len("-") - 6

#: Longest inactivityTimeout the platform accepts (seconds).
MAX_INACTIVITY_TIMEOUT = 3 * 3600

DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_SEGMENT = r"[A-Za-z0-9][A-Za-z0-9._-]*"
BASE_MODEL_PATTERN = rf"^accounts/{_SEGMENT}/models/{_SEGMENT}$"
TRAINING_SHAPE_PATTERN = rf"^accounts/{_SEGMENT}/trainingShapes/{_SEGMENT}(/versions/{_SEGMENT})?$"
DEPLOYMENT_SHAPE_PATTERN = (rf"^(accounts/{_SEGMENT}/deploymentShapes/{_SEGMENT}(/versions/{_SEGMENT})?"
                            rf"|{DEFAULT_SHAPE})$")  # default: the platform picks
ACCELERATOR_TYPE_PATTERN = r"^[A-Z][A-Z0-9_]*$"


def _pattern_check(pattern: str, message: str, max_length: int | None = None) -> AfterValidator:
    """A validator with a message people can act on (pydantic's would quote the regex)."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if max_length is not None and len(value) > max_length:
            raise PydanticCustomError(
                "too_long", "must have at most {max} characters (got {n})", {"max": max_length, "n": len(value)}
            )
        if not compiled.match(value):
            raise PydanticCustomError("pattern", message)
        return value

    return AfterValidator(check)


def _pattern_schema(pattern: str, max_length: int | None = None) -> WithJsonSchema:
    schema: dict[str, Any] = {"type": "string", "pattern": pattern}
    if max_length is not None:
        schema["maxLength"] = max_length
    return WithJsonSchema(schema)


_DNS_MESSAGE = "must be a DNS label: lowercase letters, digits and '-', starting and ending with a letter or digit"
_ID_MESSAGE = (
    "must be a valid platform id: lowercase letters, digits and '-', starting and ending with a letter or digit"
)
DnsLabel = Annotated[
    str,
    _pattern_check(DNS_LABEL_PATTERN, _DNS_MESSAGE, MAX_REMOTE_ID),
    _pattern_schema(DNS_LABEL_PATTERN, MAX_REMOTE_ID),
]
RemoteId = Annotated[
    str,
    _pattern_check(DNS_LABEL_PATTERN, _ID_MESSAGE, MAX_REMOTE_ID),
    _pattern_schema(DNS_LABEL_PATTERN, MAX_REMOTE_ID),
]
BaseModelName = Annotated[
    str,
    _pattern_check(BASE_MODEL_PATTERN, "must be a model name like accounts/fireworks/models/qwen3-8b"),
    _pattern_schema(BASE_MODEL_PATTERN),
]
TrainingShapeName = Annotated[
    str,
    _pattern_check(
        TRAINING_SHAPE_PATTERN,
        "must be a training shape like accounts/fireworks/trainingShapes/<shape>[/versions/<version>]",
    ),
    _pattern_schema(TRAINING_SHAPE_PATTERN),
]
DeploymentShapeName = Annotated[
    str,
    _pattern_check(
        DEPLOYMENT_SHAPE_PATTERN,
        "must be a deployment shape like accounts/fireworks/deploymentShapes/<shape>[/versions/<version>] "
        "or default",
    ),
    _pattern_schema(DEPLOYMENT_SHAPE_PATTERN),
]
AcceleratorType = Annotated[
    str,
    _pattern_check(ACCELERATOR_TYPE_PATTERN, "must be an accelerator type like NVIDIA_H200_141GB"),
    _pattern_schema(ACCELERATOR_TYPE_PATTERN),
]


def _at_most_3h(seconds: int) -> int:
    if seconds > MAX_INACTIVITY_TIMEOUT:
        raise PydanticCustomError(
            "too_long", "must be at most 3h (got {got})", {"got": format_duration(seconds)}
        )
    return seconds


InactivityTimeout = Annotated[Duration, AfterValidator(_at_most_3h)]
Transition = Literal["ASYNC", "SYNC"]


def rule_error(rules: list[tuple[str, str]]) -> PydanticCustomError:
    """One error for several located rule violations (field paths relative to the model)."""
    text = "; ".join(f"{field}: {message}" if field else message for field, message in rules)
    return PydanticCustomError("fwctl_rule", text.replace("{", "(").replace("}", ")"), {"rules": tuple(rules)})


class Frozen(BaseModel):
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        strict=True,
        alias_generator=to_camel,
        populate_by_name=True,
        use_attribute_docstrings=True,  # a field's docstring is its JSON Schema description
    )

