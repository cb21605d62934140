"""Corpora for the pretraining study (§27.3.2): a seeded generator of documents whose structure is known, and a
reader for any UTF-8 text file.

A generated document has a latent topic. Each sentence is `DET [ADJ] NOUN VERB DET [ADJ] NOUN [PREP DET NOUN] .`;
the verb agrees in number with its subject; content words come from the topic's vocabulary with probability
`topic_strength`, else from a common one; the subject of each sentence is the object of the one before (so the
order of two sentences can be told apart); and a few forms are both a noun and a verb, as in English
"watch/watches" (so a word's class depends on its context). Because we wrote the grammar, we know which
downstream task leans on which pretraining task.
"""
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

SPECIALS = ("[PAD]", "[CLS]", "[SEP]", "[MASK]", "[UNK]")
PAD, CLS, SEP, MASK, UNK = range(5)
N_SPECIAL = len(SPECIALS)
TAGS = ("DET", "ADJ", "NOUN", "VERB", "PREP", "PUNCT")
DET, ADJ, NOUN, VERB, PREP, PUNCT = range(6)


@dataclass
class Corpus:
    vocab: list[str]
    docs: list[list[list[int]]]  # document -> sentence -> token ids
    topics: list[int] | None = None  # latent topic per document (generated corpora only)
    tags: list[list[list[int]]] | None = None  # word class of every token (generated corpora only)
    verb_at: list[list[int]] | None = None  # index of the verb in every sentence (generated corpora only)
    flip: dict[int, int] | None = None  # verb form -> the same verb in the other number
    plural: set[int] | None = None  # verb forms that agree with a plural subject
    n_topics: int = 0
    source: str = "generated"

    @property
    def generated(self) -> bool:
        return self.topics is not None


# --- the generator ----------------------------------------------------------------------------------------------

class _Lexicon:
    def __init__(self, n_topics: int, nouns: int = 5, verbs: int = 4, adjectives: int = 3, ambiguous: int = 4):
        self.vocab = list(SPECIALS)
        add = lambda w: self.vocab.append(w) or len(self.vocab) - 1
        self.det = [add("the"), add("my")]
        self.prep = [add("in"), add("on"), add("with")]
        self.stop = add(".")
        groups = [f"t{t}" for t in range(n_topics)] + ["c"]  # one vocabulary per topic, then a common one
        # nouns as (singular, plural); verbs as (agrees with a singular subject, with a plural one)
        self.nouns = [[(add(f"n{g}{i}"), add(f"n{g}{i}s")) for i in range(nouns)] for g in groups]
        self.verbs = [[(add(f"v{g}{i}s"), add(f"v{g}{i}")) for i in range(verbs)] for g in groups]
        self.adjs = [[add(f"j{g}{i}") for i in range(adjectives)] for g in groups]
        # "watch" is a plural verb and a singular noun; "watches" the other way round
        amb = [(add(f"w{i}"), add(f"w{i}es")) for i in range(ambiguous)]
        self.amb_nouns, self.amb_verbs = amb, [(pl, sg) for sg, pl in amb]
        self.flip, self.plural = {}, set()
        for sg, pl in [v for g in self.verbs for v in g] + self.amb_verbs:
            self.flip[sg], self.flip[pl] = pl, sg
            self.plural.add(pl)


def generate(n_docs: int, seed: int = 0, n_topics: int = 4, topic_strength: float = 0.5,
             sentences: tuple[int, int] = (4, 8), p_ambiguous: float = 0.2) -> Corpus:
    """`n_docs` documents; the same seed gives the same corpus, and a prefix of a larger corpus is the smaller one
    only when generated with the same seed and more documents (each document draws from its own stream)."""
    lex = _Lexicon(n_topics)
    docs, topics, tags, verbs = [], [], [], []
    for d in range(n_docs):
        rng = np.random.default_rng([seed, d])
        topic = int(rng.integers(n_topics))
        content = lambda table, amb=None: (
            amb[rng.integers(len(amb))] if amb is not None and rng.random() < p_ambiguous
            else table[topic if rng.random() < topic_strength else n_topics][rng.integers(len(table[0]))])

        def phrase(noun, plural, toks, tg):
            toks.append(lex.det[rng.integers(2)]), tg.append(DET)
            if rng.random() < 0.3:
                toks.append(content(lex.adjs)), tg.append(ADJ)
            toks.append(noun[int(plural)]), tg.append(NOUN)

        sents, stags, sverbs = [], [], []
        subject = content(lex.nouns, lex.amb_nouns)
        for _ in range(int(rng.integers(sentences[0], sentences[1] + 1))):
            toks, tg = [], []
            plural = rng.random() < 0.5
            phrase(subject, plural, toks, tg)
            sverbs.append(len(toks))
            toks.append(content(lex.verbs, lex.amb_verbs)[int(plural)]), tg.append(VERB)
            obj = content(lex.nouns, lex.amb_nouns)
            phrase(obj, rng.random() < 0.5, toks, tg)
            if rng.random() < 0.3:
                toks.append(lex.prep[rng.integers(3)]), tg.append(PREP)
                phrase(content(lex.nouns, lex.amb_nouns), rng.random() < 0.5, toks, tg)
            toks.append(lex.stop), tg.append(PUNCT)
            sents.append(toks), stags.append(tg)
            subject = obj  # the next sentence talks about this one's object
        docs.append(sents), topics.append(topic), tags.append(stags), verbs.append(sverbs)
    return Corpus(lex.vocab, docs, topics, tags, verbs, lex.flip, lex.plural, n_topics)


