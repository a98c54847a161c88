"""Tag-style prompts as explicit side information: a pinned vocabulary, taggers, and the tags section.

The `dual` codec sends up to `max_tags` tags as indices into a vocabulary shipped with the
repository and pinned by SHA-256 (a decoder with another vocabulary would read other words,
so the vocabulary is part of the codec's config hash). Section layout, bit-packed MSB first and
padded to whole bytes: the tag count in ceil(log2(max_tags + 1)) bits, then each index in
ceil(log2(len(vocabulary))) bits (10 bits for ImageNet-1k: 3 tags cost 4 bytes).

The default vocabulary is the ImageNet-1k class names as open_clip ships them
(`open_clip.IMAGENET_CLASSNAMES`, open_clip 3.3.0; two names occur twice - "crane", "maillot" -
as in ImageNet, and keep their distinct ids). RAM's tag list is not used: no maintained package
loads Recognize Anything offline here.

Taggers behind one interface: `none` (no tags), `given` (tags from a sidecar, keyed by the
SHA-256 of the image's RGB bytes, because a codec sees pixels, not file names) and `clip`
(zero-shot over the vocabulary with open_clip, through the CLIPSim metric's pinned loader).
"""

from __future__ import annotations

import hashlib
import json
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from rdpbench.errors import BitstreamError, CodecError, ConfigError

VOCABULARIES = Path(__file__).resolve().parent.parent / "data" / "tags"
PINNED = {"imagenet1k": "8800e39242cbed4c6889376e20a49cfdaf4f84a773a6686d15c3b39972ef94c4"}


@dataclass(frozen=True)
class Vocabulary:
    name: str
    words: tuple[str, ...]
    sha256: str

    @classmethod
    def load(cls, name: str = "imagenet1k", path: str | None = None, sha256: str | None = None) -> "Vocabulary":
        """A shipped vocabulary by name (checked against its pinned digest) or one word per line from `path`."""
        file = Path(path).expanduser() if path else VOCABULARIES / f"{name}.txt"
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise ConfigError(f"tags: cannot read vocabulary {file} ({exc}); shipped: {sorted(PINNED)}") from exc
        digest = hashlib.sha256(data).hexdigest()
        expected = sha256 or (PINNED.get(name) if not path else None)
        if expected and digest != expected:
            raise ConfigError(f"tags: vocabulary {file} has SHA-256 {digest}, pinned {expected}: restore the file "
                              f"(git checkout) or pin your own with sha256=")
        words = tuple(line.strip() for line in data.decode().splitlines() if line.strip())
        if len(words) < 2:
            raise ConfigError(f"tags: vocabulary {file} holds {len(words)} words")
        return cls(name if not path else file.stem, words, digest)


