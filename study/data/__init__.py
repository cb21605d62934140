"""What the studies learn from, all local: scikit-learn's bundled digits, and seeded generators for the rest.

digits.py (the 8x8 digits, split by seed) · shapes.py (8x8 shapes, a source unlike digits) · sequences.py
(long-lag sequence tasks) · corpus.py (a text corpus with known structure, or any UTF-8 file) · downstream.py
(the pretraining study's probe tasks, from token to document level)
"""
from study.data.digits import Split, digits

__all__ = ["Split", "digits"]
