"""What the studies learn from, all local: scikit-learn's bundled digits, and seeded generators for the rest.

digits.py (the 8x8 digits, split by seed) · canvas.py (the digits enlarged at a random place on a larger
canvas) · degraded.py (noisy, low-contrast digits on a brighter background: the transfer target) ·
sequences.py (long-lag sequence tasks) · corpus.py (a text corpus with known structure, or any UTF-8 file) ·
downstream.py (the pretraining study's probe tasks, from token to document level)
"""
from study.data.canvas import canvas
from study.data.digits import Split, digits

__all__ = ["Split", "canvas", "digits"]
