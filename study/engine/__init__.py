"""The training engine: many seeds and configurations of one architecture trained as one batched model.

nets.py (layers with a member dimension) · train.py (the batched loop) · measure.py (per-layer gradients)
data.py (digits) · stats.py (intervals) · rng.py (per-member random streams) · loop.py (the per-seed baseline)
"""
