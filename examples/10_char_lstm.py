"""A character-level LSTM language model learns the structure of a tiny language.

The text is made on the fly from a small grammar: sentences "the <noun> <verb> the <noun>."
with words drawn at random.  A model that knew only how often each character occurs (a
unigram model) needs about 4 bits per character; inside a word every next character is
determined, and only the word choices carry information (log2 of the choices, spread over
the sentence), so a model that has learned the words and the sentence pattern needs well
under 1 bit.  The LSTM (``nn.Embedding -> nn.LSTM -> nn.Linear``, trained with truncated
backpropagation through time on 64-character windows) gets there, measured on held-out text;
greedy generation then spells words of the language.

    python examples/10_char_lstm.py [--quick]
"""
import math

import numpy as np

from _common import parse_args, check, finish, figure, plt_or_note

import dlbasic as torch
import dlbasic.nn as nn

NOUNS = ["cat", "dog", "bird", "fish", "horse", "mouse"]
VERBS = ["sees", "likes", "chases", "follows"]


def make_text(n_sentences, seed):
    rng = np.random.default_rng(seed)
    words = []
    for _ in range(n_sentences):
        words.append(f"the {rng.choice(NOUNS)} {rng.choice(VERBS)} the {rng.choice(NOUNS)}.")
    return " ".join(words) + " "


def unigram_bits(text):
    _, counts = np.unique(list(text), return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log2(p)).sum())


def optimal_bits(text):
    """Bits per character of the grammar itself: each sentence carries three noun/verb
    choices; everything else is determined."""
    per_sentence = 2 * math.log2(len(NOUNS)) + math.log2(len(VERBS))
    return per_sentence * text.count(".") / len(text)


class CharLM(nn.Module):
    def __init__(self, vocab, hidden):
        super().__init__()
        self.embed = nn.Embedding(vocab, 16)
        self.lstm = nn.LSTM(16, hidden, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, x, state=None):
        h, state = self.lstm(self.embed(x), state)
        return self.head(h), state


def batches(ids, batch, length, rng):
    starts = rng.integers(0, len(ids) - length - 1, batch)
    x = np.stack([ids[s:s + length] for s in starts])
    y = np.stack([ids[s + 1:s + length + 1] for s in starts])
    return torch.tensor(x), torch.tensor(y)


def bits_per_char(model, ids, length=64):
    """Cross-entropy (in bits) of the model's next-character predictions on ``ids``."""
    n = (len(ids) - 1) // length * length
    x = torch.tensor(ids[:n].reshape(-1, length))
    y = torch.tensor(ids[1:n + 1].reshape(-1, length))
    with torch.no_grad():
        logits, _ = model(x)
        loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
    return loss.item() / math.log(2)


def generate(model, prompt, chars, itos, stoi, n):
    model.eval()
    x = torch.tensor([[stoi[c] for c in prompt]])
    out = prompt
    with torch.no_grad():
        logits, state = model(x)
        for _ in range(n):
            nxt = int(logits[0, -1].argmax())
            out += itos[nxt]
            logits, state = model(torch.tensor([[nxt]]), state)
    return out


def main():
    args = parse_args(__doc__.split("\n\n")[0])
    torch.manual_seed(args.seed)
    steps, hidden = (150, 48) if args.quick else (600, 96)
    train_text = make_text(3000, args.seed)
    val_text = make_text(300, args.seed + 1)
    chars = sorted(set(train_text) | set(val_text))
    stoi = {c: i for i, c in enumerate(chars)}
    itos = dict(enumerate(chars))
    train_ids = np.array([stoi[c] for c in train_text], dtype=np.int64)
    val_ids = np.array([stoi[c] for c in val_text], dtype=np.int64)

    model = CharLM(len(chars), hidden)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    rng = np.random.default_rng(args.seed)
    curve = []
    for step in range(1, steps + 1):
        x, y = batches(train_ids, 32, 64, rng)
        logits, _ = model(x)
        loss = nn.functional.cross_entropy(logits.reshape(-1, len(chars)), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        curve.append(loss.item() / math.log(2))
        if step % 50 == 0:
            print(f"step {step}: train {curve[-1]:.3f} bits/char")

    unigram, optimum = unigram_bits(val_text), optimal_bits(val_text)
    val = bits_per_char(model, val_ids)
    print(f"held-out text: {val:.3f} bits/char; unigram model {unigram:.3f}; "
          f"the grammar's own information {optimum:.3f}")
    limit = 0.6 if args.quick else 0.35
    check(val < limit, f"the LSTM needs under {limit} bits/char on held-out text "
                       f"({val:.3f}; a unigram model needs {unigram:.2f})")
    sample = generate(model, "the ", chars, itos, stoi, 60)
    print(f"greedy sample: {sample!r}")
    words = {w.strip(".") for w in sample.split()[:-1]}
    known = {"the"} | set(NOUNS) | set(VERBS)
    check(words and words <= known, f"greedy generation spells only words of the language "
                                    f"({sorted(words - known) or 'all known'})")

    plt = plt_or_note("the learning curve")
    if plt is not None:
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.plot(np.arange(1, steps + 1), curve, lw=1, label="training batches")
        ax.axhline(unigram, color="gray", ls="--", label=f"unigram model ({unigram:.2f})")
        ax.axhline(val, color="C1", ls=":", label=f"held-out, end ({val:.2f})")
        ax.axhline(optimum, color="C2", ls="-.", label=f"the grammar ({optimum:.2f})")
        ax.set_xlabel("step")
        ax.set_ylabel("bits per character")
        ax.set_title("character-level LSTM language model")
        ax.legend(fontsize=8)
        figure(args, "10_char_lstm", fig)
    finish()


if __name__ == "__main__":
    main()
