"""Evaluation of single-view reconstruction (paper Tables 3 and 5): systems, views, metrics, tables, figure.

``evaluate/evaluate.py`` (:mod:`latentmapper.evaluation.commands.evaluate`) puts these together:
:class:`Evaluation` runs every system over the views of every test shape (resumable),
:func:`write_results` merges the summaries into ``hub_cards/results/<category>.json``,
:func:`results_markdown` makes the tables from that file and :func:`make_figure` the input /
prediction / ground-truth grid. ``cross`` holds what keeps a collapsed latent space from hiding
behind a mean Chamfer: the constant answer and top-1 identification.
"""

from .cross import Gallery, central_training_shape, identification_top1, most_central
from .figure import FigureRow, make_figure
from .loop import Evaluation, SettingsMismatch
from .predictors import (SYSTEM_NAMES, AtlasNetSystem, ConstantSystem, GroundTruthSystem, ImNetSystem,
                         LatentMapperSystem, LatentMesher, NearestNeighbourSystem, OracleSystem, Prediction, System)
from .results import load_json, merge_key, merge_systems, summarize_system, write_results
from .retrieval import nearest_training_shapes, training_clip_embeddings
from .scores import mean_or_none, median_or_none, score_mesh, score_points, view_spread
from .shapes import EvalShape, RenderSettings, SplitShapes, family_of
from .tables import dit_fit_markdown, results_markdown, update_card
from .views import VIEW_SETS, View, fixed_view_index, training_views, unseen_cameras, unseen_views

__all__ = [
    "AtlasNetSystem", "ConstantSystem", "EvalShape", "Evaluation", "FigureRow", "Gallery", "GroundTruthSystem",
    "ImNetSystem", "LatentMapperSystem", "LatentMesher", "NearestNeighbourSystem", "OracleSystem", "Prediction",
    "RenderSettings",
    "SYSTEM_NAMES", "SettingsMismatch", "SplitShapes", "System", "VIEW_SETS", "View", "central_training_shape",
    "dit_fit_markdown", "family_of", "fixed_view_index", "identification_top1", "load_json", "make_figure",
    "mean_or_none", "median_or_none", "merge_key", "merge_systems", "most_central", "nearest_training_shapes",
    "results_markdown", "score_mesh", "score_points", "summarize_system", "training_clip_embeddings",
    "training_views", "unseen_cameras", "unseen_views", "update_card", "view_spread", "write_results",
]
