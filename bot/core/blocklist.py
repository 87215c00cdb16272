"""A server's blocked words and phrases, matched the way a reader sees them.

``BlockList.compile`` turns the list into one regular expression over a trie of the normalised
terms (slow-ish: run it in a worker thread when the list changes); ``first_match`` then costs a
normalisation of the prompt and one or two scans, however long the list.

Terms and prompts both go through ``normalise``:

1. Each character is read the way it looks. Compatibility forms are unfolded (NFKD: fullwidth,
   mathematical bold and italic, ligatures), accents and other combining marks are dropped,
   invisible characters are dropped (format characters such as zero-width spaces and joiners and
   the soft hyphen, variation selectors, Hangul fillers, unassigned and private-use code
   points), letters are case-folded, and look-alikes from other scripts are folded to the
   prototype that Unicode TR39's confusables data gives them (Cyrillic and Greek small "o",
   U+043E and U+03BF, to Latin "o").
2. Anything that is then not a letter or digit (markdown, punctuation, spaces, symbols) breaks
   words, and each run of such characters becomes one space.

Decisions:

- TR39 is case-sensitive: Greek capital NU looks like "N", its small letter like "v". So a
  prompt is read twice where that matters: case-folded first and then folded by TR39 (this is
  ``normalise``, and it keeps every script case-insensitive: Greek "NAI" in capitals matches
  "nai" in small letters), and by TR39 first and then case-folded, by the shape of the letters as
  written (so that capitals from other scripts pass for Latin capitals). Either reading matches.
- ASCII is only case-folded. TR39 reads "1", "I" and "|" as "l", "0" as "O" and "m" as "rn", which
  would make "burn" match a blocked "bum" and numbers match words. Leetspeak ("k1ll") is not
  handled.
- A term matches whole words: "cat" does not match "concatenate". A trailing ``*`` makes the term
  a stem that matches the start of a word: "wolf*" matches "wolf", "wolfish" and "wolfs" (not
  "wolves"). A ``*`` anywhere else is punctuation like any other.
- A multi-word term matches across any separators ("bad wolf" in "bad_\\nwolf") and also written
  as one word ("badwolf", as in a hashtag).
- Letter-separated spellings are caught: a run of three or more one-character words ("w.o.l.f",
  "w o l f", "w-o-r-d", "a s s") is also read joined up, and the list is matched against that
  reading too. Spelled-out letters do not show where a word starts ("a w o l f" is "a wolf"), so
  there a term may start at any letter of the run, though it must still end where the run or a
  later word ends. So "a s s embly" matches "ass", while "class", "assembly" and "a ss" do not
  (a spelled-out "c l a s s" would, and "I'm a" would match a blocked "ma"). Three, because two
  single letters in a row are common in plain text once apostrophes break words ("it's a" reads
  "it s a"); a two-letter term spelled out, a word split unevenly ("wo.lf"), or one followed by
  a one-letter word ("w.o.l.f a") is not caught.
- Scripts written without spaces (Chinese, Japanese, Thai) have no word breaks to match whole
  words against, so a term in them matches only where it stands apart from other letters.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from confusable_homoglyphs.utils import load  # type: ignore[import-untyped]

# Dropped outright: marks left by decomposition, format characters (U+200B, U+200D, U+2060,
# U+00AD ...), and code points with no glyph of their own.
_INVISIBLE_CATEGORIES = frozenset({"Mn", "Me", "Cf", "Cn", "Co", "Cs"})
# Hangul fillers are letters by category but draw nothing.
_FILLERS = frozenset("\u115f\u1160\u3164\uffa0")
# Spacing marks (Indic vowel signs) are parts of words, though not letters.
_WORD_MARK = "Mc"


def _tr39_prototypes() -> dict[str, str]:
    """Each non-ASCII character TR39 lists as confusable, mapped to the prototype it is read as.

    The library keeps the relation both ways (each prototype lists its look-alikes, each
    look-alike lists its prototype), so a character with a single entry is a look-alike, unless
    it and its partner only have each other: then which is the prototype is lost, and both fold
    to the lower code point, which keeps the two equal, all that matching needs.
    """
    # The data quotes right-to-left characters between left-to-right marks.
    graph = {
        key.strip("\u200e\u200f"): [entry["c"].strip("\u200e\u200f") for entry in entries]
        for key, entries in load("confusables.json").items()
    }
    prototypes = {}
    for char, homoglyphs in graph.items():
        if len(char) != 1 or char.isascii() or len(homoglyphs) != 1:
            continue
        (other,) = homoglyphs
        if len(other) == 1 and not other.isascii() and len(graph[other]) == 1 and char < other:
            continue
        prototypes[char] = other
    return prototypes


_PROTOTYPES = _tr39_prototypes()


def _read(char: str, by_shape: bool) -> str:
    """One step of reading a decomposed character: drop it, case-fold it, or fold a look-alike."""
    if char.isascii():
        return char.lower()
    if unicodedata.category(char) in _INVISIBLE_CATEGORIES or char in _FILLERS:
        return ""
    prototype = _PROTOTYPES.get(char, char)
    # TR39 gives each look-alike of capital I the prototype "l", as it reads Latin "I" as "l";
    # here Latin "I" reads "i", so those capitals read as their small letters do.
    if by_shape and not (prototype == "l" and char.casefold() != char):
        return prototype.casefold()
    return "".join(_PROTOTYPES.get(c, c) for c in char.casefold())


def _fold(char: str, by_shape: bool) -> str:
    """The matching form of one character: none, one or several characters, or a space."""
    text = char
    for _ in range(4):  # a prototype may decompose or fold further; this settles in one or two
        read = "".join(_read(c, by_shape) for c in unicodedata.normalize("NFKD", text))
        if read == text:
            break
        text = read
    return "".join(c if c.isalnum() or unicodedata.category(c) == _WORD_MARK else " " for c in text)


class _Folds(dict[int, str]):
    """A translate table for one reading, filled in the first time each character is seen."""

    def __init__(self, by_shape: bool) -> None:
        super().__init__((code, _fold(chr(code), by_shape)) for code in range(128))
        self._by_shape = by_shape

    def __missing__(self, code: int) -> str:
        char = chr(code)
        # Unassigned and private-use code points are most of the code space and all fold to
        # nothing: answer them at once, and leave them out so that the table stays as small as
        # the assigned characters however odd the input.
        if unicodedata.category(char) in ("Cn", "Co"):
            return ""
        folded = self[code] = _fold(char, self._by_shape)
        return folded


_BY_CASE = _Folds(by_shape=False)
_BY_SHAPE = _Folds(by_shape=True)

# Three or more one-character words in a row: "w o l f".
_LETTER_RUN = re.compile(r"(?<!\S)\S(?: \S){2,}(?!\S)")


def normalise(text: str) -> str:
    """The form terms and prompts are compared in: words of folded letters, one space apart."""
    return " ".join(text.translate(_BY_CASE).split())


def _join_letters(normalised: str) -> tuple[str, list[int]]:
    """The text with each run of single letters joined up ("a w o l f" → "awolf"), and the
    positions of the joined letters other than each run's first, where a term may also start."""
    pieces: list[str] = []
    starts: list[int] = []
    end = size = 0
    for run in _LETTER_RUN.finditer(normalised):
        pieces.append(normalised[end : run.start()])
        size += run.start() - end
        letters = run[0].replace(" ", "")
        pieces.append(letters)
        starts.extend(range(size + 1, size + len(letters)))
        size += len(letters)
        end = run.end()
    pieces.append(normalised[end:])
    return "".join(pieces), starts


