"""Counter-based random numbers keyed by (member seed, stream, counter).

A member's random draws then depend only on its own seed, never on how many other members share the batch,
so member k of a batched run sees exactly the dropout masks a standalone run with seed k would see.
"""
import torch

_MASK32 = 0xFFFFFFFF


def _mix32(x: torch.Tensor) -> torch.Tensor:
    # lowbias32 (C. Wellons): a fast, well-tested 32-bit integer finaliser. int64 holds every intermediate.
    x = x & _MASK32
    x = x ^ (x >> 16)
    x = (x * 0x7FEB352D) & _MASK32
    x = x ^ (x >> 15)
    x = (x * 0x846CA68B) & _MASK32
    return x ^ (x >> 16)


def uniform(seeds: torch.Tensor, stream: int, shape: tuple[int, ...]) -> torch.Tensor:
    """Uniform [0, 1) floats of shape (M, *shape); row k is a function of seeds[k], stream and position only."""
    n = 1
    for s in shape:
        n *= s
    counter = torch.arange(n, device=seeds.device, dtype=torch.int64)
    key = _mix32(seeds.to(torch.int64).view(-1, 1) * 0x9E3779B1 + _mix32(torch.tensor(stream, device=seeds.device)))
    bits = _mix32(_mix32(counter.view(1, -1) ^ key) + key)
    return (bits >> 8).to(torch.float32).mul_(1.0 / (1 << 24)).view(-1, *shape)
