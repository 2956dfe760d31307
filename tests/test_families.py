"""Procedural shape families and the SDF operations they are built from."""

import functools
import json
import math

import numpy as np
import pytest
import torch

from latentmapper.data import sdf_ops as ops
from latentmapper.data.families import CATEGORIES, SUBTYPES, ProceduralShape, generate_shape, shape_from_params
from latentmapper.geometry import evaluate_sdf_grid, marching_cubes

ALL_SHAPES = [(cat, seed) for cat in sorted(SUBTYPES) for seed in range(len(SUBTYPES[cat]))]


def _random_points(shape: ProceduralShape, n: int = 4000, seed: int = 0) -> torch.Tensor:
    lo, hi = (torch.as_tensor(b, dtype=torch.float32) for b in shape.bounds)
    g = torch.Generator().manual_seed(seed)
    return lo + torch.rand(n, 3, generator=g) * (hi - lo)


MESH_RESOLUTION = 64


@functools.lru_cache(maxsize=None)
def _shape_and_mesh(category: str, seed: int):
    """Each test shape is meshed once per session (on a cube around its bounds, as the pipeline does)."""
    shape = generate_shape(category, seed)
    lo, hi = (np.asarray(b, dtype=np.float64) for b in shape.bounds)
    center, half = (lo + hi) / 2, (hi - lo).max() / 2 * 1.02
    grid = evaluate_sdf_grid(shape.sdf, MESH_RESOLUTION, (center - half, center + half), margin=1.5)
    return shape, marching_cubes(grid)


def _box_surface_points(lo, hi, k: int = 24) -> torch.Tensor:
    """A k x k lattice on each of the six faces of the box [lo, hi]."""
    g = np.linspace(0.0, 1.0, k)
    a, b = (m.ravel() for m in np.meshgrid(g, g, indexing="ij"))
    faces = []
    for d in range(3):
        u, v = [i for i in range(3) if i != d]
        for side in (lo[d], hi[d]):
            p = np.empty((a.size, 3))
            p[:, d] = side
            p[:, u] = lo[u] + a * (hi[u] - lo[u])
            p[:, v] = lo[v] + b * (hi[v] - lo[v])
            faces.append(p)
    return torch.tensor(np.concatenate(faces), dtype=torch.float32)


def _json_plain(value) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _json_plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_json_plain(v) for v in value)
    return isinstance(value, (str, int, float, bool)) and not isinstance(value, np.generic)


# --- the public API -------------------------------------------------------------------------


def test_categories_are_shapenet_synsets():
    assert CATEGORIES == {"car": "02958343", "airplane": "02691156"}
    assert set(SUBTYPES) == set(CATEGORIES)
    assert len(SUBTYPES["car"]) == 7 and len(SUBTYPES["airplane"]) == 6


@pytest.mark.parametrize("category", sorted(SUBTYPES))
def test_every_subtype_appears_in_the_first_seeds(category):
    subtypes = [generate_shape(category, seed).subtype for seed in range(len(SUBTYPES[category]))]
    assert subtypes == list(SUBTYPES[category])
    assert generate_shape(category, len(SUBTYPES[category])).subtype == SUBTYPES[category][0]


def test_unknown_category_names_it_and_lists_valid_ones():
    with pytest.raises(ValueError) as err:
        generate_shape("boat", 0)
    assert "boat" in str(err.value) and "car" in str(err.value) and "airplane" in str(err.value)
    with pytest.raises(ValueError, match="boat"):
        shape_from_params("boat", {"subtype": "sedan"})


@pytest.mark.parametrize("category", sorted(SUBTYPES))
def test_same_seed_same_shape_other_seed_other_shape(category):
    a, b = generate_shape(category, 11), generate_shape(category, 11)
    points = _random_points(a)
    assert a.params == b.params and a.caption == b.caption
    np.testing.assert_array_equal(a.part_colors, b.part_colors)
    assert torch.equal(a.sdf(points), b.sdf(points))
    other = generate_shape(category, 11 + len(SUBTYPES[category]))  # same sub-type, new draw
    assert other.subtype == a.subtype and other.params != a.params
    assert not torch.allclose(a.sdf(points), other.sdf(points))


