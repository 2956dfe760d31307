"""Evaluation of single-view reconstruction (paper Tables 3 and 5): systems, views, metrics, tables, figure.

``train/evaluate.py`` puts these together: :class:`Evaluation` runs every system over the
views of every test shape (resumable), :func:`write_results` merges the summaries into
``hub_cards/results/<category>.json``, :func:`results_markdown` makes the tables from that
file and :func:`make_figure` the input / prediction / ground-truth grid.
"""

from .figure import FigureRow, make_figure
from .loop import Evaluation, SettingsMismatch
from .predictors import (SYSTEM_NAMES, AtlasNetSystem, ImNetSystem, LatentMapperSystem, LatentMesher,
                         NearestNeighbourSystem, OracleSystem, Prediction, System)
from .results import load_json, merge_systems, summarize_system, write_results
from .retrieval import nearest_training_shapes, training_clip_embeddings
from .scores import mean_or_none, median_or_none, score_mesh, score_points, view_spread
from .shapes import EvalShape, RenderSettings, SplitShapes
from .tables import results_markdown, update_card
from .views import VIEW_SETS, View, fixed_view_index, training_views, unseen_cameras, unseen_views

__all__ = [
    "AtlasNetSystem", "EvalShape", "Evaluation", "FigureRow", "ImNetSystem", "LatentMapperSystem", "LatentMesher",
    "NearestNeighbourSystem", "OracleSystem", "Prediction", "RenderSettings", "SYSTEM_NAMES", "SettingsMismatch",
    "SplitShapes", "System", "VIEW_SETS", "View", "fixed_view_index", "load_json", "make_figure", "mean_or_none",
    "median_or_none", "merge_systems", "nearest_training_shapes", "results_markdown", "score_mesh", "score_points",
    "summarize_system", "training_clip_embeddings", "training_views", "unseen_cameras", "unseen_views",
    "update_card", "view_spread", "write_results",
]
