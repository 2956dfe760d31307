"""A word-level caption tokenizer for the offline CLIP, saved and loaded as a transformers fast tokenizer.

No CLIP tokenizer can be downloaded here, so :func:`build_caption_tokenizer` builds a
word-level one (``tokenizers`` WordLevel over lower-cased words and punctuation) from the
captions and prompt templates and wraps it as a transformers fast tokenizer: saved with
``save_pretrained`` next to the model, ``AutoTokenizer.from_pretrained`` reads it offline.
Ids: 0 pad, 1 unknown, 2 start, 3 end of text (CLIP pools at the end token, which must not
be id 2: transformers treats ``eos_token_id == 2`` as a legacy config and pools at the
largest id instead).
"""

from __future__ import annotations

from typing import Iterable


SPECIAL_TOKENS = ("<|pad|>", "<|unk|>", "<|startoftext|>", "<|endoftext|>")


def build_caption_tokenizer(texts: Iterable[str], max_length: int = 32):
    """A word-level fast tokenizer whose vocabulary is every word and mark in ``texts``."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    pre = pre_tokenizers.Whitespace()
    words = set()
    for text in texts:
        words.update(word for word, _ in pre.pre_tokenize_str(normalizer.normalize_str(text)))
    vocab = {token: i for i, token in enumerate(SPECIAL_TOKENS)}
    for word in sorted(words):
        vocab.setdefault(word, len(vocab))
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<|unk|>"))
    tokenizer.normalizer = normalizer
    tokenizer.pre_tokenizer = pre
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<|startoftext|> $A <|endoftext|>",
        special_tokens=[("<|startoftext|>", vocab["<|startoftext|>"]), ("<|endoftext|>", vocab["<|endoftext|>"])],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<|startoftext|>", eos_token="<|endoftext|>",
        pad_token="<|pad|>", unk_token="<|unk|>", model_max_length=max_length,
    )


__all__ = ["SPECIAL_TOKENS", "build_caption_tokenizer"]
