"""The small caption corpus the tiny models' tokenizers are made from.

CLIP's byte-level BPE (``vocab.json`` + ``merges.txt``, merges learnt on the corpus) and a BERT
WordPiece vocabulary of its words for BLIP's text decoder (``vocab.txt``).
"""

from collections import Counter

CORPUS = """
a red disc moving to the right on a dark background
a green square moving up on a dark background
a blue triangle moving to the left on a dark background
yellow horizontal stripes drifting down on a dark background
a magenta ring moving diagonally up and to the right on a dark background
a cyan cross moving diagonally down and to the left on a dark background
an orange diamond moving diagonally up and to the left on a dark background
a white checkerboard moving diagonally down and to the right on a dark background
a large disc at the top left on a grey background, a small square at the middle centre
large stripes at the bottom right, small crosses at the top centre and the middle left
a man riding a horse on the beach
a woman walking with a dog in the park
a group of people standing in a room
a close up of a person talking to the camera
an aerial view of a city at night with cars on the street
a bird flying over the water near a boat
two children playing with a ball on the grass
a black and white photo of a car in front of a building
"""


def _byte_alphabet():
    """The 256 printable characters GPT-2/CLIP byte-level BPE uses for the bytes 0-255."""
    keep = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAC + 1), *range(0xAE, 0xFF + 1)]
    chars, extra = {}, 0
    for b in range(256):
        if b in keep:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return [chars[b] for b in range(256)]


def learn_bpe_merges(words, n_merges):
    """Learn byte-pair merges the way BPE does, with ties broken alphabetically (deterministic).

    Parameters
    ----------
    words : iterable of str
        Lower-case ASCII words of a corpus (repeats count).
    n_merges : int
        Most merges to learn; fewer if every word becomes one symbol first.

    Returns
    -------
    list of (str, str)
        Merges in rank order; words end with CLIP's ``</w>`` marker.
    """
    counts = Counter(tuple(w[:-1]) + (w[-1] + "</w>",) for w in words if w)
    merges = []
    for _ in range(n_merges):
        pairs = Counter()
        for word, n in counts.items():
            for pair in zip(word, word[1:]):
                pairs[pair] += n
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))
        merges.append(best)
        merged = Counter()
        for word, n in counts.items():
            out, i = [], 0
            while i < len(word):
                if word[i: i + 2] == best:
                    out.append(best[0] + best[1])
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            merged[tuple(out)] += n
        counts = merged
    return merges


def clip_vocabulary(n_merges=400):
    """A small valid CLIP BPE vocabulary: every byte (alone and word-final), the merges, specials.

    Returns
    -------
    vocab : dict of str to int
    merges : list of (str, str)
    """
    alphabet = _byte_alphabet()
    tokens = alphabet + [c + "</w>" for c in alphabet]
    merges = learn_bpe_merges(CORPUS.split(), n_merges)
    for a, b in merges:
        if a + b not in tokens:
            tokens.append(a + b)
    tokens += ["<|startoftext|>", "<|endoftext|>"]  # last, as in the real vocabulary
    return {t: i for i, t in enumerate(tokens)}, merges


def blip_vocabulary():
    """BLIP's WordPiece tokens: BERT's specials, the corpus words, and ``[DEC]`` (starts a caption)."""
    words = sorted(set(CORPUS.split()))
    return ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words, "[DEC]"]
