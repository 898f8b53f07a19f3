"""The deployments' inference endpoint on a served local plane, driven by the official SDK's samplers.

A deployment answers ``/inference/v1/completions`` from the tiny model of the snapshot it serves: the base
model before any hot load, the trained weights after one, so its logprobs are the trainer's. Hot-load
deployments may stay CREATING while they serve (``--deployments-stay-creating``): the SDK's
``wait_for_ready`` then accepts them on a successful probe, and fails when the probe keeps failing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.local.conftest import (
    ACCOUNT,
    KEY,
    POLICY_SHAPE,
    QWEN8B,
    LocalServer,
    create_deployment,
    start_server,
    wait_state,
)

POLL = 0.05
TOKENS = [9707, 11, 1879, 0, 3555, 374, 220, 17, 10, 17, 30, 220, 19, 13]


def model_of(dep: str) -> str:
    return f"accounts/{ACCOUNT}/deployments/{dep}"


def sampler(server: LocalServer, dep: str) -> Any:
    from fireworks.training.sdk import DeploymentSampler, FixedConcurrencyController

    return DeploymentSampler(inference_url=server.url, model=model_of(dep), api_key=KEY,
                             concurrency_controller=FixedConcurrencyController(4))


def sample(server: LocalServer, dep: str, prompt: list[int], **kwargs: Any) -> list[Any]:
    return asyncio.run(sampler(server, dep).sample_with_prompt_tokens(prompt, **kwargs))


def prompt_logprobs(server: LocalServer, dep: str, tokens: list[int]) -> list[float]:
    """What the deployment says of ``tokens`` (tinker's ``include_prompt_logprobs``, through the SDK)."""
    from fireworks.training import sdk
    from fireworks.training.sdk.client import FiretitanSamplingClient

    client = FiretitanSamplingClient(sampler(server, dep))
    try:
        answer = client.sample(sdk.ModelInput.from_ints(tokens), 1, sdk.SamplingParams(max_tokens=1, temperature=1.0),
                               include_prompt_logprobs=True).result(timeout=60)
    finally:
        client.close()
    logps = answer.prompt_logprobs
    assert logps is not None and logps[0] is None and len(logps) == len(tokens)
    return [float(x) for x in logps[1:]]


@pytest.fixture
def trained(server: LocalServer, uid: Callable[[str], str]) -> Iterator[dict[str, Any]]:
    """A RUNNING policy trainer, a deployment attached to it, and the official SDK's training client."""
    from fireworks.training.sdk import FiretitanServiceClient, TrainerJobConfig, TrainerJobManager

    job = uid("infer-train")
    config = TrainerJobConfig(base_model=QWEN8B, training_shape_ref=POLICY_SHAPE, lora_rank=0, requested_job_id=job)
    endpoint = TrainerJobManager(api_key=KEY, base_url=server.url).create_and_wait(config, poll_interval_s=POLL)
    service = FiretitanServiceClient(base_url=str(endpoint.base_url), api_key=KEY)
    with httpx.Client(base_url=server.url, headers={"X-Api-Key": KEY}, timeout=30) as api:
        dep = uid("infer-dep")
        create_deployment(api, dep, trainer=job)
        yield {"job": job, "dep": dep, "api": api,
               "client": service.create_training_client(base_model=QWEN8B, lora_rank=0)}
    service.close()


def test_the_deployment_samples_the_snapshot_it_serves_and_a_hot_load_changes_it(
        server: LocalServer, trained: dict[str, Any]) -> None:
    from fireworks.training import sdk
    from fireworks.training.sdk import DeploymentManager

    dep, client = trained["dep"], trained["client"]
    # before any hot load: the base model, exactly what the untrained trainer computes
    datum = sdk.Datum(model_input=sdk.ModelInput.from_ints(TOKENS[:-1]), loss_fn_inputs={"target_tokens": TOKENS[1:]})
    trainer_before = list(client.forward([datum], "cross_entropy").result().loss_fn_outputs[0]["logprobs"].data)
    served_before = prompt_logprobs(server, dep, TOKENS)
    assert served_before == pytest.approx(trainer_before, abs=1e-4)

    greedy = sample(server, dep, TOKENS[:4], n=2, max_tokens=6, temperature=0.0, logprobs=True)
    assert len(greedy) == 2 and greedy[0].full_tokens == greedy[1].full_tokens  # greedy is deterministic
    assert greedy[0].full_tokens[:4] == TOKENS[:4] and greedy[0].completion_len == 6
    assert len(greedy[0].inference_logprobs) == 6 and all(lp < 0 for lp in greedy[0].inference_logprobs)

    for _ in range(5):  # learn the sequence
        client.forward_backward([datum], "cross_entropy").result()
        client.optim_step(sdk.AdamParams(learning_rate=0.1, beta1=0.9, beta2=0.999, eps=1e-8)).result()
    identity = client.save_weights_for_sampler("step-5").result().path
    trainer_after = list(client.forward([datum], "cross_entropy").result().loss_fn_outputs[0]["logprobs"].data)

    manager = DeploymentManager(api_key=KEY, base_url=server.url)
    assert manager.hotload_and_wait(deployment_id=dep, base_model=QWEN8B, snapshot_identity=identity,
                                    timeout_seconds=30)
    served_after = prompt_logprobs(server, dep, TOKENS)
    assert served_after == pytest.approx(trainer_after, abs=1e-4)  # the deployment serves the trained weights
    assert sum(served_after) > sum(served_before) + 1.0  # and so it finds the learnt sequence far likelier
    assert sample(server, dep, TOKENS[:4], max_tokens=6, temperature=0.0)[0].full_tokens != greedy[0].full_tokens


def test_sampling_follows_temperature_seed_and_echo(server: LocalServer, api: httpx.Client,
                                                    uid: Callable[[str], str]) -> None:
    dep = uid("infer-seed")
    create_deployment(api, dep)
    first = sample(server, dep, TOKENS[:3], max_tokens=8, temperature=1.0, seed=7, logprobs=True)[0]
    again = sample(server, dep, TOKENS[:3], max_tokens=8, temperature=1.0, seed=7, logprobs=True)[0]
    other = sample(server, dep, TOKENS[:3], max_tokens=8, temperature=1.0, seed=8, logprobs=True)[0]
    assert first.full_tokens == again.full_tokens != other.full_tokens
    assert first.sampling_logprobs == pytest.approx(first.inference_logprobs)  # full-distribution sampling
    hot = sample(server, dep, TOKENS[:3], max_tokens=8, temperature=0.5, seed=7, logprobs=True)[0]
    assert hot.sampling_logprobs != pytest.approx(hot.inference_logprobs)  # temperature reshapes the policy
    echoed = sample(server, dep, TOKENS[:3], max_tokens=2, temperature=0.0, logprobs=True, echo=True)[0]
    assert echoed.logprobs_echoed and echoed.full_tokens[:3] == TOKENS[:3] and echoed.completion_len == 2
    assert len(echoed.inference_logprobs) == 2 + 2  # P + C - 1 training-aligned entries


def test_what_the_endpoint_refuses(server: LocalServer, api: httpx.Client, uid: Callable[[str], str]) -> None:
    dep = uid("infer-refuse")
    create_deployment(api, dep)
    url = "/inference/v1/completions"
    ok = {"model": model_of(dep), "prompt": [1, 2], "max_tokens": 2}
    assert api.post(url, json=ok).status_code == 200
    missing = api.post(url, json={**ok, "model": model_of("no-such-dep")})
    assert missing.status_code == 404 and "no-such-dep" in missing.json()["error"]["message"]
    serverless = api.post(url, json={**ok, "model": QWEN8B})
    assert serverless.status_code == 404 and "deployments only" in serverless.json()["error"]["message"]
    headed = api.post(url, json={**ok, "model": QWEN8B}, headers={"fireworks-deployment": model_of(dep)})
    assert headed.status_code == 200  # a base model routed by the deployment header
    extra = api.post(url, json={**ok, "bogus": 1})
    assert extra.status_code == 400 and "bogus" in extra.json()["error"]["message"]
    r3 = api.post(url, json={**ok, "include_routing_matrix": True})
    assert r3.status_code == 400 and "not emulated" in r3.json()["error"]["message"]
    bad_tokens = api.post(url, json={**ok, "prompt": [10**9]})
    assert bad_tokens.status_code == 400
    unauthenticated = httpx.post(f"{server.url}{url}", json=ok)
    assert unauthenticated.status_code == 401


@pytest.fixture(scope="module")
def creating_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    srv = start_server(str(tmp_path_factory.mktemp("creating") / "local.db"), "--deployments-stay-creating")
    yield srv
    srv.stop()


def test_a_hot_load_deployment_that_stays_creating_serves_and_wait_for_ready_accepts_it(
        creating_server: LocalServer, uid: Callable[[str], str], fast_sdk: None, tmp_path: Path) -> None:
    from fireworks.training.sdk import DeploymentManager

    with httpx.Client(base_url=creating_server.url, headers={"X-Api-Key": KEY}, timeout=30) as api:
        dep = uid("creating")
        create_deployment(api, dep, ready=False)
        path = f"/v1/accounts/{ACCOUNT}/deployments/{dep}"
        deadline = time.time() + 10
        while (served := api.get(path).json()).get("replicaCount") != 1 and time.time() < deadline:
            time.sleep(0.01)
        assert served["replicaCount"] == 1  # its replica is up ...
        assert served["state"] == "CREATING"  # ... and the control plane still says CREATING
        answer = api.post("/inference/v1/completions", json={"model": model_of(dep), "prompt": [1, 2], "max_tokens": 4})
        assert answer.status_code == 200

        manager = DeploymentManager(api_key=KEY, base_url=creating_server.url)
        assert manager.wait_for_ready(dep, timeout_s=10, poll_interval_s=0.05).state == "READY"

        # an inference outage: the probe fails, so the SDK's wait times out (a 404, which the SDK's probe
        # does not retry: a 503 it retries for up to 5 minutes of real time inside each probe)
        down = api.put("/_local/v1/inference", json={"deployment": dep, "status": 404,
                                                     "message": "model not served yet"})
        assert down.status_code == 200 and down.json()["outages"][0]["deployment"] == dep
        refused = api.post("/inference/v1/completions", json={"model": model_of(dep), "prompt": [1, 2]})
        assert refused.status_code == 404 and refused.json()["error"]["message"] == "model not served yet"
        with pytest.raises(TimeoutError):
            manager.wait_for_ready(dep, timeout_s=0.5, poll_interval_s=0.05)
        api.delete("/_local/v1/inference")
        assert api.get("/_local/v1/inference").json() == {"deploymentsStayCreating": True, "outages": []}
        # a deployment without hot load is reconciled as usual: READY
        plain = uid("plain")
        create_deployment(api, plain, ready=False, enableHotLoad=False)
        wait_state(api, f"/v1/accounts/{ACCOUNT}/deployments/{plain}", "READY")
