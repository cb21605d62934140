"""The downstream suite of the pretraining study: one task at each level (token, sentence, pair, document).

For a generated corpus the tasks use its known structure: the class of a word that can be a noun or a verb
(token), the number of a masked subject, which only the verb's agreement reveals (sentence), whether two sentences
share a topic (pair), and the topic of a document (document). A text file has no labels, so it gets tasks any text defines: whether a token
is frequent, whether a sentence's word order is intact, whether two sentences come from one document, and
which document a passage comes from.

Examples are drawn class-balanced and stored by class, so that "the first k per class" is a nested training set.
"""
import re
from dataclasses import dataclass

import numpy as np
import torch

from study.data.corpus import MASK, NOUN, VERB, Corpus, pack

LEVELS = {"tagging": "token", "agreement": "sentence", "same_topic": "pair", "topic": "document",
          "frequency": "token", "word_order": "sentence", "same_doc": "pair", "document": "document"}


@dataclass
class Task:
    name: str
    n_classes: int
    tokens: torch.Tensor  # (C, K, L): K examples of each class
    segments: torch.Tensor  # (C, K, L)
    pos: torch.Tensor  # (C, K): the position a token-level task asks about (0, i.e. [CLS], otherwise)
    n_train: int  # examples per class reserved for training (the largest label count)
    n_val: int

    @property
    def level(self) -> str:
        return LEVELS[self.name]

    def take(self, part: str, k: int | None = None):
        """(tokens, segments, pos, labels) of the first k training examples per class, or the val/test part."""
        lo, hi = {"train": (0, k or self.n_train), "val": (self.n_train, self.n_train + self.n_val),
                  "test": (self.n_train + self.n_val, self.tokens.shape[1])}[part]
        C = self.n_classes
        sl = lambda t: t[:, lo:hi].transpose(0, 1).reshape(-1, *t.shape[2:])
        y = torch.arange(C).repeat(hi - lo)
        return sl(self.tokens), sl(self.segments), sl(self.pos), y


def _pick(rng, pool: list, k: int, what: str) -> list:
    if not pool:
        raise ValueError(f"the corpus has no examples for {what}")
    idx = rng.choice(len(pool), size=k, replace=len(pool) < k)
    return [pool[i] for i in idx]


def _build(name, per_class: list[list], L: int, n_train: int, n_val: int) -> Task:
    """per_class[c] = list of (sentence A, sentence B or None, position)."""
    toks, segs, poss = [], [], []
    for examples in per_class:
        a = [e[0] for e in examples]
        b = [e[1] or [] for e in examples]
        width = max(1, max(len(x) for x in a + b))
        A = torch.tensor([x + [0] * (width - len(x)) for x in a])
        B = torch.tensor([x + [0] * (width - len(x)) for x in b])
        single = all(e[1] is None for e in examples)
        t, s = pack(A, torch.tensor([len(x) for x in a]), None if single else B,
                    None if single else torch.tensor([len(x) for x in b]), L)
        toks.append(t), segs.append(s), poss.append(torch.tensor([e[2] for e in examples]))
    return Task(name, len(per_class), torch.stack(toks), torch.stack(segs), torch.stack(poss), n_train, n_val)


def suite(c: Corpus, L: int, n_train: int, n_val: int, n_test: int, seed: int = 0) -> dict[str, Task]:
    """The four tasks, `n_train + n_val + n_test` examples per class each."""
    rng = np.random.default_rng([seed, 4242])
    k = n_train + n_val + n_test
    sents = [(d, s) for d, doc in enumerate(c.docs) for s in doc]
    if c.generated:
        ambiguous = {i for i, w in enumerate(c.vocab) if re.fullmatch(r"w\d+(es)?", w)}  # noun or verb
        tag = {NOUN: [], VERB: []}
        for d, doc in enumerate(c.docs):
            for s, tg in zip(doc, c.tags[d]):
                for i, (w, t) in enumerate(zip(s, tg)):
                    if w in ambiguous and i + 2 < L:
                        tag[t].append((s, None, i + 1))
        tasks = {"tagging": [_pick(rng, tag[NOUN], k, "nouns"), _pick(rng, tag[VERB], k, "verbs")]}
        # the subject is masked: only the verb's agreement tells whether it was singular or plural
        number = {0: [], 1: []}
        for d, doc in enumerate(c.docs):
            for j, s in enumerate(doc):
                v = c.verb_at[d][j]
                number[int(s[v] in c.plural)].append((s[: v - 1] + [MASK] + s[v:], None, 0))
        tasks["agreement"] = [_pick(rng, number[0], k, "singular subjects"), _pick(rng, number[1], k, "plural subjects")]
        by_topic = [[d for d in range(len(c.docs)) if c.topics[d] == t] for t in range(c.n_topics)]
        pairs = {0: [], 1: []}
        while min(len(pairs[0]), len(pairs[1])) < k:
            d1, d2 = rng.choice(len(c.docs), 2, replace=False)
            same = int(c.topics[d1] == c.topics[d2])
            if len(pairs[same]) < k:
                pairs[same].append((c.docs[d1][rng.integers(len(c.docs[d1]))], c.docs[d2][rng.integers(len(c.docs[d2]))], 0))
        tasks["same_topic"] = [pairs[0], pairs[1]]
        tasks["topic"] = [[_window(c.docs[d], rng) for d in _pick(rng, by_topic[t], k, f"topic {t}")]
                          for t in range(c.n_topics)]
    else:
        counts = np.bincount([w for _, s in sents for w in s], minlength=len(c.vocab))
        median = np.median([counts[w] for _, s in sents for w in s])
        freq = {0: [], 1: []}
        for _, s in sents:
            for i, w in enumerate(s[: L - 2]):
                freq[int(counts[w] > median)].append((s, None, i + 1))
        tasks = {"frequency": [_pick(rng, freq[0], k, "rare tokens"), _pick(rng, freq[1], k, "frequent tokens")]}
        swappable = [s for _, s in sents if any(a != b for a, b in zip(s, s[1:]))]
        intact = _pick(rng, swappable, k, "sentences of two different tokens")
        swapped = []
        for s in _pick(rng, swappable, k, "sentences of two different tokens"):
            i = rng.choice([i for i in range(len(s) - 1) if s[i] != s[i + 1]])
            s = list(s)
            s[i], s[i + 1] = s[i + 1], s[i]
            swapped.append((s, None, 0))
        tasks["word_order"] = [[(s, None, 0) for s in intact], swapped]
        pairs = {0: [], 1: []}
        for _ in range(2 * k):
            d1 = rng.integers(len(c.docs))
            d2 = d1 if rng.random() < 0.5 else (d1 + 1 + rng.integers(len(c.docs) - 1)) % len(c.docs)
            pairs[int(d1 == d2)].append((c.docs[d1][rng.integers(len(c.docs[d1]))],
                                         c.docs[d2][rng.integers(len(c.docs[d2]))], 0))
        tasks["same_doc"] = [_pick(rng, pairs[0], k, "pairs"), _pick(rng, pairs[1], k, "pairs")]
        biggest = sorted(range(len(c.docs)), key=lambda d: -len(c.docs[d]))[:4]
        tasks["document"] = [[_window(c.docs[d], rng) for _ in range(k)] for d in biggest]
    return {name: _build(name, per_class, L, n_train, n_val) for name, per_class in tasks.items()}


def _window(doc, rng):
    """A passage: one sentence as A, the next two as B."""
    i = int(rng.integers(max(1, len(doc) - 2)))
    return (doc[i], sum(doc[i + 1:i + 3], []) or None, 0)