@pytest.mark.parametrize("category,seed", ALL_SHAPES)
def test_params_are_json_and_rebuild_the_same_shape(category, seed):
    shape = generate_shape(category, seed)
    assert _json_plain(shape.params)
    assert shape.params["subtype"] == shape.subtype and shape.seed == seed
    stored = json.loads(json.dumps(shape.params))
    assert stored == shape.params
    rebuilt = shape_from_params(category, stored)
    points = _random_points(shape, 3000, seed)
    assert torch.equal(rebuilt.sdf(points), shape.sdf(points))
    assert torch.equal(rebuilt.part_labels(points), shape.part_labels(points))
    assert rebuilt.caption == shape.caption and rebuilt.subtype == shape.subtype
    np.testing.assert_array_equal(rebuilt.bounds[0], shape.bounds[0])


@pytest.mark.parametrize("category,seed", ALL_SHAPES)
def test_watertight_mesh_inside_bounds_with_labelled_parts(category, seed):
    shape, mesh = _shape_and_mesh(category, seed)
    assert shape.category == category and isinstance(shape.caption, str) and len(shape.caption) > 10
    lo, hi = shape.bounds
    assert lo.shape == hi.shape == (3,) and np.all(hi > lo)
    # conservative bounds: nothing of the surface touches the box's faces
    assert float(shape.sdf(_box_surface_points(lo, hi)).min()) > 0.0

    assert mesh.is_watertight
    assert len(mesh.split(only_watertight=False)) == 1  # one connected solid
    assert np.all(mesh.vertices >= lo - 1e-4) and np.all(mesh.vertices <= hi + 1e-4)
    extent = mesh.vertices.max(0) - mesh.vertices.min(0)
    assert 1.6 < extent.max() < 2.6  # longest extent about 2 units
    np.testing.assert_allclose(mesh.vertices[:, 0].min(), -mesh.vertices[:, 0].max(), atol=0.05)  # symmetric

    colors = shape.part_colors
    assert colors.dtype == np.uint8 and colors.shape == (len(shape.part_names), 3)
    labels = shape.part_labels(torch.tensor(np.array(mesh.triangles_center), dtype=torch.float32))
    assert labels.dtype == torch.int64 and labels.shape == (len(mesh.faces),)
    assert int(labels.min()) >= 0 and int(labels.max()) < len(shape.part_names)
    used = {shape.part_names[i] for i in labels.unique().tolist()}
    expected = {"paint", "window", "tyre", "rim"} if category == "car" else {"fuselage", "wing", "tail"}
    assert expected <= used


@pytest.mark.parametrize("category,seed", ALL_SHAPES)
def test_sign_inside_and_far_away(category, seed):
    shape = generate_shape(category, seed)
    lo, hi = shape.bounds
    if category == "car":
        inside = (lo + hi) / 2  # the middle of the body
    else:
        inside = -np.asarray(shape.center)  # the design origin: mid-fuselage, on its axis
    far = torch.tensor([[10.0, 10.0, 10.0], [-10.0, 3.0, 0.0], [0.0, 0.0, 20.0]])
    values = shape.sdf(torch.cat([torch.tensor(np.array([inside]), dtype=torch.float32), far]))
    assert values.dtype == torch.float32 and values.shape == (4,)
    assert values[0] < 0 and bool((values[1:] > 1.0).all())


def test_sdf_accepts_any_float_points_and_checks_shape():
    shape = generate_shape("car", 3)
    points = _random_points(shape, 50)
    assert torch.equal(shape.sdf(points.double()), shape.sdf(points))
    assert shape.sdf(torch.zeros(0, 3)).shape == (0,)
    assert shape.part_labels(torch.zeros(0, 3)).shape == (0,)
    with pytest.raises(ValueError, match="shape"):
        shape.sdf(torch.zeros(5, 2))


@pytest.mark.parametrize("category,seed", [("car", 4), ("car", 6), ("airplane", 0), ("airplane", 2), ("airplane", 3)])
def test_sdf_never_overestimates_the_distance_to_the_surface(category, seed):
    """Coarse-to-fine meshing prunes cells by |SDF|, which is safe only for lower bounds."""
    shape, mesh = _shape_and_mesh(category, seed)
    lo, hi = shape.bounds
    cell = float((hi - lo).max()) * 1.02 / (MESH_RESOLUTION - 1)
    queries = _random_points(shape, 2000, 1)
    vertices = torch.tensor(np.array(mesh.vertices), dtype=torch.float32)
    nearest_vertex = torch.cdist(queries, vertices).amin(dim=1)  # >= true distance - MC error
    assert bool((shape.sdf(queries).abs() <= nearest_vertex + cell).all())


