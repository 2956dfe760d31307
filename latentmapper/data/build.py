"""Build the procedural shape dataset as a ``datasets.DatasetDict`` (train/validation/test).

Each shape is computed once and cached in a work folder beside the output, one ``.npz`` per
shape written atomically, so an interrupted build resumes where it stopped. The
DatasetDict is assembled from the cache at the end and renamed into place in one step.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Iterable

import numpy as np
from datasets import Dataset, DatasetDict
from tqdm.auto import tqdm

from ..atomic import atomic_path, clear_stale_temporaries
from .categories import CATEGORY_OF_SYNSET, check_category
from .features import SHAPE_FEATURES, SPLITS, record_to_row
from .records import RecordConfig, ShapeRecord, load_record, procedural_record, procedural_shape_id, save_record

logger = logging.getLogger(__name__)

SPLIT_FRACTIONS = (0.8, 0.1, 0.1)
BUILD_INFO = "latentmapper_build.json"


class BuildError(RuntimeError):
    """A build cannot start or finish; the message says why and what to do."""


def shape_seeds(num_shapes: int, seed: int) -> list[int]:
    """Per-shape generator seeds; consecutive, so sub-types cycle evenly through a build."""
    return [seed * 1_000_000 + i for i in range(num_shapes)]


def split_of(num_shapes: int, seed: int) -> list[str]:
    """Deterministic 80/10/10 assignment (at least one shape per split)."""
    n_val = max(1, round(num_shapes * SPLIT_FRACTIONS[1]))
    n_test = max(1, round(num_shapes * SPLIT_FRACTIONS[2]))
    order = np.random.default_rng(seed).permutation(num_shapes)
    names = np.array(["train"] * num_shapes, dtype=object)
    names[order[:n_val]] = "validation"
    names[order[n_val : n_val + n_test]] = "test"
    return list(names)


def work_dir_for(out: Path) -> Path:
    return out.parent / f".{out.name}.partial"


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)


def _make_record(kind: str, kwargs: dict, config: RecordConfig) -> ShapeRecord:
    if kind == "procedural":
        return procedural_record(kwargs["category"], kwargs["seed"], config)
    if kind == "shapenet":
        from .shapenet import shapenet_record

        return shapenet_record(config=config, **kwargs)
    raise ValueError(f"unknown record kind {kind!r}")


def _build_one(job: "Job", config: dict, cache: str) -> str:
    record = _make_record(job.kind, job.kwargs, RecordConfig.from_dict(config))
    with atomic_path(Path(cache) / f"{job.shape_id}.npz") as tmp:
        save_record(record, tmp)
    return job.shape_id


def _check_output(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise BuildError(f"output path {out} exists and is a file; give a folder path")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise BuildError(f"output folder {out} already exists and is not empty; pass --overwrite to replace it")


def _prepare_work_dir(work: Path, manifest: dict) -> Path:
    manifest_path = work / "build.json"
    if manifest_path.exists():
        previous = json.loads(manifest_path.read_text())
        if previous != manifest:
            raise BuildError(
                f"an interrupted build with different settings is in {work}; rerun it with the same "
                f"settings to resume, or delete that folder to start over"
            )
    else:
        work.mkdir(parents=True, exist_ok=True)
        with atomic_path(manifest_path) as tmp:
            tmp.write_text(json.dumps(manifest, indent=2))
    cache = work / "shapes"
    cache.mkdir(exist_ok=True)
    return cache


@dataclass(frozen=True)
class Job:
    """One shape to compute: its id, how to make it (``procedural``/``shapenet``) and arguments."""

    shape_id: str
    kind: str
    kwargs: dict


def compute_records(
    jobs: list[Job], cache: Path, config: RecordConfig, num_workers: int, progress: bool = True
) -> dict[str, str]:
    """Compute the records of ``jobs`` not cached yet; return the failures, id -> reason."""
    todo = [job for job in jobs if not (cache / f"{job.shape_id}.npz").exists()]
    bar = tqdm(total=len(jobs), initial=len(jobs) - len(todo), desc="shapes", unit="shape", disable=not progress)
    failures: dict[str, str] = {}

    def finished(job: Job, error: BaseException | None) -> None:
        if error is not None:
            failures[job.shape_id] = f"{type(error).__name__}: {error}"
            logger.warning("shape %s failed: %s", job.shape_id, error)
        bar.update(1)

    try:
        if num_workers <= 1:
            for job in todo:
                try:
                    _build_one(job, config.to_dict(), str(cache))
                    finished(job, None)
                except Exception as error:  # one bad shape must not stop the build
                    finished(job, error)
        else:
            ctx = get_context("spawn")
            with ProcessPoolExecutor(num_workers, mp_context=ctx, initializer=_init_worker) as pool:
                futures = {pool.submit(_build_one, job, config.to_dict(), str(cache)): job for job in todo}
                try:
                    for future in as_completed(futures):
                        finished(futures[future], future.exception())
                except KeyboardInterrupt:
                    pool.shutdown(wait=False, cancel_futures=True)
                    raise
    finally:
        bar.close()
    return failures


def _rows(paths: Iterable[str]):
    for path in paths:
        yield record_to_row(load_record(path))


def assemble_dataset(
    records_by_split: dict[str, list[Path]], out: Path, work: Path, extra_info: dict | None = None
) -> DatasetDict:
    """Turn cached records into a DatasetDict saved at ``out`` (atomically)."""
    hf_cache = work / "hf_cache"
    splits = {}
    for name, paths in records_by_split.items():
        splits[name] = Dataset.from_generator(
            _rows,
            features=SHAPE_FEATURES,
            gen_kwargs={"paths": [str(p) for p in paths]},
            cache_dir=str(hf_cache),
            split=name,
        )
    dataset = DatasetDict(splits)
    with atomic_path(out, is_dir=True) as tmp:
        dataset.save_to_disk(str(tmp))
        if extra_info is not None:
            (tmp / BUILD_INFO).write_text(json.dumps(extra_info, indent=2))
        from .cards import write_dataset_card

        write_dataset_card(tmp, dataset, extra_info or {})
    return dataset


def run_build(
    jobs: list[Job],
    seed: int,
    out: Path,
    manifest: dict,
    config: RecordConfig,
    num_workers: int | None,
    overwrite: bool,
    progress: bool,
    command: str | None = None,
) -> DatasetDict:
    """Compute (resuming) every job's record, then save the DatasetDict at ``out`` atomically."""
    out = Path(out).expanduser().resolve()
    work = work_dir_for(out)
    try:  # before any shape is computed: a folder that cannot be written fails now, in one line
        _check_output(out, overwrite)
        cache = _prepare_work_dir(work, manifest)
        for leftover in clear_stale_temporaries(out):
            logger.info("removed %s, left by a build killed while saving", leftover)
    except OSError as error:
        where = f" ({error.filename})" if error.filename and str(error.filename) != str(out) else ""
        raise BuildError(f"cannot write the output folder {out}: {error.strerror or error}{where}") from None
    workers = num_workers if num_workers is not None else (os.cpu_count() or 1)
    start = time.perf_counter()
    try:
        failures = compute_records(jobs, cache, config, workers, progress)
    except KeyboardInterrupt:
        done = len(list(cache.glob("*.npz")))
        raise BuildError(
            f"interrupted with {done} of {len(jobs)} shapes done; run the same command again to resume"
        ) from None
    if failures:
        logger.warning("%d shape(s) failed and are left out: %s", len(failures), failures)
    done = [cache / f"{job.shape_id}.npz" for job in jobs if job.shape_id not in failures]
    if len(done) < 3:
        raise BuildError(
            f"only {len(done)} shape(s) succeeded, at least 3 are needed (one per split); failures: {failures}"
        )
    # Split the shapes that succeeded, so that no split is left empty by a failure.
    by_split: dict[str, list[Path]] = {name: [] for name in SPLITS}
    for path, split in zip(done, split_of(len(done), seed)):
        by_split[split].append(path)
    info = dict(manifest, failures=failures, seconds=round(time.perf_counter() - start, 1), command=command)
    dataset = assemble_dataset(by_split, out, work, info)
    shutil.rmtree(work, ignore_errors=True)
    return dataset


