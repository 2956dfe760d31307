"""The offline encoders' training: a small CLIP (contrastive, captions in prompt templates) and a MAE ViT.

Both run epochs of seeded batches with a checkpoint every ``checkpoint_every_steps`` steps
and at each epoch end, so they resume where they stopped.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from datasets import concatenate_datasets, load_from_disk
from tqdm.auto import tqdm
from transformers import CLIPConfig, CLIPModel, ViTConfig, ViTMAEConfig, ViTMAEForPreTraining, ViTModel

from latentmapper.features.prompt_templates import PROMPT_TEMPLATES, strip_article
from latentmapper.training.augmentation import random_affine
from latentmapper.training.batches import epoch_batches
from latentmapper.training.caption_tokenizer import build_caption_tokenizer
from latentmapper.training.checkpoints import checkpoint_for, load_checkpoint, save_checkpoint
from latentmapper.training.outputs import save_component
from latentmapper.training.render_cache import cache_images, normalize_pixels
from latentmapper.training.schedules import warmup_cosine
from latentmapper.training.shape_targets import masked_mse, within_family_targets


def _image_processor(kind: str, size: int):
    """The checkpoint's image processor, PIL backend (no torchvision here), saved in the standard format."""
    if kind == "clip":
        try:
            from transformers.models.clip import CLIPImageProcessorPil as cls
        except ImportError:  # transformers < 5
            from transformers import CLIPImageProcessor as cls
        return cls(size={"shortest_edge": size}, crop_size={"height": size, "width": size})
    try:
        from transformers.models.vit import ViTImageProcessorPil as cls
    except ImportError:
        from transformers import ViTImageProcessor as cls
    return cls(size={"height": size, "width": size})


# ---- the shared epoch loop ---------------------------------------------------------------
def run_epochs(
    *, name: str, accelerator, model, optimizer, num_samples: int, train: dict, seed: int,
    checkpoint_dir: Path, resume_from: Path | None, loss_fn: Callable, evaluate: Callable[[], dict],
    after_step: Callable[[], None] | None = None, checkpoint_every: int = 0,
) -> list[dict]:
    """Epochs of ``loss_fn(indices, generator)`` steps with warm-up + cosine LR, resumable mid-epoch."""
    state = {"epoch": 0, "step_in_epoch": 0, "global_step": 0, "seconds": 0.0, "history": []}
    if resume_from is not None:
        state = load_checkpoint(resume_from, accelerator.unwrap_model(model), optimizer)
        accelerator.print(f"{name}: resuming at epoch {state['epoch'] + 1}, step {state['step_in_epoch']}")
    epochs, batch_size = train["epochs"], train["batch_size"]
    steps_per_epoch = len(epoch_batches(num_samples, batch_size, seed=seed, epoch=0, drop_last=True))
    total = epochs * steps_per_epoch
    started = time.perf_counter() - state["seconds"]

    def save() -> None:
        state["seconds"] = time.perf_counter() - started
        if accelerator.is_main_process:
            save_checkpoint(checkpoint_dir, accelerator.unwrap_model(model), optimizer, state)
        accelerator.wait_for_everyone()

    for epoch in range(state["epoch"], epochs):
        batches = epoch_batches(num_samples, batch_size, seed=seed, epoch=epoch, accelerator=accelerator, drop_last=True)
        bar = tqdm(total=len(batches), initial=state["step_in_epoch"], desc=f"{name} {epoch + 1}/{epochs}",
                   disable=not accelerator.is_local_main_process)
        losses = []
        for k in range(state["step_in_epoch"], len(batches)):
            lr = warmup_cosine(state["global_step"], total, train["lr"], train.get("warmup_steps", 0))
            for group in optimizer.param_groups:
                group["lr"] = lr * group.get("lr_scale", 1.0)
            model.train()
            generator = torch.Generator().manual_seed(seed * 1_000_003 + state["global_step"])
            loss = loss_fn(batches[k], generator)
            optimizer.zero_grad(set_to_none=True)
            accelerator.backward(loss)
            accelerator.clip_grad_norm_(model.parameters(), train.get("max_grad_norm", 1.0))
            optimizer.step()
            if after_step is not None:
                after_step()
            losses.append(float(loss.detach()))
            state["step_in_epoch"], state["global_step"] = k + 1, state["global_step"] + 1
            bar.update(1)
            bar.set_postfix(loss=f"{losses[-1]:.4f}", lr=f"{lr:.1e}")
            if checkpoint_every and state["global_step"] % checkpoint_every == 0 and k + 1 < len(batches):
                save()
        bar.close()
        model.eval()
        metrics = evaluate()
        record = {"epoch": epoch + 1, "train_loss": sum(losses) / max(1, len(losses)), **metrics,
                  "seconds": round(time.perf_counter() - started, 1)}
        state["history"].append(record)
        accelerator.print(f"{name} epoch {epoch + 1}: " + ", ".join(
            f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in record.items() if k != "epoch"))
        state["epoch"], state["step_in_epoch"] = epoch + 1, 0
        save()
    return state["history"]


