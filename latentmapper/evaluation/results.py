"""From per-shape records to ``hub_cards/results/<category>.json`` and its companion details file.

The results file has exactly the issue's shape, one entry per system::

    {"systems": {NAME: {"fixed_view": {"chamfer_x1e3": .., "emd_x1e2": .., "identification_top1": ..},
                        "nine_views": {..}, "unseen_views": {..}, "seconds_per_image": ..,
                        "by_family": {FAMILY: {"shapes": n, "fixed_view": {"chamfer_x1e3": ..}, ..}}}},
     "dit_fit": {..}}

``identification_top1`` (see ``cross``) is None for records without cross distances, and
``by_family`` is there when the shapes' families are known. ``dit_fit`` (how well the DIT
reconstructs training shapes from their codes and test shapes by fitting, against the
constant answer) is written by ``benchmarks/benchmark.py --results``. Older files lack these keys
and still load. Other tools write rows into the same file (e.g. ``goembed``), so writing
merges: the systems evaluated now replace their own entries and every other entry (and key)
is kept as it was. What does not fit that shape (failures, the view spread, Chamfer by yaw, timing by device,
how the evaluation was run) goes to ``<category>_details.json``, merged the same way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

from ..atomic import atomic_path
from .cross import identification_top1
from .scores import mean_or_none, median_or_none, view_spread
from .views import FIXED_YAW, VIEW_SETS

DIGITS = 6


def round_score(value: float | None) -> float | None:
    """A score as the results files store it (``DIGITS`` decimals), ``None`` kept."""
    return None if value is None else round(float(value), DIGITS)


def _entries_by_set(record: dict) -> dict[str, list[dict]]:
    """A record's scored views, grouped into the three input-view sets of Table 3."""
    views = record["views"]
    if len(views) == 1 and views[0].get("kind") == "shape":  # view-independent (the oracle)
        return {name: views for name in VIEW_SETS}
    training = [v for v in views if v.get("kind") == "training"]
    return {"fixed_view": [v for v in training if abs(float(v["yaw"]) - FIXED_YAW) < 1e-6],
            "nine_views": training,
            "unseen_views": [v for v in views if v.get("kind") == "unseen"]}


def _top1(records: list[dict], grouped: list[dict[str, list[dict]]], view_set: str) -> float | None:
    """identification_top1 of one input set, among the shapes of ``records`` (None: not recorded)."""
    if any("shape_id" not in r for r in records):
        return None
    gallery = [str(r["shape_id"]) for r in records]
    entries = [(own, v.get("cross_chamfer_x1e3")) for own, g in zip(gallery, grouped) for v in g[view_set]]
    scored = [v for g in grouped for v in g[view_set] if v.get("chamfer_x1e3") is not None]
    if any("cross_chamfer_x1e3" not in v for v in scored):  # older records: cannot be told
        return None
    return identification_top1(entries, gallery)


def by_family(records: list[dict], families: dict[str, str]) -> dict[str, dict]:
    """Mean Chamfer of each input set over the shapes of each family (a family the model cannot make shows)."""
    groups: dict[str, list[dict]] = {}
    for record in records:
        groups.setdefault(families.get(str(record.get("shape_id")), "unknown"), []).append(_entries_by_set(record))
    return {family: {"shapes": len(grouped), **{name: {"chamfer_x1e3": round_score(mean_or_none(
                v["chamfer_x1e3"] for g in grouped for v in g[name]))} for name in VIEW_SETS}}
            for family, grouped in sorted(groups.items())}


