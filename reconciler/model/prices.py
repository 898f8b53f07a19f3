"""Estimated on-demand USD per accelerator-hour (for a rough cost of leaks, not a bill)."""

from __future__ import annotations

HOURLY_PRICE_USD = {
    "NVIDIA_H200_141GB": 6.00,
    "NVIDIA_H100_80GB": 4.40,
    "NVIDIA_A100_80GB": 2.90,
    "NVIDIA_B200_180GB": 9.00,
    "AMD_MI300X_192GB": 4.99,
}


def hourly(accelerator: str | None, count: int | None, replicas: int = 1) -> tuple[str, float]:
    """("TYPE xN", USD/hour) for ``count`` accelerators on each of ``replicas``."""
    if not accelerator:
        return "unknown", 0.0
    count = count or 1
    return f"{accelerator} x{count * replicas}", HOURLY_PRICE_USD.get(accelerator, 0.0) * count * replicas