def make_optimizer(model: torch.nn.Module, train: dict, *, fast_prefix: str | None = None,
                   fast_scale: float = 1.0) -> torch.optim.Optimizer:
    """AdamW; no weight decay on biases, norms, embeddings and CLIP's temperature. Parameters named
    ``fast_prefix...`` form their own group, without decay, at ``fast_scale`` times the learning rate."""
    decay, no_decay, fast = [], [], []
    for param_name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        if fast_prefix is not None and param_name.startswith(fast_prefix):
            fast.append(param)
            continue
        flat = param.dim() < 2 or "embedding" in param_name or "logit_scale" in param_name or "token" in param_name
        (no_decay if flat else decay).append(param)
    groups = [{"params": decay, "weight_decay": train.get("weight_decay", 0.0)}, {"params": no_decay, "weight_decay": 0.0}]
    if fast:
        groups.append({"params": fast, "weight_decay": 0.0, "lr_scale": fast_scale})
    return torch.optim.AdamW(groups, lr=train["lr"], betas=tuple(train.get("betas", (0.9, 0.98))))


# ---- CLIP ----------------------------------------------------------------------------------
def contrastive_loss(logits_per_image: torch.Tensor, caption_ids: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE where every pair with the same caption counts as a positive."""
    same = (caption_ids[:, None] == caption_ids[None, :]).float()
    target = same / same.sum(dim=1, keepdim=True)
    image_loss = -(target * F.log_softmax(logits_per_image.float(), dim=1)).sum(1).mean()
    text_loss = -(target * F.log_softmax(logits_per_image.float().T, dim=1)).sum(1).mean()
    return (image_loss + text_loss) / 2


def scramble_colours(pixels: torch.Tensor, generator: torch.Generator, grey_probability: float) -> torch.Tensor:
    """Each image's RGB channels in a random order, or grey with ``grey_probability``: a second view whose
    colour says nothing about the first's, so matching the two has to rest on the shape."""
    order = torch.argsort(torch.rand(len(pixels), 3, generator=generator), dim=1).to(pixels.device)
    out = torch.gather(pixels, 1, order[:, :, None, None].expand_as(pixels))
    grey = (torch.rand(len(pixels), generator=generator) < grey_probability).to(pixels.device)
    return torch.where(grey[:, None, None, None], out.mean(dim=1, keepdim=True).expand_as(out), out)


def partner_views(view: torch.Tensor, num_views: int, generator: torch.Generator) -> torch.Tensor:
    """For every view, another view of the same shape (never itself)."""
    return (view + torch.randint(1, num_views, view.shape, generator=generator)) % num_views


def same_shape_top1(embeds: torch.Tensor, num_views: int) -> float:
    """How often an image's nearest other image (cosine) is another view of its own shape: what identification
    across views needs, and what captions shared by many shapes do not teach."""
    similarity = embeds @ embeds.T
    similarity.fill_diagonal_(float("-inf"))
    shape = torch.arange(len(embeds), device=embeds.device) // num_views
    return float((shape[similarity.argmax(1)] == shape).float().mean())


def caption_prompts(captions: list[str], generator: torch.Generator, raw_probability: float) -> list[str]:
    """Each caption in a random prompt template, or left bare with ``raw_probability``."""
    raw = torch.rand(len(captions), generator=generator) < raw_probability
    which = torch.randint(len(PROMPT_TEMPLATES), (len(captions),), generator=generator)
    return [c if r else PROMPT_TEMPLATES[int(t)].format(strip_article(c)) for c, r, t in zip(captions, raw, which)]


def clip_config(cfg: dict, tokenizer) -> CLIPConfig:
    text = dict(cfg["text_config"], vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
                bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    vision = dict(cfg["vision_config"], projection_dim=cfg["projection_dim"])
    text["projection_dim"] = cfg["projection_dim"]
    return CLIPConfig(text_config=text, vision_config=vision, projection_dim=cfg["projection_dim"])


class ClipWithShapeHead(torch.nn.Module):
    """The CLIP and a linear head reading each shape's within-family parameters off its image embedding;
    trained together, the head is dropped when the CLIP is saved."""

    def __init__(self, clip: CLIPModel, num_targets: int, hidden: int = 0) -> None:
        super().__init__()
        self.clip = clip
        dim = clip.config.projection_dim
        # standardised per entry first: the unit-norm embeddings vary by about 1/sqrt(dim) per entry
        layers: list[torch.nn.Module] = [torch.nn.BatchNorm1d(dim, affine=False)]
        if hidden:
            layers += [torch.nn.Linear(dim, hidden), torch.nn.GELU()]
        layers.append(torch.nn.Linear(hidden or dim, num_targets))
        self.head = torch.nn.Sequential(*layers)
        if not hidden:  # a linear head from zero, so the encoder's first gradients are not a random head's noise
            torch.nn.init.zeros_(self.head[-1].weight)
            torch.nn.init.zeros_(self.head[-1].bias)

    def read_shape(self, image_embeds: torch.Tensor) -> torch.Tensor:
        """The shape parameters the head reads off a batch of image embeddings."""
        return self.head(image_embeds)

    def forward(self, **inputs):
        """The CLIP's output and the head's reading of its image embeddings: one forward through the wrapper, so
        a distributed wrapper around it sees every parameter used."""
        out = self.clip(**inputs)
        return out, self.read_shape(out.image_embeds.float())


def _clip_of(net: torch.nn.Module) -> CLIPModel:
    return net.clip if isinstance(net, ClipWithShapeHead) else net


@torch.no_grad()
def shape_r2(predicted: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> float:
    """Mean over the columns of R^2 (1 - residual / variance about the column's mean) of the shape head."""
    scores = []
    for j in range(targets.shape[1]):
        rows = mask[:, j]
        if rows.sum() < 2:
            continue
        truth, guess = targets[rows, j], predicted[rows, j]
        scores.append(1.0 - float(((guess - truth) ** 2).sum() / ((truth - truth.mean()) ** 2).sum().clamp_min(1e-12)))
    return sum(scores) / max(1, len(scores))


def train_clip(dataset, config: dict, accelerator, output: Path, resume: bool, overwrite: bool) -> list[dict]:
    cfg, train, seed = config["clip"], config["clip"]["train"], config["seed"]
    captions = {name: list(dataset[name]["caption"]) for name in ("train", "validation")}
    max_length = cfg["text_config"].get("max_position_embeddings", 32)
    tokenizer = build_caption_tokenizer(captions["train"] + captions["validation"] + list(PROMPT_TEMPLATES), max_length)
    processor = _image_processor("clip", cfg["vision_config"]["image_size"])
    images = cache_images(dataset["train"], processor, desc="clip renders")
    val_images = cache_images(dataset["validation"], processor, desc="clip validation renders")
    num_shapes, num_views = images.shape[:2]
    caption_index = {c: i for i, c in enumerate(sorted(set(captions["train"])))}
    caption_ids = torch.tensor([caption_index[c] for c in captions["train"]])

    shape_term = train.get("shape_regression", {})
    shape_weight = float(shape_term.get("weight", 0.0))
    torch.manual_seed(seed)
    model = CLIPModel(clip_config(cfg, tokenizer))
    if shape_weight > 0:  # validation shapes in the training shapes' units (family means and spreads)
        both = [dataset[name] for name in ("train", "validation")]
        targets, target_mask, _ = within_family_targets(
            sum((list(d["params"]) for d in both), []), sum((list(d["category"]) for d in both), []),
            sum((list(d["subtype"]) for d in both), []), reference=[True] * len(both[0]) + [False] * len(both[1]))
        val_targets, val_mask = targets[len(both[0]):], target_mask[len(both[0]):]
        targets, target_mask = targets[: len(both[0])], target_mask[: len(both[0])]
        model = ClipWithShapeHead(model, targets.shape[1], int(shape_term.get("hidden", 0)))
    # the shape head starts from nothing: it learns at a faster rate than the encoder
    optimizer = make_optimizer(model, train, fast_prefix="head.", fast_scale=float(shape_term.get("head_lr_scale", 10.0)))
    model, optimizer = accelerator.prepare(model, optimizer)
    device, aug = accelerator.device, train.get("augment", {})
    views = train.get("view_contrast", {})
    view_weight = float(views.get("weight", 0.0))
    resume_from = checkpoint_for(output, "checkpoint-clip", resume=resume, overwrite=overwrite)

    def tokens(texts: list[str]) -> dict:
        return tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt").to(device)

    def loss_fn(indices: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        shape, view = indices // num_views, indices % num_views
        pixels = images[shape, view].to(device).float() / 255.0
        pixels = normalize_pixels(random_affine(pixels, generator, **aug), processor)
        texts = caption_prompts([captions["train"][int(s)] for s in shape], generator, train.get("raw_caption_prob", 0.25))
        count = len(indices)
        if view_weight > 0:  # the same shape from another camera, its colours scrambled, is the positive
            other = images[shape, partner_views(view, num_views, generator)].to(device).float() / 255.0
            other = scramble_colours(random_affine(other, generator, **aug), generator, views.get("grey_prob", 0.5))
            pixels = torch.cat([pixels, normalize_pixels(other, processor)])
        out = model(pixel_values=pixels, **tokens(texts))  # one forward: CLIP takes more images than texts
        if shape_weight > 0:
            out, predicted = out
        loss = contrastive_loss(out.logits_per_image[:count], caption_ids[shape].to(device))
        if view_weight > 0:
            embeds = out.image_embeds.float()
            logits = embeds[:count] @ embeds[count:].T / views.get("temperature", 0.1)
            loss = loss + view_weight * contrastive_loss(logits, shape.to(device))
        if shape_weight > 0:
            loss = loss + shape_weight * masked_mse(predicted[:count], targets[shape].to(device), target_mask[shape].to(device))
        return loss

    def after_step() -> None:
        with torch.no_grad():
            _clip_of(accelerator.unwrap_model(model)).logit_scale.clamp_(0, 4.6052)  # temperature >= 1/100, as CLIP

    @torch.no_grad()
    def evaluate() -> dict:
        """Validation renders -> which validation caption (bare) is closest: top-1 accuracy vs chance."""
        wrapped = accelerator.unwrap_model(model)
        net = _clip_of(wrapped)
        unique = sorted(set(captions["validation"]))
        text = F.normalize(net.get_text_features(**tokens(unique)).pooler_output.float(), dim=-1)
        flat = val_images.flatten(0, 1)
        embeds = []
        for i in range(0, len(flat), 256):
            pixels = normalize_pixels(flat[i : i + 256].to(device).float() / 255.0, processor)
            embeds.append(F.normalize(net.get_image_features(pixel_values=pixels).pooler_output.float(), dim=-1))
        embeds = torch.cat(embeds)
        predicted = (embeds @ text.T).argmax(1).cpu()
        truth = torch.tensor([unique.index(c) for c in captions["validation"]]).repeat_interleave(val_images.shape[1])
        metrics = {"val_caption_top1": float((predicted == truth).float().mean()), "chance": 1.0 / len(unique),
                   "val_view_top1": same_shape_top1(embeds, val_images.shape[1])}
        if shape_weight > 0:
            views_each = val_images.shape[1]
            metrics["val_shape_r2"] = shape_r2(wrapped.read_shape(embeds).cpu(), val_targets.repeat_interleave(views_each, 0),
                                               val_mask.repeat_interleave(views_each, 0))
        return metrics

    history = run_epochs(name="clip", accelerator=accelerator, model=model, optimizer=optimizer,
                         num_samples=num_shapes * num_views, train=train, seed=seed,
                         checkpoint_dir=output / "checkpoint-clip", resume_from=resume_from, loss_fn=loss_fn,
                         evaluate=evaluate, after_step=after_step, checkpoint_every=config.get("checkpoint_every_steps", 0))
    if accelerator.is_main_process:
        save_component(_clip_of(accelerator.unwrap_model(model)), output / "clip", processor, tokenizer)
    return history


# ---- ViT (masked autoencoder pre-training) -------------------------------------------------
def mae_encoder_as_vit(mae: ViTMAEForPreTraining) -> ViTModel:
    """The MAE encoder as a plain ``ViTModel`` (same weights, names without the ``vit.`` prefix)."""
    c = mae.config
    config = ViTConfig(
        hidden_size=c.hidden_size, num_hidden_layers=c.num_hidden_layers, num_attention_heads=c.num_attention_heads,
        intermediate_size=c.intermediate_size, hidden_act=c.hidden_act, hidden_dropout_prob=c.hidden_dropout_prob,
        attention_probs_dropout_prob=c.attention_probs_dropout_prob, initializer_range=c.initializer_range,
        layer_norm_eps=c.layer_norm_eps, image_size=c.image_size, patch_size=c.patch_size,
        num_channels=c.num_channels, qkv_bias=c.qkv_bias,
    )
    vit = ViTModel(config, add_pooling_layer=False)
    state = {k[len("vit."):]: v for k, v in mae.state_dict().items() if k.startswith("vit.")}
    vit.load_state_dict(state, strict=True)
    return vit.eval()


def train_vit(dataset, config: dict, accelerator, output: Path, resume: bool, overwrite: bool) -> list[dict]:
    cfg, train, seed = config["vit"], config["vit"]["train"], config["seed"]
    processor = _image_processor("vit", cfg["model"]["image_size"])
    images = cache_images(dataset["train"], processor, desc="vit renders")
    val_images = cache_images(dataset["validation"], processor, desc="vit validation renders").flatten(0, 1)
    num_shapes, num_views = images.shape[:2]
    num_patches = (cfg["model"]["image_size"] // cfg["model"]["patch_size"]) ** 2

    torch.manual_seed(seed + 1)
    model = ViTMAEForPreTraining(ViTMAEConfig(**cfg["model"]))
    optimizer = make_optimizer(model, train)
    model, optimizer = accelerator.prepare(model, optimizer)
    device, aug = accelerator.device, train.get("augment", {})
    resume_from = checkpoint_for(output, "checkpoint-vit", resume=resume, overwrite=overwrite)

    def loss_fn(indices: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        shape, view = indices // num_views, indices % num_views
        pixels = images[shape, view].to(device).float() / 255.0
        pixels = normalize_pixels(random_affine(pixels, generator, **aug), processor)
        noise = torch.rand(len(indices), num_patches, generator=generator).to(device)  # the mask, reproducibly
        return model(pixel_values=pixels, noise=noise).loss

    @torch.no_grad()
    def evaluate() -> dict:
        generator = torch.Generator().manual_seed(12345)
        total = 0.0
        for i in range(0, len(val_images), 256):
            chunk = val_images[i : i + 256]
            pixels = normalize_pixels(chunk.to(device).float() / 255.0, processor)
            noise = torch.rand(len(chunk), num_patches, generator=generator).to(device)
            total += float(model(pixel_values=pixels, noise=noise).loss) * len(chunk)
        return {"val_loss": total / len(val_images)}

    history = run_epochs(name="vit", accelerator=accelerator, model=model, optimizer=optimizer,
                         num_samples=num_shapes * num_views, train=train, seed=seed + 1,
                         checkpoint_dir=output / "checkpoint-vit", resume_from=resume_from, loss_fn=loss_fn,
                         evaluate=evaluate, checkpoint_every=config.get("checkpoint_every_steps", 0))
    if accelerator.is_main_process:
        mae = accelerator.unwrap_model(model)
        save_component(mae, output / "vit_mae", processor)
        save_component(mae_encoder_as_vit(mae), output / "vit", processor)
    return history


def pooled_splits(paths: list[Path], columns: list[str]) -> dict:
    """The train and validation splits of every dataset, concatenated in the order given."""
    loaded = [load_from_disk(str(path)) for path in paths]
    return {
        name: concatenate_datasets([d[name].select_columns(columns) for d in loaded])
        for name in ("train", "validation")
    }


__all__ = ["ClipWithShapeHead", "mae_encoder_as_vit", "partner_views", "pooled_splits", "same_shape_top1", "scramble_colours", "train_clip", "train_vit"]
