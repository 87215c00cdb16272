"""How long compiling a server's blocked-words list and checking a prompt against it take.

Compiles 10,000 made-up terms by default (most single words, some phrases, some stems ending in
``*``), then times ``first_match`` on prompts of 50-1500 characters of ordinary prompt words:
one set where no prompt holds a term, and one where half hold a term disguised the ways people
try (zero-width characters, look-alike letters, fullwidth, accents, markdown, spaced letters).
Prints the compile time and the mean, p99 and max time per prompt against the target.

    python -m benchmarks.blocklist [--terms 10000] [--prompts 2000]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from bot.core.blocklist import BlockList, normalise

TARGET_MS = 1.0
# Ordinary prompt words, and the syllables that made-up terms are built from.
ORDINARY = """
a an the of in on with and under over beside glowing neon city street night rain portrait woman
man child old young cat dog fox wolf owl forest mountain lake river sky cloud sunset dawn golden
hour cinematic lighting detailed painting oil watercolor ink sketch style by artist trending
highly intricate 8k photo realistic lens bokeh soft light dark moody fantasy castle dragon knight
armor sword magic blue red green purple orange yellow black white silver gold crystal glass
reflection water ocean wave beach sand desert snow ice winter summer spring autumn leaves tree
flower garden rose field grass wind storm fire smoke wide angle close up studio background
foreground centered symmetrical vibrant
"""
MADE_UP = "ka lo mi ne ru sa ti vo ber dan fel gor hin jas kel mor nap pel quin ros sten tar ul vin"
PROMPT_WORDS = ORDINARY.split()
SYLLABLES = MADE_UP.split()
# Latin letters and the Cyrillic small letters that look like them.
LOOK_ALIKES = str.maketrans("aceopxy", "\u0430\u0441\u0435\u043e\u0440\u0445\u0443")


def made_up_terms(count: int, rng: random.Random) -> list[str]:
    """Terms that no ordinary prompt word matches, so misses stay misses."""
    ordinary = set(PROMPT_WORDS)
    terms: dict[str, None] = {}
    while len(terms) < count:
        words = [
            "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
            for _ in range(1 if rng.random() < 0.8 else rng.randint(2, 3))
        ]
        if any(w.startswith(o) or o.startswith(w) for w in words for o in ordinary):
            continue
        term = " ".join(words) + ("*" if rng.random() < 0.1 else "")
        terms[term.title() if rng.random() < 0.2 else term] = None
    return list(terms)


def disguise(term: str, rng: random.Random) -> str:
    """The term written the way someone dodging a filter might write it."""
    text = term.rstrip("*") + ("ish" if term.endswith("*") else "")
    style = rng.randrange(8)
    if style == 0:
        return "\u200b".join(text)
    if style == 1:
        return text.lower().translate(LOOK_ALIKES)
    if style == 2:
        return "".join(chr(ord(c) + 0xFEE0) if c.isalpha() else c for c in text)
    if style == 3:
        return "".join(c + "\u0301" if c in "aeiou" else c for c in text)
    if style == 4:
        return f"**{text}**"
    if style == 5:
        return " ".join(".".join(word) for word in text.split())
    if style == 6:
        return text.upper().replace(" ", "\n")
    return text


def prompt(length: int, rng: random.Random, term: str | None = None) -> str:
    """Ordinary prompt words with some punctuation and capitals, and the term somewhere in it."""
    words: list[str] = []
    while sum(len(w) + 1 for w in words) < length:
        word = rng.choice(PROMPT_WORDS)
        if rng.random() < 0.1:
            word = word.capitalize() + rng.choice((",", ".", ""))
        words.append(word)
    if term is not None:
        words.insert(rng.randrange(len(words) + 1), disguise(term, rng))
    return " ".join(words)


def time_prompts(blocklist: BlockList, prompts: list[str]) -> tuple[list[float], int]:
    timings, matched = [], 0
    for text in prompts:
        started = time.perf_counter()
        found = blocklist.first_match(text)
        timings.append((time.perf_counter() - started) * 1000)
        matched += found is not None
    return timings, matched


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main(term_count: int, prompt_count: int, seed: int) -> None:
    rng = random.Random(seed)
    terms = made_up_terms(term_count, rng)
    started = time.perf_counter()
    blocklist = BlockList.compile(terms)
    compile_s = time.perf_counter() - started

    lengths = [rng.randint(50, 1500) for _ in range(prompt_count)]
    misses = [prompt(n, rng) for n in lengths]
    mixed = [prompt(n, rng, rng.choice(terms) if i % 2 else None) for i, n in enumerate(lengths)]
    mean_chars = statistics.mean(len(p) for p in misses)

    print(f"{len(terms):,} terms compiled in {compile_s * 1000:.0f} ms")
    print(
        f"{prompt_count:,} prompts per set, 50-1500 chars (mean {mean_chars:.0f});"
        f" target ≤ {TARGET_MS:g} ms per prompt"
    )
    print(f"{'set':26} {'matched':>8} {'mean':>9} {'p99':>9} {'max':>9}")
    for name, prompts in (("no terms", misses), ("half hold a disguised term", mixed)):
        timings, matched = time_prompts(blocklist, prompts)
        print(
            f"{name:26} {matched:>8,} {statistics.mean(timings):>6.3f} ms"
            f" {percentile(timings, 0.99):>6.3f} ms {max(timings):>6.3f} ms"
        )
    started = time.perf_counter()
    for text in misses:
        normalise(text)
    normalise_ms = (time.perf_counter() - started) * 1000 / prompt_count
    print(f"of which normalising a prompt: mean {normalise_ms:.3f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--terms", type=int, default=10_000)
    parser.add_argument("--prompts", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    arguments = parser.parse_args()
    main(arguments.terms, arguments.prompts, arguments.seed)
