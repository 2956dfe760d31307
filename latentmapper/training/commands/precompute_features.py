"""Fit the key codebook and cache CLIP + bag-of-descriptors features for every view of every shape.

    python train/precompute_features.py --dataset data/car --encoders runs/encoders --output runs/features
        [--clip ID_OR_PATH] [--vit ID_OR_PATH] [--preset cpu|gpu] [--resume | --overwrite]

``--encoders DIR`` means ``DIR/clip`` and ``DIR/vit`` (what ``train_encoders.py`` writes); ``--clip`` /
``--vit`` name any other checkpoint (e.g. ``openai/clip-vit-base-patch32``, ``facebook/dino-vits8``).

1. Codebook (paper Sec. 3.2): the keys of all layers of N=500 random training renders, 20% of
   them kept at random, clustered by MiniBatchKMeans into K=20 words -> ``OUTPUT/codebook/``.
2. Features: for each split, shape and view, the CLIP embedding and the bag vector ->
   ``OUTPUT/features_<split>.safetensors`` with tensors ``clip`` (S, V, 512) and ``bag``
   (S, V, bag_length), and the shape ids and view yaws in its metadata.
3. With ``augment.copies`` > 0 in the config: the same for that many randomly zoomed and rotated
   copies of every training view (the paper's augmentation, Sec. 4) ->
   ``OUTPUT/features_train_augmented.safetensors`` (S, V x copies, ...), extra mapper training rows.
4. With ``novel_views.per_shape`` > 0: the same for renders of each training and validation shape's
   mesh from that many cameras between its training views (yaws at least 5 degrees from every
   training yaw, elevation within +-10 degrees; ``latentmapper.cameras.novel_cameras``, seeded by
   ``novel_views.seed`` and the shape id), rendered as the dataset renders ->
   ``OUTPUT/features_<split>_novel_views.safetensors``: the mapper learns (and is chosen on) views
   the 9 fixed cameras do not cover, so that a user's photo from anywhere around the object maps as well.

The autoencoder and mapper epochs then cost a few matrix products. Work is cached in chunks
(``OUTPUT/.partial/``), so a rerun with ``--resume`` continues where it stopped.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

import torch
from datasets import load_from_disk

from latentmapper.evaluation.shapes import RenderSettings
from latentmapper.features import ClipEmbedder, ViTKeyExtractor
from latentmapper.features.codebook import KeyCodebook
from latentmapper.training.cached_features import AUGMENTED_SPLIT, feature_file, novel_views_split
from latentmapper.training.devices import make_accelerator
from latentmapper.training.feature_caching import (COLUMNS, NOVEL_VIEW_COLUMNS, NOVEL_VIEW_SPLITS, SPLITS, base_settings,
                                                   featurize_split, fit_key_codebook, novel_view_images,
                                                   novel_view_metadata, stored_augment)
from latentmapper.atomic import write_json
from latentmapper.training.outputs import save_component
from latentmapper.training.presets import add_common_arguments, config_from_args


def encoder_sources(args: argparse.Namespace) -> tuple[str, str]:
    if args.encoders is None and (args.clip is None or args.vit is None):
        raise SystemExit("give --encoders DIR, or both --clip and --vit")
    clip = args.clip or str(Path(args.encoders) / "clip")
    vit = args.vit or str(Path(args.encoders) / "vit")
    return clip, vit


def main(argv: list[str] | None = None, *, presets_dir: str | os.PathLike | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, type=Path, help="a saved DatasetDict (train/validation/test)")
    parser.add_argument("--encoders", default=None, help="folder with clip/ and vit/ (train_encoders.py output)")
    parser.add_argument("--clip", default=None, help="CLIP checkpoint id or path (overrides --encoders)")
    parser.add_argument("--vit", default=None, help="ViT / DINO / DINOv2 checkpoint id or path (overrides --encoders)")
    parser.add_argument("--splits", nargs="+", default=list(SPLITS))
    add_common_arguments(parser)
    args = parser.parse_args(argv)
    config = config_from_args(args, "features", presets_dir)
    clip_source, vit_source = encoder_sources(args)
    settings = {"config": config, "clip": clip_source, "vit": vit_source, "dataset": str(args.dataset)}

    out: Path = args.output
    info = out / "features.json"
    if info.is_file():
        if args.overwrite:
            shutil.rmtree(out)
        elif not args.resume:
            raise SystemExit(f"{out} holds features: pass --resume to complete them or --overwrite to start again")
        elif base_settings(json.loads(info.read_text())) != base_settings(settings):
            raise SystemExit(f"{out} was made with other settings ({info}); use --overwrite or another --output")
        augmented = feature_file(out, AUGMENTED_SPLIT)
        if augmented.is_file() and stored_augment(augmented) != (config.get("augment") or {}):
            raise SystemExit(f"{augmented} was made with other augment settings: delete that file to make it again "
                             "(the other features stay valid)")
        for name in NOVEL_VIEW_SPLITS:
            novel_file = feature_file(out, novel_views_split(name))
            wanted = {"novel_views": config.get("novel_views") or {}}
            if novel_file.is_file() and stored_augment(novel_file) != wanted:
                raise SystemExit(f"{novel_file} was made with other novel_views settings: delete that file to make "
                                 "it again (the other features stay valid)")
    out.mkdir(parents=True, exist_ok=True)
    write_json(info, settings)

    start_time = time.perf_counter()
    torch.manual_seed(config["seed"])
    device = make_accelerator(config).device
    dataset = load_from_disk(str(args.dataset))
    dataset = {name: dataset[name].select_columns(COLUMNS) for name in args.splits}
    clip = ClipEmbedder.from_pretrained(clip_source, device=device)
    extractor = ViTKeyExtractor.from_pretrained(vit_source, device=device)

    codebook_dir = out / "codebook"
    if (codebook_dir / "config.json").is_file():
        codebook = KeyCodebook.from_pretrained(codebook_dir).to(device).eval()
        wanted = float(config.get("assignment_temperature", 0.0))
        if codebook.config.assignment_temperature != wanted:
            raise SystemExit(f"{codebook_dir} has assignment_temperature {codebook.config.assignment_temperature}, "
                             f"the config {wanted}: set the same in both, or use another --output")
    else:
        codebook = fit_key_codebook(dataset["train"], extractor, config).to(device)
        save_component(codebook, codebook_dir)
    print(f"codebook: {codebook.config.num_words} words over {codebook.config.key_dim}-d keys of "
          f"{codebook.config.num_layers} layers; bag length {codebook.bag_length}")

    partial = out / ".partial"
    partial.mkdir(exist_ok=True)
    for name, split in dataset.items():
        target = feature_file(out, name)
        if not target.is_file():
            featurize_split(name, split, clip, extractor, codebook, config, partial, target)
        print(f"{name}: {len(split)} shapes -> {target}")
    augment = config.get("augment") or {}
    if "train" in dataset and augment.get("copies", 0) > 0:
        target = feature_file(out, AUGMENTED_SPLIT)
        if not target.is_file():
            featurize_split(AUGMENTED_SPLIT, dataset["train"], clip, extractor, codebook, config, partial, target,
                            augment=augment)
        print(f"{AUGMENTED_SPLIT}: {augment['copies']} zoomed / rotated copies of each training view -> {target}")
    novel = config.get("novel_views") or {}
    if novel.get("per_shape", 0) > 0:
        render = RenderSettings.of_dataset(args.dataset)
        full = load_from_disk(str(args.dataset))
        for name in (n for n in NOVEL_VIEW_SPLITS if n in dataset):
            target = feature_file(out, novel_views_split(name))
            if not target.is_file():
                featurize_split(novel_views_split(name), full[name].select_columns(NOVEL_VIEW_COLUMNS), clip,
                                extractor, codebook, config, partial, target, variant={"novel_views": novel},
                                images_of=lambda rows, start: novel_view_images(rows, novel, render),
                                metadata_of=lambda rows, views: novel_view_metadata(rows, novel))
            print(f"{novel_views_split(name)}: {novel['per_shape']} views of each shape between its training views "
                  f"-> {target}")
    shutil.rmtree(partial, ignore_errors=True)
    print(f"done in {time.perf_counter() - start_time:.0f} s")
    return 0