def build_dataset(
    category: str,
    num_shapes: int,
    out: str | os.PathLike,
    *,
    seed: int = 0,
    config: RecordConfig | None = None,
    num_workers: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
    command: str | None = None,
) -> DatasetDict:
    """Build ``num_shapes`` procedural shapes of ``category`` into a DatasetDict at ``out``."""
    try:
        check_category(category)
    except ValueError as error:
        raise BuildError(str(error)) from None
    if num_shapes < 3:
        raise BuildError(f"--num-shapes must be at least 3 (one shape per split), got {num_shapes}")
    config = config or RecordConfig()
    seeds = shape_seeds(num_shapes, seed)
    jobs = [Job(procedural_shape_id(category, s), "procedural", {"category": category, "seed": s}) for s in seeds]
    manifest = {"category": category, "num_shapes": num_shapes, "seed": seed, "config": config.to_dict()}
    return run_build(jobs, seed, Path(out), manifest, config, num_workers, overwrite, progress, command)


def import_shapenet(
    shapenet_dir: str | os.PathLike,
    synset: str,
    out: str | os.PathLike,
    *,
    category: str | None = None,
    limit: int | None = None,
    repair: bool = True,
    seed: int = 0,
    config: RecordConfig | None = None,
    num_workers: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
    command: str | None = None,
) -> DatasetDict:
    """Import ShapeNetCore.v2 models of ``synset`` into the same DatasetDict form."""
    from .shapenet import find_models

    category = category or CATEGORY_OF_SYNSET.get(synset, synset)
    models = find_models(shapenet_dir, synset)[:limit]
    if len(models) < 3:
        raise BuildError(f"found {len(models)} model(s) under {shapenet_dir}; at least 3 are needed (one per split)")
    config = config or RecordConfig()
    jobs = [
        Job(model_id, "shapenet", {"obj_path": str(path), "model_id": model_id, "category": category,
                                   "seed": seed + i, "repair": repair})
        for i, (model_id, path) in enumerate(models)
    ]
    manifest = {"source": str(Path(shapenet_dir).resolve()), "synset": synset, "category": category,
                "num_shapes": len(models), "seed": seed, "repair": repair, "config": config.to_dict()}
    return run_build(jobs, seed, Path(out), manifest, config, num_workers, overwrite, progress, command)