class TagSection:
    """Bit-packed count + indices (layout in the module docstring)."""

    def __init__(self, vocabulary: Vocabulary, max_tags: int, codec: str) -> None:
        if not 1 <= max_tags <= 64:
            raise ConfigError(f"codec {codec!r}: max_tags={max_tags} not in 1..64 (0 disables the tags section)")
        self.vocabulary, self.max_tags, self.codec = vocabulary, max_tags, codec
        self.count_bits = math.ceil(math.log2(max_tags + 1))
        self.index_bits = math.ceil(math.log2(len(vocabulary.words)))

    def _bytes(self, count: int) -> int:
        return -(-(self.count_bits + count * self.index_bits) // 8)

    def write(self, tags: Sequence[int]) -> bytes:
        tags = list(tags)[:self.max_tags]
        value = len(tags)
        for t in tags:
            value = (value << self.index_bits) | int(t)
        bits = self.count_bits + len(tags) * self.index_bits
        size = self._bytes(len(tags))
        return (value << (8 * size - bits)).to_bytes(size, "big")

    def size(self, data: bytes) -> int:
        if not data:
            raise BitstreamError(f"codec {self.codec!r}, section 'tags': no bytes left (truncated stream)")
        count = data[0] >> (8 - self.count_bits)  # max_tags <= 64: the count fits the first byte
        if count > self.max_tags:
            raise BitstreamError(f"codec {self.codec!r}, section 'tags': {count} tags, at most {self.max_tags}")
        if self._bytes(count) > len(data):
            raise BitstreamError(f"codec {self.codec!r}, section 'tags': truncated ({len(data)} bytes left)")
        return self._bytes(count)

    def read(self, data: bytes) -> list[str]:
        """The transmitted words (`data` = exactly the section)."""
        size = len(data)
        value = int.from_bytes(data, "big")
        total = 8 * size
        count = value >> (total - self.count_bits)
        words = []
        for i in range(count):
            shift = total - self.count_bits - (i + 1) * self.index_bits
            index = (value >> shift) & ((1 << self.index_bits) - 1)
            if index >= len(self.vocabulary.words):
                raise BitstreamError(f"codec {self.codec!r}, section 'tags': index {index} outside the "
                                     f"{len(self.vocabulary.words)}-word vocabulary {self.vocabulary.name!r}")
            words.append(self.vocabulary.words[index])
        return words


def pixel_key(image: np.ndarray) -> str:
    """What the `given` tagger's sidecar is keyed by: SHA-256 of the HxWx3 uint8 RGB bytes."""
    return hashlib.sha256(np.ascontiguousarray(image).tobytes()).hexdigest()


class Tagger(ABC):
    """Image -> indices into the vocabulary, best first (the encoder side only: tags travel as bytes)."""

    @abstractmethod
    def tags(self, image: np.ndarray, vocabulary: Vocabulary, limit: int) -> list[int]:
        ...

    def requirements(self) -> str:
        return ""

    @abstractmethod
    def config(self) -> dict[str, Any]:
        ...


class NoTagger(Tagger):
    def tags(self, image: np.ndarray, vocabulary: Vocabulary, limit: int) -> list[int]:
        return []

    def config(self) -> dict[str, Any]:
        return {"tagger": "none"}


class GivenTagger(Tagger):
    """Tags from a sidecar: {pixel_key(image): ["word", ...]} inline or in a JSON file."""

    def __init__(self, tags: Mapping[str, Sequence[str]] | None = None, path: str | None = None) -> None:
        self.path = Path(path).expanduser() if path else None
        try:
            self.table = {**(json.loads(self.path.read_text()) if self.path else {}), **dict(tags or {})}
        except (OSError, ValueError) as exc:
            raise ConfigError(f"tagger 'given': cannot read {self.path} ({exc})") from exc

    def tags(self, image: np.ndarray, vocabulary: Vocabulary, limit: int) -> list[int]:
        key = pixel_key(image)
        if key not in self.table:
            raise CodecError(f"tagger 'given': no tags for the image with pixel SHA-256 {key}; add it to "
                             f"{self.path or 'the tags table'} (rdpbench.codecs.tags.pixel_key) or use tagger none")
        index = {w: i for i, w in reversed(list(enumerate(vocabulary.words)))}
        unknown = [w for w in self.table[key] if w not in index]
        if unknown:
            raise CodecError(f"tagger 'given': {unknown} not in vocabulary {vocabulary.name!r}")
        return [index[w] for w in self.table[key]][:limit]

    def config(self) -> dict[str, Any]:
        digest = hashlib.sha256(json.dumps(self.table, sort_keys=True).encode()).hexdigest()
        return {"tagger": "given", "table_sha256": digest}


class CLIPTagger(Tagger):
    """Zero-shot: cosine of the image embedding with "a photo of a {word}." for every word; the best
    `limit` words whose softmax probability (CLIP's logit scale 100) is at least `threshold`."""

    def __init__(self, model: str = "ViT-B-32", pretrained: str = "openai", checkpoint: str | None = None,
                 threshold: float = 0.05, device: str = "cpu") -> None:
        self.model, self.pretrained, self.checkpoint = model, pretrained, checkpoint
        self.threshold, self.device = float(threshold), device
        self._clip: Any = None
        self._text: dict[str, Any] = {}

    def requirements(self) -> str:
        from rdpbench.metrics.clipsim import resolve_checkpoint

        resolve_checkpoint(self.model, self.pretrained, self.checkpoint)  # WeightsError names what is missing
        return ""

    def _text_embeddings(self, vocabulary: Vocabulary) -> Any:
        import open_clip
        import torch

        if vocabulary.sha256 not in self._text:
            tokenizer = open_clip.get_tokenizer(self.model)
            with torch.inference_mode():
                features = self._clip.model.encode_text(
                    tokenizer([f"a photo of a {w}." for w in vocabulary.words]).to(self._clip.device))
            self._text[vocabulary.sha256] = torch.nn.functional.normalize(features.float(), dim=-1)
        return self._text[vocabulary.sha256]

    def tags(self, image: np.ndarray, vocabulary: Vocabulary, limit: int) -> list[int]:
        if self._clip is None:
            from rdpbench.metrics.clipsim import CLIPSim

            self._clip = CLIPSim(self.model, self.pretrained, self.checkpoint, device=self.device)
        probabilities = (100.0 * self._clip.embed([image]) @ self._text_embeddings(vocabulary).T).softmax(dim=-1)[0]
        order = probabilities.argsort(descending=True)[:limit]
        return [int(i) for i in order if float(probabilities[i]) >= self.threshold]

    def config(self) -> dict[str, Any]:
        return {"tagger": "clip", "model": self.model, "pretrained": self.pretrained, "checkpoint": self.checkpoint,
                "threshold": self.threshold}
