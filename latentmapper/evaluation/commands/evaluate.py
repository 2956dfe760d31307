"""Reproduce the paper's Table 3 and Table 5 on our data: every system, three kinds of input view.

    python evaluate/evaluate.py --category car [--seed 0] [--limit N] [--systems latentmapper imnet ...]
        [--unseen-per-shape 9] [--resolution 128] [--model-card checkpoints/latentmapper-car/README.md]
    python evaluate/evaluate.py --category car --tables-only     # regenerate the tables from the JSON

Systems (all trained on the same training split; defaults are where ``train/run_all.sh`` and
the baseline scripts put them):

* ``latentmapper``: the assembled pipeline (``--pipeline``);
* ``imnet``: ResNet -> DIT latent, ``train/train_imnet_baseline.py`` (``--imnet``);
* ``atlasnet25``: AtlasNet with 25 patches, ``train/train_atlasnet.py`` (``--atlasnet``);
* ``nearest_neighbour``: the training shape whose render is closest by the pipeline's CLIP;
* ``oracle``: the DIT code fitted to the test shape's SDF samples (``--oracle-latents`` or fitted here);
* ``constant``: the most central of the first ``--constant-candidates`` training shapes (lowest mean
  Chamfer to the others), its ground-truth mesh the answer to every input: the know-nothing floor;
* ``ground_truth``: each shape's own ground-truth mesh, sampled anew: what a perfect reconstruction
  scores on this metric (5000 points a side), the floor under every other row.

Latent systems other than the pipeline decode with the DIT run's decoder (``--dit``), whose
codes they use. Every shape of the test split (or the first ``--limit``) is seen from its 9
training views (the fixed view is yaw 0 among them) and ``--unseen-per-shape`` unseen views
(random yaws between the training ones, elevation +-10 degrees, rendered from the mesh;
fixed by ``--seed``). Outputs:

* ``RESULTS/<category>.json``: Table 3 and 5 numbers in the issue's shape, with top-1
  identification beside each Chamfer and means per family, merged with rows (and the
  ``dit_fit`` of ``benchmarks/benchmark.py --results``) other tools wrote there;
  ``RESULTS/<category>_details.json``: failures, view spread,
  Chamfer by yaw, timing by device and how the run was made;
* ``RESULTS/<category>.md``: the tables (a pure function of the two JSON files), also put
  into each ``--model-card`` between marker comments (the card's Evaluation section; the DIT
  fit, when the JSON has it, into its own ``## DIT fit`` region);
* ``RESULTS/<category>.png``: input / each system / ground truth for ``--figure-shapes`` shapes.

Per-shape scores are cached in ``--work`` (default ``runs/eval/<category>``), so an
interrupted run resumes, and a system added later is evaluated alone. Each score keeps the
prediction's Chamfer to every evaluated shape (for top-1 identification); cached scores
without them (older work folders, a larger ``--limit``) are predicted again.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from pathlib import Path

import torch

from latentmapper.atomic import atomic_path
from latentmapper.evaluation import (SYSTEM_NAMES, AtlasNetSystem, ConstantSystem, Evaluation,
                                     FigureRow, Gallery, GroundTruthSystem, ImNetSystem, LatentMapperSystem,
                                     NearestNeighbourSystem, OracleSystem, SettingsMismatch, SplitShapes,
                                     central_training_shape,
                                     dit_fit_markdown, load_json, make_figure, results_markdown,
                                     training_clip_embeddings, update_card, write_results)
from latentmapper.evaluation.cross import CONSTANT_CANDIDATES
from latentmapper.evaluation.loop import mesh_path
from latentmapper.evaluation.tables import (DISPLAY_NAMES, DIT_FIT_END, DIT_FIT_HEADING,
                                            DIT_FIT_START, ordered_systems)
from latentmapper.evaluation.views import fixed_view_index
from latentmapper.training.latent_codes import load_latents


def parse_args(argv: list[str] | None, root: Path = Path(".")) -> argparse.Namespace:
    """The command line, with defaults under ``root`` (the checkout: data/, runs/, hub_cards/results)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--category", required=True, help="car or airplane (names the defaults and the outputs)")
    parser.add_argument("--systems", nargs="+", default=list(SYSTEM_NAMES), choices=SYSTEM_NAMES)
    parser.add_argument("--seed", type=int, default=0, help="unseen views and point sampling")
    parser.add_argument("--limit", type=int, default=None, help="only the first N test shapes")
    parser.add_argument("--shard", type=_shard, default=None, metavar="I/N",
                        help="score only every N-th shape from the I-th (0-based) into --work, for N processes "
                             "in parallel; then run once without --shard to write the results")
    parser.add_argument("--split", default="test")
    parser.add_argument("--dataset", type=Path, default=None, help="default data/<category>")
    parser.add_argument("--pipeline", type=Path, default=None,
                        help="default runs/ship/checkpoints/latentmapper-<category>, else checkpoints/latentmapper-<category>")
    parser.add_argument("--dit", type=Path, default=None, help="DIT run (decoder/, latents.safetensors); "
                        "default runs/ship/<category>/dit")
    parser.add_argument("--imnet", type=Path, default=None, help="default runs/baselines/<category>/imnet")
    parser.add_argument("--atlasnet", type=Path, default=None, help="default runs/baselines/<category>/atlasnet")
    parser.add_argument("--oracle-latents", type=Path, default=None, help="codes fitted to the test shapes, if any")
    parser.add_argument("--oracle-steps", type=int, default=500, help="Adam steps per fitted code (the paper: 500)")
    parser.add_argument("--oracle-samples", type=int, default=1024, help="SDF samples per fitting step")
    parser.add_argument("--constant-candidates", type=int, default=CONSTANT_CANDIDATES,
                        help="the constant answer is the most central of the first N training shapes")
    parser.add_argument("--unseen-per-shape", type=int, default=9)
    parser.add_argument("--resolution", type=int, default=128, help="marching-cubes grid of the latent systems")
    parser.add_argument("--atlas-grid", type=int, default=10, help="AtlasNet: grid points per patch side")
    parser.add_argument("--emd-points", type=int, default=1024)
    parser.add_argument("--figure-shapes", type=int, default=4)
    parser.add_argument("--work", type=Path, default=None, help="per-shape cache; default runs/eval/<category>[-<device>]")
    parser.add_argument("--results-dir", type=Path, default=root / "hub_cards" / "results")
    parser.add_argument("--model-card", type=Path, nargs="*", default=[], help="cards whose Evaluation section to fill")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="PyTorch CPU threads (the machine is shared)")
    parser.add_argument("--tables-only", action="store_true", help="only regenerate tables and cards from the JSON")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    c = args.category
    args.dataset = args.dataset or root / "data" / c
    if args.pipeline is None:
        shipped = root / "runs" / "ship" / "checkpoints" / f"latentmapper-{c}"
        args.pipeline = shipped if shipped.is_dir() else root / "checkpoints" / f"latentmapper-{c}"
    args.dit = args.dit or root / "runs" / "ship" / c / "dit"
    args.imnet = args.imnet or root / "runs" / "baselines" / c / "imnet"
    args.atlasnet = args.atlasnet or root / "runs" / "baselines" / c / "atlasnet"
    for name in ("dataset", "pipeline", "dit", "imnet", "atlasnet"):  # settings compare paths: make them absolute
        setattr(args, name, getattr(args, name).resolve())
    suffix = "" if args.device == "cpu" else f"-{args.device}"
    args.work = args.work or root / "runs" / "eval" / f"{c}{suffix}"
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda, but no CUDA device is available")
    return args


