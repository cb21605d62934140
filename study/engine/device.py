"""Where and how the engine computes."""
import torch


def configure(device: str = "auto", threads: int = 1) -> torch.device:
    """Pick the device (auto: CUDA when present) and the intra-op threads.

    Small batched models gain nothing from intra-op threads on a 2-core machine and lose to their overhead
    (see `make bench`), so parallelism comes from running studies in separate processes instead.
    """
    torch.set_num_threads(max(1, int(threads)))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was requested but torch sees no CUDA device")
    return torch.device(device)
