"""The trainer's training API on a served local plane, driven by the official clients.

The fireworks-ai SDK's training client (and tinker where Fireworks trainers speak its JSON contract)
talk to each trainer's gateway: the numbers they get back come from a real tiny model, so the loss of a
repeated batch falls, logprobs are a distribution over the whole vocabulary, a forward-only reference
refuses backward, and saved states and sampler snapshots are listed and load back.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.local.conftest import ACCOUNT, FORWARD_SHAPE, KEY, LORA_SHAPE, POLICY_SHAPE, QWEN8B, LocalServer

POLL = 0.05
TOKENS = [9707, 11, 1879, 0, 3555, 374, 220, 17, 10, 17, 30, 220, 19, 13]
QWEN_VOCAB = 151_936


@pytest.fixture(autouse=True)
def _quiet_tinker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TINKER_TELEMETRY", "0")


def trainer(server: LocalServer, job: str, *, shape: str = POLICY_SHAPE, lora_rank: int = 0,
            forward_only: bool = False) -> str:
    """A RUNNING trainer job's gateway URL."""
    from fireworks.training.sdk import TrainerJobConfig, TrainerJobManager

    config = TrainerJobConfig(base_model=QWEN8B, training_shape_ref=shape, lora_rank=lora_rank,
                              forward_only=forward_only, requested_job_id=job)
    endpoint = TrainerJobManager(api_key=KEY, base_url=server.url).create_and_wait(config, poll_interval_s=POLL)
    return str(endpoint.base_url)


@pytest.fixture
def service_for() -> Iterator[Callable[[str], Any]]:
    from fireworks.training.sdk import FiretitanServiceClient

    made: list[Any] = []

    def make(gateway: str) -> Any:
        made.append(FiretitanServiceClient(base_url=gateway, api_key=KEY))
        return made[-1]

    yield make
    for service in made:
        service.close()


def datum(tokens: list[int] = TOKENS, **inputs: Any) -> Any:
    from fireworks.training import sdk

    fields = {"target_tokens": tokens[1:], **inputs}
    return sdk.Datum(model_input=sdk.ModelInput.from_ints(tokens[:-1]), loss_fn_inputs=fields)


def logprobs(output: Any, index: int = 0) -> list[float]:
    return list(output.loss_fn_outputs[index]["logprobs"].data)


def adam(lr: float = 0.05) -> Any:
    from fireworks.training import sdk

    return sdk.AdamParams(learning_rate=lr, beta1=0.9, beta2=0.999, eps=1e-8)


def test_the_loss_of_a_repeated_batch_falls_on_a_real_distribution(
        server: LocalServer, uid: Callable[[str], str], service_for: Callable[[str], Any]) -> None:
    client = service_for(trainer(server, uid("train"))).create_training_client(base_model=QWEN8B, lora_rank=0)

    # the next-token distribution after one token, over the whole Qwen3 vocabulary, sums to 1
    from fireworks.training import sdk

    half = QWEN_VOCAB // 2
    every = [sdk.Datum(model_input=sdk.ModelInput.from_ints([42] * half),
                       loss_fn_inputs={"target_tokens": list(range(start, start + half))}) for start in (0, half)]
    out = client.forward(every, "cross_entropy").result()
    total = sum(math.exp(lp) for i in range(2) for lp in logprobs(out, i))
    assert total == pytest.approx(1.0, abs=1e-5)
    assert all(lp < 0 for lp in logprobs(out, 0))

    batch = [datum(weights=[1.0] * (len(TOKENS) - 1))]
    before = logprobs(client.forward(batch, "cross_entropy").result())
    assert before == logprobs(client.forward(batch, "cross_entropy").result())  # deterministic, no state change
    losses = []
    for _ in range(3):
        result = client.forward_backward(batch, "cross_entropy").result()
        losses.append(result.metrics["loss:sum"])
        assert losses[-1] == pytest.approx(-sum(logprobs(result)), rel=1e-5)  # the loss is of these logprobs
        metrics = client.optim_step(adam()).result().metrics
        assert metrics["grad_norm"] > 0
    assert losses[0] > losses[1] > losses[2]
    assert losses[0] == pytest.approx(-sum(before), rel=1e-5)
    # about log(vocab) nats a token before training: an untrained model, not a canned number
    assert losses[0] / len(before) == pytest.approx(math.log(QWEN_VOCAB), rel=0.2)