def component(folder: Path, inner: str, hint: str) -> Path:
    """``folder`` or ``folder/inner``, whichever holds a config.json; else exit naming what to run."""
    for candidate in (folder, folder / inner):
        if (candidate / "config.json").is_file():
            return candidate
    raise SystemExit(f"no trained {inner} model in {folder} (looked for config.json there and in {folder / inner}); "
                     f"{hint}")


def fingerprint(path: Path) -> str:
    """A short digest of the weights and configs under ``path`` (names, sizes, modification times): retrained
    weights at the same path change it, so their old scores are not silently reused (cards and logs do not count)."""
    path = Path(path)
    files = sorted(p for p in (path.rglob("*") if path.is_dir() else [path])
                   if p.is_file() and p.suffix in (".safetensors", ".json") and not p.name.endswith("_log.json")
                   and not any(part.startswith(("checkpoint-", ".")) for part in p.relative_to(path.parent).parts))
    digest = hashlib.sha1()
    for file in files:
        stat = file.stat()
        digest.update(f"{file.relative_to(path) if path.is_dir() else file.name}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    return digest.hexdigest()[:16]


def same_decoder(a: torch.nn.Module, b: torch.nn.Module, tolerance: float = 1e-2) -> bool:
    """Whether two DIT decoders hold the same weights (up to the fp16 rounding of a shipped pipeline)."""
    sa, sb = a.state_dict(), b.state_dict()
    if sa.keys() != sb.keys() or any(sa[k].shape != sb[k].shape for k in sa):
        return False
    return all(torch.allclose(sa[k].float().cpu(), sb[k].float().cpu(), atol=tolerance, rtol=tolerance) for k in sa)


def build_systems(args: argparse.Namespace) -> tuple[list, dict]:
    """The requested systems, and the settings each one's scores depend on (checked on resume)."""
    from latentmapper.training.split_latents import load_decoder

    from latentmapper.features import ClipEmbedder
    from latentmapper.models.baselines import AtlasNet, ImNetBaseline
    from latentmapper import LatentMapperPipeline

    device, wanted = torch.device(args.device), set(args.systems)
    settings = {"common": {"resolution": args.resolution, "split": args.split, "device": args.device,
                           "dataset": str(args.dataset)}}
    pipe = decoder = latents = None
    if wanted & {"latentmapper", "nearest_neighbour"}:
        if not (args.pipeline / "model_index.json").is_file():
            raise SystemExit(f"no pipeline in {args.pipeline}: run train/run_all.sh (or pass --pipeline)")
        pipe = LatentMapperPipeline.from_pretrained(args.pipeline).to(device)
    if wanted & {"imnet", "nearest_neighbour", "oracle"}:
        dit_dir = component(args.dit, "decoder", "train the DIT with train/train_dit.py (train/run_all.sh)")
        decoder = load_decoder(dit_dir, device)
        if wanted & {"imnet", "nearest_neighbour"}:
            codes = args.dit / "latents.safetensors" if args.dit.is_dir() else args.dit
            if not codes.is_file():
                raise SystemExit(f"--dit {args.dit} has no latents.safetensors: the IM-NET-style baseline and "
                                 "the nearest neighbour need the DIT run's training codes beside its decoder/ "
                                 "(a train_dit.py output, e.g. runs/<category>/dit)")
            latents = load_latents(codes)
            dit_print = fingerprint(dit_dir) + fingerprint(codes)
        if pipe is not None and not same_decoder(pipe.dit, decoder):
            print(f"warning: the pipeline's DIT ({args.pipeline}) is not the decoder of {args.dit}; the latent "
                  "baselines decode with the latter, so the systems do not share one latent space", file=sys.stderr)
    systems = []
    for name in args.systems:
        if name == "latentmapper":
            systems.append(LatentMapperSystem(pipe, args.resolution))
            settings[name] = {"source": str(args.pipeline), "weights": fingerprint(args.pipeline)}
        elif name == "imnet":
            path = component(args.imnet, "imnet", "train it with train/train_imnet_baseline.py")
            model = ImNetBaseline.from_pretrained(path).to(device).eval()
            systems.append(ImNetSystem(model, decoder, args.resolution))
            settings[name] = {"source": str(path), "weights": fingerprint(path), "dit": dit_print}
        elif name == "atlasnet25":
            path = component(args.atlasnet, "atlasnet", "train it with train/train_atlasnet.py")
            model = AtlasNet.from_pretrained(path).to(device).eval()
            systems.append(AtlasNetSystem(model, args.atlas_grid))
            settings[name] = {"source": str(path), "weights": fingerprint(path), "grid": args.atlas_grid}
        elif name == "nearest_neighbour":
            embedder = ClipEmbedder(pipe.clip, pipe.clip_processor)
            cache = args.work / "train_clip.safetensors"
            train_ids, train_clip = training_clip_embeddings(embedder.embed_images, args.dataset, cache,
                                                             source=fingerprint(args.pipeline / "clip"),
                                                             progress=not args.no_progress)
            systems.append(NearestNeighbourSystem(embedder.embed_images, train_clip, train_ids, latents, decoder,
                                                  args.resolution))
            settings[name] = {"source": str(args.pipeline), "clip": fingerprint(args.pipeline / "clip"),
                              "dit": dit_print}
        elif name == "oracle":
            fitted = load_latents(args.oracle_latents) if args.oracle_latents else None
            systems.append(OracleSystem(decoder, args.resolution, fitted, args.oracle_steps, args.oracle_samples,
                                        args.seed))
            settings[name] = {"dit": fingerprint(dit_dir), "fitted": fingerprint(args.oracle_latents)
                              if args.oracle_latents else {"steps": args.oracle_steps, "samples": args.oracle_samples}}
        elif name == "constant":
            train = SplitShapes(args.dataset, "train")
            choice = central_training_shape(train, args.work / "constant_choice.json", args.constant_candidates)
            systems.append(ConstantSystem(train[train.shape_ids.index(choice["shape_id"])]))
            settings[name] = {"answer": choice["shape_id"], "candidates": choice["candidates"]}
        elif name == "ground_truth":
            systems.append(GroundTruthSystem())
            settings[name] = {}
    return systems, settings


def write_tables(args: argparse.Namespace) -> str:
    """Markdown from the JSON files into RESULTS/<category>.md and every --model-card."""
    results_path = args.results_dir / f"{args.category}.json"
    if not results_path.is_file():
        raise SystemExit(f"{results_path} does not exist yet: run the evaluation first")
    details = load_json(args.results_dir / f"{args.category}_details.json", "details")
    results = load_json(results_path, "results")
    text = results_markdown(results, details, args.category)
    with atomic_path(args.results_dir / f"{args.category}.md") as tmp:
        tmp.write_text(text)
    evaluation = results_markdown(results, details, args.category, include_dit_fit=False)
    fit = dit_fit_markdown(results)
    for card in args.model_card:
        if not card.is_file():
            raise SystemExit(f"model card {card} does not exist")
        card_text = update_card(card.read_text(), evaluation)
        if fit:  # a card keeps whatever its DIT fit region says when the JSON has no dit_fit
            card_text = update_card(card_text, fit, start=DIT_FIT_START, end=DIT_FIT_END, heading=DIT_FIT_HEADING)
        with atomic_path(card) as tmp:
            tmp.write_text(card_text)
    return text


def write_figure(args: argparse.Namespace, shapes: SplitShapes, systems: list) -> Path | None:
    """Input / prediction / ground truth for the first --figure-shapes shapes, from the meshes the run kept."""
    import trimesh

    count = min(args.figure_shapes, len(shapes))
    if count == 0:
        return None
    kept = {n for n in SYSTEM_NAMES if (args.work / "meshes" / n).is_dir()}  # also systems of earlier runs
    shown = (kept | {s.name for s in systems}) - {"ground_truth"}  # the figure has its own ground-truth column
    names = ordered_systems({n: None for n in shown})
    rows = []
    for index in range(count):
        shape = shapes[index]
        predictions = {}
        for name in names:
            path = mesh_path(args.work, name, shape.shape_id)
            predictions[name] = trimesh.load(str(path), force="mesh", process=False) if path.is_file() else None
        view = fixed_view_index([c.yaw for c in shape.cameras])
        rows.append(FigureRow(shape.shape_id, shape.images[view], predictions, shape.mesh()))
    figure = make_figure(rows, [(n, DISPLAY_NAMES.get(n, n).split(" (")[0]) for n in names])
    out = args.results_dir / f"{args.category}.png"
    with atomic_path(out) as tmp:
        figure.save(str(tmp), format="PNG")
    return out


def _shard(text: str) -> tuple[int, int]:
    index, sep, count = text.partition("/")
    if not (sep and index.isdigit() and count.isdigit() and int(index) < int(count)):
        raise argparse.ArgumentTypeError(f"expected I/N with 0 <= I < N, got {text!r}")
    return int(index), int(count)


def main(argv: list[str] | None = None, *, root: str | os.PathLike = ".") -> int:
    """Evaluate as the command line asks; default paths lie under ``root``."""
    args = parse_args(argv, Path(root))
    torch.set_num_threads(args.threads)
    if args.tables_only:
        print(write_tables(args))
        return 0
    started = time.perf_counter()
    shapes = SplitShapes(args.dataset, args.split, args.limit, args.shard)
    whole = shapes if args.shard is None else SplitShapes(args.dataset, args.split, args.limit)
    args.work.mkdir(parents=True, exist_ok=True)
    systems, settings = build_systems(args)
    gallery = Gallery(whole.surface_points(), seed=args.seed)  # identification is among all evaluated shapes
    evaluation = Evaluation(shapes, systems, args.work, unseen_per_shape=args.unseen_per_shape, seed=args.seed,
                            emd_points=args.emd_points, figure_shapes=args.figure_shapes, settings=settings,
                            gallery=gallery, progress=not args.no_progress)
    try:
        records = evaluation.run()
    except SettingsMismatch as err:
        raise SystemExit(str(err)) from None
    if args.shard is not None:
        print(f"shard {args.shard[0]}/{args.shard[1]}: {len(shapes)} shapes scored into {args.work}; "
              "run again without --shard to write the results")
        return 0
    run_info = {"split": args.split, "shapes": len(shapes), "seed": args.seed, "resolution": args.resolution,
                "unseen_per_shape": args.unseen_per_shape, "emd_points": args.emd_points,
                "command": " ".join(["evaluate/evaluate.py", *(argv if argv is not None else sys.argv[1:])])}
    args.results_dir.mkdir(parents=True, exist_ok=True)
    write_results(args.results_dir / f"{args.category}.json", args.results_dir / f"{args.category}_details.json",
                  records, device=args.device, run_info=run_info, families=whole.families())
    text = write_tables(args)
    figure = write_figure(args, shapes, systems)
    print(text)
    print(f"{len(shapes)} shapes x {len(systems)} systems in {time.perf_counter() - started:.0f} s -> "
          f"{args.results_dir / (args.category + '.json')}" + (f", {figure}" if figure else ""))
    return 0