# --- a text file as a corpus ------------------------------------------------------------------------------------

TOKENISERS = ("whitespace", "char")
_SENTENCE_END = re.compile(r"(?<=[.!?。!?])\s*")


MAX_CORPUS_BYTES = 50_000_000  # a course machine tokenises a file this size in seconds; larger ones are a mistake


def read_text_file(path: str | Path, max_bytes: int = MAX_CORPUS_BYTES) -> str:
    """The file's text, or a ValueError that names the file and says what is wrong and what is allowed: it must
    exist, be a regular file, hold 1 byte to `max_bytes` of UTF-8 text, and contain no NUL bytes (binary)."""
    p = Path(path)
    allowed = f"a UTF-8 text file of 1 byte to {max_bytes:,} bytes"
    if not p.exists():
        raise ValueError(f"corpus file {str(path)!r} does not exist (relative paths start at {Path.cwd()}); "
                         f"allowed: {allowed}")
    if not p.is_file():
        raise ValueError(f"corpus file {str(path)!r} is not a regular file; allowed: {allowed}")
    size = p.stat().st_size
    if size > max_bytes:
        raise ValueError(f"corpus file {str(path)!r} is too large ({size:,} bytes); allowed: {allowed}")
    raw = p.read_bytes()
    if b"\x00" in raw:
        raise ValueError(f"corpus file {str(path)!r} is not text (it contains NUL bytes at offset "
                         f"{raw.index(0)}); allowed: {allowed}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"corpus file {str(path)!r} is not UTF-8 text (byte 0x{raw[e.start]:02x} at offset "
                         f"{e.start}); convert it, e.g. `iconv -t UTF-8`; allowed: {allowed}") from None
    if not text.strip():
        raise ValueError(f"corpus file {str(path)!r} is empty (no text, only whitespace); allowed: {allowed}")
    return text


def from_text(text: str, tokenise: str = "whitespace", vocab_size: int = 200, max_sentence: int = 10,
              source: str = "text") -> Corpus:
    """Paragraphs (blank-line separated) become documents, sentences end at . ! ? 。 or a line break; sentences
    longer than `max_sentence` tokens are cut into pieces. The `vocab_size` most frequent tokens are kept, the rest
    become [UNK]. A single paragraph is cut into documents of 8 sentences."""
    if tokenise not in TOKENISERS:
        raise ValueError(f"tokenise {tokenise!r}: allowed {', '.join(TOKENISERS)}")
    split = (lambda s: s.lower().split()) if tokenise == "whitespace" else (lambda s: list(s.strip()))
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
    docs = []
    for par in paragraphs:
        sents = []
        for line in par.splitlines():
            for s in _SENTENCE_END.split(line):
                toks = split(s)
                sents += [toks[i:i + max_sentence] for i in range(0, len(toks), max_sentence)]
        docs.append([s for s in sents if s])
    if len(docs) == 1:
        docs = [docs[0][i:i + 8] for i in range(0, len(docs[0]), 8)]
    docs = [d for d in docs if len(d) >= 2]
    if len(docs) < 2:
        raise ValueError(f"corpus {source!r} has {len(docs)} document(s) of at least two sentences; it needs two or "
                         "more (separate paragraphs by a blank line)")
    counts: dict[str, int] = {}
    for d in docs:
        for s in d:
            for t in s:
                counts[t] = counts.get(t, 0) + 1
    words = sorted(counts, key=lambda w: (-counts[w], w))[: max(1, vocab_size - N_SPECIAL)]
    index = {w: i + N_SPECIAL for i, w in enumerate(words)}
    ids = [[[index.get(t, UNK) for t in s] for s in d] for d in docs]
    return Corpus(list(SPECIALS) + words, ids, source=source)


def read_corpus(path: str | Path, tokenise: str = "whitespace", vocab_size: int = 200,
                max_sentence: int = 10) -> Corpus:
    return from_text(read_text_file(path), tokenise, vocab_size, max_sentence, source=str(path))


# --- tensors, pairs and the pretraining batches ----------------------------------------------------------------

@dataclass
class Sentences:
    """A corpus as padded tensors: one row per sentence, documents as contiguous runs of rows."""
    tokens: torch.Tensor  # (S, Ls)
    length: torch.Tensor  # (S,)
    doc: torch.Tensor  # (S,) document of each sentence
    doc_start: torch.Tensor  # (D,) first sentence of each document
    doc_n: torch.Tensor  # (D,) sentences per document
    doc_label: torch.Tensor  # (D,) a random label per document, unrelated to its text (the "unrelated" task)


def to_tensors(c: Corpus, unrelated_classes: int = 8, seed: int = 0) -> Sentences:
    sents = [s for d in c.docs for s in d]
    width = max(len(s) for s in sents)
    tokens = torch.full((len(sents), width), PAD, dtype=torch.long)
    for i, s in enumerate(sents):
        tokens[i, : len(s)] = torch.tensor(s)
    doc_n = torch.tensor([len(d) for d in c.docs])
    labels = np.random.default_rng([seed, 77]).integers(unrelated_classes, size=len(c.docs))
    return Sentences(tokens, torch.tensor([len(s) for s in sents]),
                     torch.repeat_interleave(torch.arange(len(c.docs)), doc_n),
                     torch.cumsum(doc_n, 0) - doc_n, doc_n, torch.from_numpy(labels))


def pack(a: torch.Tensor, a_len: torch.Tensor, b: torch.Tensor | None, b_len: torch.Tensor | None,
         L: int) -> tuple[torch.Tensor, torch.Tensor]:
    """[CLS] A [SEP] (B [SEP]) into L positions, padded; B is cut to fit. Any leading dims. Returns tokens and
    segment ids (0 for [CLS] A [SEP], 1 for B [SEP])."""
    j = torch.arange(L)
    la = a_len.clamp(max=L - 2).unsqueeze(-1)
    lead = a.shape[:-1]
    ga = a.gather(-1, (j - 1).clamp(0, a.shape[-1] - 1).expand(*lead, L))
    out = torch.where(j <= la, ga, torch.full_like(ga, PAD))
    out = torch.where(j == la + 1, torch.full_like(out, SEP), out)
    seg = torch.zeros_like(out)
    if b is not None:
        lb = torch.minimum(b_len.unsqueeze(-1), L - 3 - la).clamp(min=0)
        gb = b.gather(-1, (j - 2 - la).clamp(0, b.shape[-1] - 1))
        inb = (j >= la + 2) & (j <= la + 1 + lb)
        out = torch.where(inb, gb, out)
        out = torch.where((j == la + 2 + lb) & (lb > 0), torch.full_like(out, SEP), out)
        seg = ((j >= la + 2) & (j <= la + 2 + lb)).long()
    out[..., 0] = CLS
    return out, seg


def sample_pairs(s: Sentences, u: torch.Tensor, n_docs: torch.Tensor, kind: torch.Tensor, L: int) -> dict:
    """Sentence pairs for every member from its own uniform draws `u` (M, B, 5) and corpus prefix `n_docs` (M,).
    `kind` (M, B): 0 the true next sentence; 1 next-sentence prediction (half the time a sentence from another
    document, label 1 = true next); 2 sentence order (half the time the two swapped, label 1 = swapped)."""
    nd = n_docs.view(-1, 1)
    d = (u[..., 0] * nd).long().clamp(max=nd - 1)
    first = s.doc_start[d] + (u[..., 1] * (s.doc_n[d] - 1)).long().clamp(max=s.doc_n[d] - 2)
    second = first + 1
    coin = u[..., 2] < 0.5
    other = (u[..., 3] * (nd - 1)).long().clamp(max=(nd - 2).clamp(min=0))
    other = other + (other >= d).long()
    random_sent = s.doc_start[other] + (u[..., 4] * s.doc_n[other]).long().clamp(max=s.doc_n[other] - 1)
    nsp_neg = (kind == 1) & coin
    swap = (kind == 2) & coin
    a = torch.where(swap, second, first)
    b = torch.where(nsp_neg, random_sent, torch.where(swap, first, second))
    tokens, seg = pack(s.tokens[a], s.length[a], s.tokens[b], s.length[b], L)
    return {"tokens": tokens, "segments": seg, "nsp": (~nsp_neg).long(), "sop": swap.long(),
            "unrelated": s.doc_label[d]}