def test_built_in_rl_losses_and_the_custom_loss_path(
        server: LocalServer, uid: Callable[[str], str], service_for: Callable[[str], Any]) -> None:
    pytest.importorskip("torch")
    client = service_for(trainer(server, uid("rl"))).create_training_client(base_model=QWEN8B, lora_rank=0)
    n = len(TOKENS) - 1
    for loss_fn in ("importance_sampling", "ppo"):
        sampled = logprobs(client.forward([datum(weights=[1.0] * n)], "cross_entropy").result())
        batch = [datum(logprobs=sampled, advantages=[1.0] * n)]
        first = client.forward_backward(batch, loss_fn).result().metrics["loss:sum"]
        assert first == pytest.approx(-n, rel=1e-4)  # ratio 1 at the sampling policy: -sum(advantages)
        client.optim_step(adam()).result()
        after = client.forward_backward(batch, loss_fn).result().metrics["loss:sum"]
        client.optim_step(adam(0.0)).result()  # drop those gradients
        assert after < first  # positive advantages: the sampled tokens became likelier

    def objective(data: list[Any], logprobs_list: list[Any]) -> tuple[Any, dict[str, float]]:
        loss = -logprobs_list[0].sum()
        return loss, {"nll": float(loss.item())}

    custom = []
    for _ in range(3):
        custom.append(client.forward_backward_custom([datum(weights=[1.0] * n)], objective).result().metrics["nll"])
        client.optim_step(adam()).result()
    assert custom[0] > custom[1] > custom[2]
    with pytest.raises(Exception, match="not emulated"):  # a failed request ends the SDK's sequence: last
        client.forward_backward([datum(weights=[1.0] * n)], "dapo").result()


def test_a_forward_only_reference_serves_forward_and_refuses_backward(
        server: LocalServer, uid: Callable[[str], str], service_for: Callable[[str], Any]) -> None:
    policy = service_for(trainer(server, uid("pol"))).create_training_client(base_model=QWEN8B, lora_rank=0)
    reference_gateway = trainer(server, uid("ref"), shape=FORWARD_SHAPE, forward_only=True)
    reference = service_for(reference_gateway).create_training_client(base_model=QWEN8B, lora_rank=0)
    batch = [datum(weights=[1.0] * (len(TOKENS) - 1))]
    # the same base model: the reference starts where the policy starts
    assert logprobs(reference.forward(batch, "cross_entropy").result()) == pytest.approx(
        logprobs(policy.forward(batch, "cross_entropy").result()))
    with pytest.raises(Exception, match="forward-only"):
        reference.forward_backward(batch, "cross_entropy").result()
    again = service_for(reference_gateway).create_training_client(base_model=QWEN8B, lora_rank=0)  # a failed
    with pytest.raises(Exception, match="forward-only"):  # request ends the SDK client's sequence: a new one
        again.optim_step(adam()).result()