def _parse(term: str) -> tuple[list[str], bool]:
    """The normalised forms a term matches (as written, and joined up), and whether it is a stem."""
    stripped = term.strip()
    text = normalise(stripped.rstrip("*"))
    if not text:
        return [], False
    forms = [text, text.replace(" ", "")] if " " in text else [text]
    return forms, stripped.endswith("*")


# Trie nodes: one key per next character, plus these two keys (never characters of a normalised
# text) where a whole word or a stem ends.
_Node = dict[str, "_Node"]
_WORD_END = ""
_STEM_END = "*"
# Python's regular expression parser recurses once per nested group and gives up at a few hundred;
# a list that nests deeper (terms that are prefixes of each other, hundreds deep) goes flat there.
_MAX_NESTING = 100


def _alternation(node: _Node, depth: int = 0) -> str:
    """The regular expression for the terms below a trie node, sharing their common prefixes."""
    if _STEM_END in node:
        return ""  # a stem matches here whatever follows, so longer terms below add nothing
    if depth == _MAX_NESTING:
        return "(?:" + "|".join(_suffixes(node)) + ")"
    branches = []
    for key in sorted(node.keys() - {_WORD_END}):
        literal, child = key, node[key]
        while len(child) == 1 and _WORD_END not in child and _STEM_END not in child:
            ((key, child),) = child.items()
            literal += key
        branches.append(re.escape(literal) + _alternation(child, depth + 1))
    if _WORD_END in node:
        branches.append(r"(?!\S)")
    return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"


