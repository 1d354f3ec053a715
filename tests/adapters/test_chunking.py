"""split_message: chunks within the limit, words, code fences and surrogate pairs intact, nothing lost."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from adapters.chunking import FENCE, measure, split_message, split_parts, utf16_len
from bindings.errors import InvalidInput

# Text made of what breaks splitters: words, white space, newlines, fences, emoji (astral: two UTF-16 units),
# combining marks, joiners, flags.
_pieces = st.sampled_from(
    ["word", "longerword", " ", " ", "\n", "\n\n", "```", "```python\n", "\n```\n", "`", "😀", "👍🏽", "e\u0301",
     "👩\u200d💻", "🇫🇷", "\u00a0", "x" * 40, "ünïcödé", "\t"]
)
texts = st.lists(_pieces, max_size=400).map("".join) | st.text(max_size=3000)
limits = st.integers(min_value=32, max_value=300)


def _rebuild(text: str, max_len: int) -> str:
    return "".join(part.body for part in split_parts(text, max_len))


@settings(max_examples=300, deadline=None)
@given(texts, limits)
@example("a" * 5000, 2000)
@example("```\n" + "x\n" * 3000 + "```", 2000)
def test_concatenation_preserves_the_text_modulo_fence_reopening(text: str, max_len: int) -> None:
    assert _rebuild(text, max_len) == text
    for part in split_parts(text, max_len):
        assert part.prefix == "" or (part.prefix.startswith(FENCE) and part.prefix.endswith("\n"))
        assert part.suffix in ("", "\n```")


@settings(max_examples=300, deadline=None)
@given(texts, limits)
def test_every_chunk_is_within_the_limit_in_utf16_units(text: str, max_len: int) -> None:
    for chunk in split_message(text, max_len):
        assert utf16_len(chunk) <= max_len
        assert len(chunk) <= max_len


@settings(max_examples=200, deadline=None)
@given(texts, limits, st.sampled_from(["chars", "bytes"]))
def test_every_chunk_is_within_the_limit_in_the_platforms_own_unit(text: str, max_len: int, unit: str) -> None:
    parts = split_parts(text, max_len, unit)  # type: ignore[arg-type]
    assert "".join(p.body for p in parts) == text
    for part in parts:
        assert measure(part.text, unit) <= max_len  # type: ignore[arg-type]
        if unit == "bytes":
            assert len(part.text.encode("utf-8", "surrogatepass")) <= max_len


def test_units_count_as_the_platforms_do() -> None:
    text = "a\u00e9\u20ac😀"  # 1, 2, 3 and 4 UTF-8 bytes; the emoji is 2 UTF-16 units
    assert (measure(text, "chars"), measure(text, "utf16"), measure(text, "bytes")) == (4, 5, 10)
    # Two bytes a character; each chunk keeps room for a closing fence, so 14 characters (28 bytes) fit in 32.
    assert [len(c.encode()) for c in split_message("é" * 40, 32, "bytes")] == [28, 28, 24]
    with pytest.raises(InvalidInput, match="unit"):
        split_message("x", 100, "words")  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(texts, limits)
def test_split_is_deterministic(text: str, max_len: int) -> None:
    assert split_message(text, max_len) == split_message(text, max_len)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet="abcdefghij", min_size=1, max_size=20), min_size=1, max_size=300), limits)
def test_words_are_never_cut(words: list[str], max_len: int) -> None:
    text = " ".join(words)
    for part in split_parts(text, max_len):
        assert set(part.body.split()) <= set(words)


@settings(max_examples=300, deadline=None)
@given(texts, limits)
def test_every_chunk_renders_its_code_as_code(text: str, max_len: int) -> None:
    """Every chunk but the last has balanced fences (closed where the split fell inside a code block); the last
    is balanced exactly when the original was."""
    chunks = split_message(text, max_len)
    for chunk in chunks[:-1]:
        assert _fence_count(chunk) % 2 == 0, chunk
    assert _fence_count(chunks[-1]) % 2 == _fence_count(text) % 2


def _fence_count(text: str) -> int:
    count, i = 0, 0
    while (j := text.find(FENCE, i)) >= 0:
        count += 1
        i = j + len(FENCE)
    return count


def test_a_text_within_the_limit_is_one_unchanged_chunk() -> None:
    assert split_message("hello world") == ["hello world"]
    assert split_message("") == [""]
    assert split_message("x" * 2000) == ["x" * 2000]


def test_splits_at_2000_by_default_preferring_newlines_then_spaces() -> None:
    text = ("line of words\n" * 200).strip()
    chunks = split_message(text)
    assert len(chunks) == 2
    assert all(len(c) <= 2000 for c in chunks)
    assert chunks[0].endswith("\n")
    assert "".join(chunks) == text


def test_a_code_block_cut_in_two_is_closed_and_reopened_with_its_language() -> None:
    text = "intro\n```python\n" + "x = 1\n" * 600 + "```\nend"
    chunks = split_message(text)
    assert len(chunks) == 2
    assert chunks[0].endswith("\n```")
    assert chunks[1].startswith("```python\n")
    assert chunks[1].endswith("```\nend")


def test_surrogate_pairs_and_emoji_sequences_stay_whole() -> None:
    text = "👩\u200d💻" * 1000  # woman technologist: three code points, five UTF-16 units
    chunks = split_message(text, 100)
    for chunk in chunks:
        assert not chunk.startswith("\u200d") and not chunk.endswith("\u200d")
    assert "".join(chunks) == text
    # Lone surrogates (a str decoded with surrogatepass) are never separated either.
    pairs = "\ud83d\ude00" * 100
    for chunk in split_message(pairs, 33):
        assert not chunk.endswith("\ud83d")


def test_a_too_small_limit_is_refused() -> None:
    with pytest.raises(InvalidInput) as err:
        split_message("abc", 10)
    assert err.value.field == "max_len"