def test_a_lora_trainer_serves_the_shared_reference_with_adapters_disabled(
        server: LocalServer, uid: Callable[[str], str], service_for: Callable[[str], Any]) -> None:
    service = service_for(trainer(server, uid("lora"), shape=LORA_SHAPE, lora_rank=16))
    policy = service.create_training_client(base_model=QWEN8B, lora_rank=16)
    reference = service.create_reference_client(base_model=QWEN8B)
    batch = [datum(weights=[1.0] * (len(TOKENS) - 1))]
    base = logprobs(reference.forward(batch, "cross_entropy").result())
    assert logprobs(policy.forward(batch, "cross_entropy").result()) == pytest.approx(base)  # B starts at zero
    for _ in range(2):
        policy.forward_backward(batch, "cross_entropy").result()
        policy.optim_step(adam()).result()
    trained = logprobs(policy.forward(batch, "cross_entropy").result())
    assert sum(trained) > sum(base)
    assert logprobs(reference.forward(batch, "cross_entropy").result()) == pytest.approx(base)  # still the base
    with pytest.raises(Exception, match="base-only"):
        reference.forward_backward(batch, "cross_entropy").result()
    with pytest.raises(Exception, match="loraRank 16"):
        service.create_training_client(base_model=QWEN8B, lora_rank=8)


def test_saved_states_and_sampler_snapshots_are_listed_and_load_back(
        server: LocalServer, api: httpx.Client, uid: Callable[[str], str],
        service_for: Callable[[str], Any]) -> None:
    job = uid("ckpt")
    client = service_for(trainer(server, job)).create_training_client(base_model=QWEN8B, lora_rank=0)
    batch = [datum(weights=[1.0] * (len(TOKENS) - 1))]
    client.forward_backward(batch, "cross_entropy").result()
    client.optim_step(adam()).result()
    saved = logprobs(client.forward(batch, "cross_entropy").result())
    assert client.save_state("step-1").result().path == "step-1"
    snapshot = client.save_weights_for_sampler("step-1").result().path
    assert snapshot.startswith("step-1")

    assert client.list_checkpoints() == ["step-1"]
    listed = api.get(f"/v1/accounts/{ACCOUNT}/rlorTrainerJobs/{job}/checkpoints").json()
    assert snapshot in {c["name"].rsplit("/", 1)[-1] for c in listed["checkpoints"]}

    client.forward_backward(batch, "cross_entropy").result()
    client.optim_step(adam()).result()
    assert logprobs(client.forward(batch, "cross_entropy").result()) != pytest.approx(saved)
    client.load_state_with_optimizer("step-1").result()
    assert logprobs(client.forward(batch, "cross_entropy").result()) == pytest.approx(saved)
    with pytest.raises(Exception, match="not found"):
        client.load_state("step-9").result()


def test_tinker_speaks_the_json_contract_and_is_told_protobuf_is_not(
        server: LocalServer, uid: Callable[[str], str]) -> None:
    import tinker

    job = uid("tinker")
    gateway = trainer(server, job, shape=LORA_SHAPE, lora_rank=16)
    jwt = httpx.post(f"{gateway}/api/v1/auth/token", json={}, headers={"X-Api-Key": KEY}, timeout=10).json()["jwt"]
    service = tinker.ServiceClient(base_url=gateway, api_key=jwt)
    client = service.create_lora_training_client(base_model=QWEN8B, rank=16).result()
    info = client.get_info()
    assert (info.model_name, info.is_lora, info.lora_rank) == (QWEN8B, True, 16)
    assert (client.optim_step(tinker.AdamParams(learning_rate=1e-3)).result().metrics or {})["step"] == 1.0
    path = client.save_weights_for_sampler("step-1").result().path
    listed = tinker.RestClient(base_url=gateway, api_key=jwt).list_checkpoints(job).result(timeout=30)
    assert path in [c.checkpoint_id for c in listed.checkpoints]
    # tinker >= 0.24 sends forward/forward_backward as protobuf; Fireworks trainers keep JSON
    batch = [tinker.Datum(model_input=tinker.ModelInput.from_ints(TOKENS[:-1]),
                          loss_fn_inputs={"target_tokens": tinker.TensorData(data=TOKENS[1:], dtype="int64")})]
    with pytest.raises(tinker.BadRequestError, match="protobuf request bodies are not accepted"):
        client.forward_backward(batch, "cross_entropy").result()