def _suffixes(node: _Node) -> list[str]:
    """The terms below a trie node as a flat list of patterns, for a trie too deep to nest."""
    patterns, stack = [], [("", node)]
    while stack:
        prefix, node = stack.pop()
        if _STEM_END in node:
            patterns.append(re.escape(prefix))
            continue
        if _WORD_END in node:
            patterns.append(re.escape(prefix) + r"(?!\S)")
        stack.extend((prefix + key, child) for key, child in node.items() if key != _WORD_END)
    return patterns


class BlockList:
    """A server's blocked terms, compiled into one matcher."""

    def __init__(
        self, pattern: re.Pattern[str] | None, words: dict[str, str], stems: dict[str, str]
    ) -> None:
        self._pattern = pattern
        self._words = words  # normalised form → the term as the moderator typed it
        self._stems = stems
        # Enough of the text to hold the longest term and the character after it.
        self._reach = max(map(len, words.keys() | stems.keys()), default=0) + 1

    @classmethod
    def compile(cls, terms: Iterable[str]) -> BlockList:
        """Build the matcher for a list of terms; terms with no letters or digits are ignored."""
        words: dict[str, str] = {}
        stems: dict[str, str] = {}
        joined: list[tuple[str, bool, str]] = []
        for term in terms:
            forms, stem = _parse(term)
            if forms:
                (stems if stem else words).setdefault(forms[0], term)
                joined.extend((form, stem, term) for form in forms[1:])
        # A joined-up form names the term it came from only if no term is spelled that way.
        for form, stem, term in joined:
            (stems if stem else words).setdefault(form, term)
        if not words and not stems:
            return cls(None, words, stems)
        trie: _Node = {}
        for table, end in ((words, _WORD_END), (stems, _STEM_END)):
            for form in table:
                node = trie
                for char in form:
                    node = node.setdefault(char, {})
                node[end] = {}
        return cls(re.compile(r"(?<!\S)" + _alternation(trie)), words, stems)

    def first_match(self, prompt: str) -> str | None:
        """The blocked term the prompt contains, as the moderator typed it, or None."""
        pattern = self._pattern
        if pattern is None:
            return None
        text = normalise(prompt)
        found = self._search(pattern, text)
        if found is None and not prompt.isascii():
            shapes = " ".join(prompt.translate(_BY_SHAPE).split())
            if shapes != text:
                found = self._search(pattern, shapes)
        return found

    def _search(self, pattern: re.Pattern[str], text: str) -> str | None:
        """The first term in a normalised text, or in it with its letter runs joined up."""
        found = self._find(pattern.search(text), text)
        if found is None and _LETTER_RUN.search(text):
            joined, starts = _join_letters(text)
            found = self._find(pattern.search(joined), joined)
            for start in starts:
                if found is not None:
                    break
                # A slice, so that the letter before does not count against a word start.
                window = joined[start : start + self._reach]
                found = self._find(pattern.match(window), window)
        return found

    def _find(self, match: re.Match[str] | None, text: str) -> str | None:
        """The term a match of the pattern in the text stands for."""
        if match is None:
            return None
        form, end = match[0], match.end()
        # The match is a whole word if it ends where a word ends; otherwise a stem matched.
        if form in self._words and (end == len(text) or text[end] == " "):
            return self._words[form]
        return self._stems[form]