def test_captions_name_colour_and_kind():
    sports = generate_shape("car", 4)
    assert sports.params["color"] in sports.caption and "sports car" in sports.caption
    jet = generate_shape("airplane", 0)
    assert "airliner" in jet.caption and jet.params["color"] in jet.caption
    assert ("four-engine" in jet.caption) == (jet.params["engines"] == 4)


# --- the SDF operations -----------------------------------------------------------------------


def _pts(*rows):
    return torch.tensor(rows, dtype=torch.float32)


def test_primitives_give_exact_distances_at_known_points():
    p = _pts([2.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 3.0, 0.0])
    torch.testing.assert_close(ops.Sphere(1.0)(p), torch.tensor([1.0, -1.0, 2.0]))
    torch.testing.assert_close(ops.Box((1.0, 0.5, 0.25))(p), torch.tensor([1.0, -0.25, 2.5]))
    corner = ops.Box((1.0, 1.0, 1.0))(_pts([2.0, 2.0, 1.0]))
    torch.testing.assert_close(corner, torch.tensor([math.sqrt(2.0)]))
    torch.testing.assert_close(ops.Capsule((0, -1, 0), (0, 1, 0), 0.5)(p), torch.tensor([1.5, -0.5, 1.5]))
    cyl = ops.Cylinder(1.0, 0.5, "x")  # axis along x
    torch.testing.assert_close(cyl(p), torch.tensor([1.5, -0.5, 2.0]))
    torch.testing.assert_close(ops.Torus(1.0, 0.25, "y")(_pts([1.0, 0.0, 0.0], [0.0, 0.0, 0.0])),
                               torch.tensor([-0.25, 0.75]))
    ell = ops.Ellipsoid((2.0, 1.0, 0.5))(_pts([3.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.5]))
    torch.testing.assert_close(ell, torch.tensor([1.0, -0.5, 0.0]), atol=1e-6, rtol=0)


def test_cones_match_their_special_cases():
    g = torch.Generator().manual_seed(0)
    p = torch.rand(2000, 3, generator=g) * 4 - 2
    torch.testing.assert_close(ops.Frustum(0.6, 0.6, 0.8, "z")(p), ops.Cylinder(0.6, 0.8, "z")(p), atol=1e-5, rtol=0)
    torch.testing.assert_close(
        ops.RoundCone((0, 0, -0.5), (0, 0, 0.5), 0.3, 0.3)(p), ops.Capsule((0, 0, -0.5), (0, 0, 0.5), 0.3)(p),
        atol=1e-5, rtol=0,
    )
    cone = ops.Cone(1.0, 1.0, "y")  # base radius 1 at y=-1, tip at y=1
    d = cone(_pts([0.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, -1.5, 0.0]))
    torch.testing.assert_close(d[1:], torch.tensor([1.0, 0.5]))
    assert d[0] < 0


def test_polygon_prisms_agree_with_a_box():
    square = [(-1.0, -0.5), (1.0, -0.5), (1.0, 0.5), (-1.0, 0.5)]  # (y, z) for an x extrusion
    g = torch.Generator().manual_seed(1)
    p = torch.rand(3000, 3, generator=g) * 4 - 2
    box = ops.Box((0.3, 1.0, 0.5))(p)
    torch.testing.assert_close(ops.Extrusion(square, 0.3, "x")(p), box, atol=1e-5, rtol=0)
    soft = ops.Prism(square[::-1], 0.3, "x", corner=0.005)(p)  # either winding
    slack = 0.005 * math.log(4) + 1e-5  # log-sum-exp rounds corners by at most corner * log(edges)
    inside = box < 0
    assert float((soft - box)[inside].abs().max()) < slack
    assert bool((soft <= box + slack).all())  # never above the true distance (beyond the slack)
    clear = box.abs() > slack
    assert torch.equal(soft[clear] > 0, box[clear] > 0)
    with pytest.raises(ValueError, match="convex"):
        ops.Prism([(0, 0), (2, 0), (1, 0.2), (1, 2)], 0.3)