def summarize_system(records: Iterable[dict], families: dict[str, str] | None = None) -> tuple[dict, dict]:
    """(the system's results entry, its details entry) from its per-shape records; ``families``: id -> family."""
    records = list(records)
    grouped = [_entries_by_set(r) for r in records]
    result, details = {}, {"shapes": len(records), "inputs": {}, "empty_meshes": {}, "view_spread": {}}
    for name in VIEW_SETS:
        entries = [v for g in grouped for v in g[name]]
        result[name] = {"chamfer_x1e3": round_score(mean_or_none(v["chamfer_x1e3"] for v in entries)),
                        "emd_x1e2": round_score(mean_or_none(v["emd_x1e2"] for v in entries)),
                        "identification_top1": round_score(_top1(records, grouped, name))}
        details["inputs"][name] = len(entries)
        details["empty_meshes"][name] = sum(v["chamfer_x1e3"] is None for v in entries)
        if name != "fixed_view":
            spread = view_spread([[v["chamfer_x1e3"] for v in g[name]] for g in grouped])
            details["view_spread"][name] = {k: round_score(v) if k != "shapes" else v for k, v in spread.items()}
    seconds = [v.get("seconds") for r in records for v in r["views"]]
    result["seconds_per_image"] = round_score(median_or_none(seconds))
    if families:
        result["by_family"] = by_family(records, families)
    yaws = sorted({float(v["yaw"]) for g in grouped for v in g["nine_views"] if "yaw" in v})
    details["chamfer_by_training_yaw"] = {
        f"{yaw:g}": round_score(mean_or_none(v["chamfer_x1e3"] for g in grouped for v in g["nine_views"]
                                        if "yaw" in v and float(v["yaw"]) == yaw)) for yaw in yaws}
    for stage in ("features_s", "mapping_s", "meshing_s", "fitting_s"):
        median = median_or_none(v.get(stage) for r in records for v in r["views"])
        if median is not None:
            details.setdefault("median_stage_seconds", {})[stage[:-2]] = round_score(median)
    return result, details


def load_json(path: str | Path, what: str) -> dict:
    """A results or details file, checked to hold a ``systems`` mapping; {} if it does not exist."""
    path = Path(path)
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err}); fix or remove it before writing {what}") from None
    if not isinstance(data, dict) or not isinstance(data.get("systems", {}), dict):
        raise ValueError(f"{path} is not a {what} file: expected an object with a 'systems' mapping")
    return data


def merge_key(path: str | Path, key: str, value, what: str = "results") -> dict:
    """Set one top-level ``key`` (not ``systems``) of the file at ``path``, keep everything else; write atomically."""
    if key == "systems":
        raise ValueError("use merge_systems to change the systems")
    data = load_json(path, what)
    out = {"systems": {}, **data, key: value}
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(out, indent=2) + "\n")
    return out


def merge_systems(path: str | Path, systems: dict[str, dict], what: str = "results") -> dict:
    """Replace the given systems' entries in the file at ``path``, keep all others; write atomically."""
    data = load_json(path, what)
    merged = dict(data.get("systems", {}))
    merged.update(systems)
    out = {**data, "systems": merged}
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(out, indent=2) + "\n")
    return out


def write_results(results_path: str | Path, details_path: str | Path, records: dict[str, list[dict]],
                  *, device: str = "cpu", run_info: dict | None = None,
                  families: dict[str, str] | None = None) -> tuple[dict, dict]:
    """Summaries of ``records`` (system -> per-shape records) merged into both files.

    Table 5 asks for the time on this CPU and, where one is at hand, on a GPU. A run on
    another device than the CPU is a timing run: for a system already in the results it
    only adds its timing to the details (``seconds_per_image_by_device``) and leaves the
    scores and the results entry as the CPU evaluation wrote them; a system not there yet
    gets that run's entry.
    """
    previous = load_json(results_path, "results").get("systems", {})
    previous_details = load_json(details_path, "details").get("systems", {})
    results, details = {}, {}
    for name, system_records in records.items():
        result, detail = summarize_system(system_records, families)
        old_detail = previous_details.get(name, {})
        by_device = dict(old_detail.get("seconds_per_image_by_device", {}))
        by_device[device] = result["seconds_per_image"]
        if device != "cpu" and name in previous:
            results[name] = previous[name]
            details[name] = {**old_detail, "seconds_per_image_by_device": by_device}
            continue
        detail["seconds_per_image_by_device"] = by_device
        detail["run"] = dict(run_info or {}, device=device)
        results[name], details[name] = result, detail
    merged = merge_systems(results_path, results)
    merged_details = merge_systems(details_path, details, "details")
    return merged, merged_details


__all__ = ["by_family", "load_json", "merge_key", "merge_systems", "round_score", "summarize_system", "write_results"]
