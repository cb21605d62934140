"""The training engine: many seeds and configurations of one architecture trained as one batched model.

Networks with a member dimension: nets.py (MLP layers, BN, dropout) · convnets.py (CNN) · recurrent.py (RNN,
LSTM, GRU) · transformer.py (a small BERT-style encoder, masking, heads)
Training: train.py (the batched loop, per-member learning rates) · pretrain.py (pretraining, probes,
fine-tuning of encoders) · landscapes.py (descent on 2-D loss surfaces, all starts at once) · shootout.py (the
tuning protocol of the optimizer comparison)
Measuring: measure.py (per-layer gradients, variance shift) · stats.py (intervals over seeds)
Plumbing: rng.py (per-member random streams) · device.py (threads, CUDA) · loop.py (the per-seed baseline)
"""