def test_wing_is_solid_at_the_root_and_thin_at_the_tip():
    wing = ops.Wing(span=1.0, root_chord=0.4, tip_chord=0.1, root_thickness=0.06, tip_thickness=0.05, sweep=0.3)
    d = wing(_pts([0.05, 0.0, 0.0], [0.99, 0.0, 0.3], [0.99, 0.0, 0.0], [0.5, 0.5, 0.0]))
    assert d[0] < -0.015 and d[1] < 0 and d[2] > 0 and d[3] > 0.3
    lo, hi = wing.bounds()
    np.testing.assert_allclose(lo, [0.0, -0.03, -0.2])
    np.testing.assert_allclose(hi, [1.0, 0.03, 0.35])


def test_transforms_and_csg():
    p = _pts([1.0, 0.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 0.0])
    ball = ops.Sphere(0.5)
    moved = ball.translate(1.0, 0.0, 0.0)
    torch.testing.assert_close(moved(p), torch.tensor([-0.5, 1.5, 0.5]))
    torch.testing.assert_close(ops.MirrorX(moved)(p), torch.tensor([-0.5, -0.5, 0.5]))
    turned = moved.rotate("z", 90.0)  # +x goes to +y
    torch.testing.assert_close(turned(_pts([0.0, 1.0, 0.0])), torch.tensor([-0.5]))
    squashed = ops.Sphere(1.0).scale((2.0, 1.0, 1.0))  # never overestimates the distance
    far = squashed(_pts([3.0, 0.0, 0.0], [0.0, 2.0, 0.0]))
    assert far[0] <= 1.0 + 1e-6 and far[1] <= 1.0 + 1e-6 and far[1] > 0
    a, b = ops.Sphere(0.6), ops.Sphere(0.6).translate(1.0, 0, 0)
    q = _pts([0.5, 0.0, 0.0], [0.0, 0.0, 0.0], [0.5, 0.7, 0.0])
    union, inter, sub = (a | b)(q), (a & b)(q), (a - b)(q)
    torch.testing.assert_close(union, torch.minimum(a(q), b(q)))
    torch.testing.assert_close(inter, torch.maximum(a(q), b(q)))
    torch.testing.assert_close(sub, torch.maximum(a(q), -b(q)))
    smooth = ops.SmoothUnion(a, b, k=0.2)(q)
    assert bool((smooth <= union + 1e-7).all()) and bool((smooth >= union - 0.05 - 1e-7).all())
    lo, hi = ops.SmoothUnion(a, b, k=0.2).bounds()
    np.testing.assert_allclose(lo, [-0.65, -0.65, -0.65])
    np.testing.assert_allclose(hi, [1.65, 0.65, 0.65])


def test_instances_and_bounded_match_plain_unions():
    wheel = ops.Cylinder(0.3, 0.1, "x")
    offsets = [(0.8, 0.3, -1.0), (0.8, 0.3, 0.2), (0.8, 0.3, 1.0)]
    g = torch.Generator().manual_seed(2)
    p = torch.rand(4000, 3, generator=g) * 3 - 1.5
    near = ops.Cylinder(0.3, 0.1, "x")
    union = ops.Union(*[near.translate(*o) for o in offsets])
    inst = ops.Instances(wheel, offsets)
    close = union(p) < 0.2  # exact near the copies
    torch.testing.assert_close(inst(p)[close], union(p)[close])
    scattered = ops.Instances(ops.Sphere(0.2), [(0.5, 0.0, 0.0), (0.0, 0.7, 0.3)])
    plain = ops.Union(ops.Sphere(0.2).translate(0.5, 0, 0), ops.Sphere(0.2).translate(0.0, 0.7, 0.3))
    torch.testing.assert_close(scattered(p), plain(p))
    bounded = ops.Bounded(union, margin=0.05)
    got, ref = bounded(p), union(p)
    assert bool((got <= ref + 1e-6).all())  # a lower bound everywhere
    torch.testing.assert_close(got[ref < 0.05], ref[ref < 0.05])  # exact near the surface
