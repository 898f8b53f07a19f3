"""Three training steps with the official fireworks-ai SDK against what `fwctl apply` created.

    fwctl output --json > outputs.json
    FIREWORKS_API_KEY=... python scripts/training_loop.py outputs.json     # or: fwctl output --json | ... -

The script reconnects with the keyword arguments of `fwctl output --json` (its ``sdk`` section) and runs
the seed documents' managed-service workflow, unchanged: ``create_training_client``,
``forward_backward_custom`` + ``optim_step``, the reference's ``forward`` for a KL term, and
``save_weights_for_sampler(...).result().path``, then ``create_deployment_sampler(model_path=...)`` (a hot
load onto the stack's deployment) and one sample from it. It prints the loss of each step, the sample
and, last, one JSON line with the losses, the snapshot identity and the sample (for scripts and tests).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

LOCAL_KEY = "fwctl-local-key"  # the local control plane's default key
PROMPT = [9707, 11, 1879, 0, 3555, 374, 220, 17, 10, 17, 30]  # any token ids of the base model's tokenizer
COMPLETION = [220, 19, 13, 151645]


def main(argv: list[str]) -> int:
    source = argv[1] if len(argv) > 1 else "-"
    if source == "-":
        outputs: dict[str, Any] = json.load(sys.stdin)
    else:
        with open(source, encoding="utf-8") as handle:
            outputs = json.load(handle)
    steps = int(os.environ.get("FWCTL_DEMO_STEPS", "3"))

    import torch
    from fireworks.training import sdk
    from fireworks.training.sdk import FiretitanServiceClient

    service = FiretitanServiceClient.from_firetitan_config(
        api_key=os.environ.get("FIREWORKS_API_KEY", LOCAL_KEY), **outputs["sdk"])
    policy = service.create_training_client()
    tokens = PROMPT + COMPLETION
    weights = [0.0] * (len(PROMPT) - 1) + [1.0] * len(COMPLETION)
    datum = sdk.Datum(model_input=sdk.ModelInput.from_ints(tokens[:-1]),
                      loss_fn_inputs={"target_tokens": tokens[1:], "weights": weights})
    mask = torch.tensor(weights)

    reference_logprobs = None
    if outputs["sdk"].get("reference_required"):
        reference = service.create_reference_client()
        ref = reference.forward([datum], "cross_entropy").result()
        reference_logprobs = torch.tensor(ref.loss_fn_outputs[0]["logprobs"].data)

    def objective(data: list[Any], logprobs_list: list[Any]) -> tuple[Any, dict[str, float]]:
        logprobs = logprobs_list[0]
        nll = -(logprobs * mask).sum()
        kl = ((logprobs - reference_logprobs) * mask).sum() if reference_logprobs is not None else 0.0 * nll
        loss = nll + 0.01 * kl
        return loss, {"nll": float(nll.item()), "kl": float(kl.item())}

    losses: list[float] = []
    for step in range(1, steps + 1):
        result = policy.forward_backward_custom([datum], objective).result()
        policy.optim_step(sdk.AdamParams(learning_rate=0.05, beta1=0.9, beta2=0.999, eps=1e-8)).result()
        losses.append(result.metrics["nll"])
        print(f"step {step}: loss {result.metrics['nll']:.4f} (kl {result.metrics['kl']:+.4f})", flush=True)

    saved = policy.save_weights_for_sampler(f"step-{steps}").result()
    print(f"saved sampler snapshot {saved.path}", flush=True)

    sample: dict[str, Any] = {}
    if outputs["sdk"].get("deployment_id"):  # hot-load the snapshot onto the deployment, then sample from it
        sampler = service.create_deployment_sampler(model_path=saved.path)
        [completion] = asyncio.run(sampler.sample_with_prompt_tokens(PROMPT, max_tokens=4, temperature=0.0,
                                                                     logprobs=True))
        tokens = list(completion.full_tokens[completion.prompt_len:])
        sample = {"tokens": tokens, "logprobs": [round(x, 4) for x in completion.inference_logprobs]}
        print(f"sample from deployment {outputs['sdk']['deployment_id']} serving {saved.path}: tokens {tokens}, "
              f"logprobs {sample['logprobs']}", flush=True)
    print(json.dumps({"losses": losses, "snapshot": saved.path, "sample": sample}), flush=True)
    service.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
