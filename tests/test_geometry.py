"""Geometry: coarse-to-fine grids equal dense ones, marching cubes, metrics, sphere tracing."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from latentmapper.cameras import OrbitCamera
from latentmapper.geometry import (
    EmptySurfaceError,
    chamfer_distance,
    chamfer_x1e3,
    earth_movers_distance,
    emd_x1e2,
    evaluate_sdf_grid,
    latent_to_mesh,
    marching_cubes,
    render_sdf,
    sample_surface_points,
    sphere_trace,
)
from latentmapper.geometry.grid import _two_balls_cover, bcc_covering_radius
from latentmapper.models import DITDecoder


def sphere(radius=0.5, centre=(0.0, 0.0, 0.0)):
    c = torch.tensor(centre)
    return lambda p: (p - c).norm(dim=-1) - radius


def box(p, centre, half):
    q = (p - torch.tensor(centre)).abs() - torch.tensor(half)
    return q.clamp(min=0).norm(dim=-1) + q.max(dim=-1).values.clamp(max=0)


def toy_car(p):
    d = torch.minimum(box(p, (0.0, -0.1, 0.0), (0.8, 0.15, 0.35)) - 0.04, box(p, (-0.1, 0.14, 0.0), (0.4, 0.1, 0.3)) - 0.04)
    for x, z in itertools.product((-0.5, 0.5), (-0.33, 0.33)):
        q = p - torch.tensor([x, -0.25, z])
        cyl = torch.stack([torch.sqrt(q[:, 0] ** 2 + q[:, 1] ** 2) - 0.15, q[:, 2].abs() - 0.06], -1)
        d = torch.minimum(d, cyl.clamp(min=0).norm(dim=-1) + cyl.max(-1).values.clamp(max=0))
    return d


def thin_plate(p):  # 0.06 thick: much thinner than the coarse cells
    return box(p, (0.05, 0.013, -0.02), (0.6, 0.03, 0.45))


def same_mesh(a, b, tol: float = 1e-10) -> bool:
    """Same faces count and vertices (decoders may differ in the last bits between batch sizes)."""
    va, vb = np.asarray(a.vertices), np.asarray(b.vertices)
    return len(a.faces) == len(b.faces) and va.shape == vb.shape and chamfer_distance(va, vb) < tol


@pytest.mark.parametrize(
    "fn, resolution, truncation, bounds",
    [
        (toy_car, 64, None, 1.0),
        (toy_car, 64, 0.1, 1.0),
        (lambda p: toy_car(p).clamp(-0.1, 0.1), 80, 0.1, 1.0),
        (thin_plate, 57, None, 1.0),
        (lambda p: thin_plate(p).clamp(-0.05, 0.05), 64, 0.05, 1.0),
        (sphere(0.4, (0.1, -0.2, 0.05)), 48, None, ((-0.7, -0.8, -0.6), (0.7, 0.5, 0.9))),
    ],
)
def test_coarse_to_fine_equals_dense_on_analytic_sdfs(fn, resolution, truncation, bounds):
    fine = evaluate_sdf_grid(fn, resolution, bounds, truncation=truncation)
    dense = evaluate_sdf_grid(fn, resolution, bounds, coarse_to_fine=False)
    assert dense.num_queries == dense.dense_queries == resolution**3
    assert fine.num_queries < dense.num_queries / 2
    assert np.array_equal(fine.values < 0, dense.values < 0)
    assert same_mesh(marching_cubes(fine), marching_cubes(dense))


def test_coarse_to_fine_queries_far_fewer_points_at_high_resolution():
    grid = evaluate_sdf_grid(lambda p: toy_car(p).clamp(-0.1, 0.1), 256, truncation=0.1)
    assert grid.dense_queries / grid.num_queries > 8


def test_values_are_exact_where_marching_cubes_reads_them():
    fine = evaluate_sdf_grid(toy_car, 40, truncation=0.1)
    dense = evaluate_sdf_grid(toy_car, 40, coarse_to_fine=False)
    inside = dense.values < 0
    crossing = np.zeros_like(inside)
    for axis in range(3):
        a, c = np.moveaxis(inside, axis, 0), np.moveaxis(crossing, axis, 0)
        change = a[1:] != a[:-1]
        c[1:] |= change
        c[:-1] |= change
    np.testing.assert_allclose(fine.values[crossing], dense.values[crossing], rtol=0, atol=1e-6)


def test_coarse_to_fine_matches_dense_on_a_tiny_decoder():
    torch.manual_seed(0)
    decoder = DITDecoder(latent_size=4, warp_hidden_size=16, warp_steps=2, curriculum_levels=2, template_dims=[32, 32])
    latent = torch.zeros(4, requires_grad=True)
    opt = torch.optim.Adam(list(decoder.parameters()) + [latent], lr=2e-3)
    target = sphere(0.45, (0.05, 0.0, -0.05))
    gen = torch.Generator().manual_seed(0)
    for _ in range(150):  # a few steps turn the random template into a sphere-like SDF
        xyz = torch.rand(8192, 3, generator=gen) * 2 - 1
        sdf = target(xyz)
        xyz = torch.cat([xyz[sdf < 0][:512], xyz[sdf >= 0][:512]])  # balanced, as DeepSDF samples
        loss = (decoder.sdf(latent, xyz).clamp(-0.1, 0.1) - target(xyz).clamp(-0.1, 0.1)).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    from latentmapper.geometry import latent_to_grid

    fine = latent_to_grid(decoder, latent.detach(), 64)
    dense = latent_to_grid(decoder, latent.detach(), 64, coarse_to_fine=False)
    threaded = latent_to_grid(decoder, latent.detach(), 64, workers=2)  # queries on two threads
    # Threads split the points into other chunk sizes, and matrix kernels may round differently
    # per size (seen on some CPUs), so the values agree to float rounding and the signs exactly.
    np.testing.assert_allclose(threaded.values, fine.values, rtol=0, atol=1e-5)
    assert np.array_equal(threaded.values < 0, fine.values < 0)
    assert torch.get_num_threads() == 1  # restored (the module runs single-threaded)
    assert fine.num_queries < dense.num_queries / 4
    assert np.array_equal(fine.values < 0, dense.values < 0)
    assert same_mesh(marching_cubes(fine), marching_cubes(dense))


def test_bcc_covering_radius_matches_sampling():
    assert bcc_covering_radius([1.0, 1.0, 1.0]) == pytest.approx(5**0.5 / 4)
    side = np.array([1.0, 0.6, 1.4])
    rng = np.random.default_rng(0)
    pts = rng.random((100_000, 3)) * side
    anchors = np.vstack([np.array(list(itertools.product((0, 1), repeat=3))) * side, side / 2])
    sampled = np.min(np.linalg.norm(pts[:, None] - anchors[None], axis=-1), axis=1).max()
    assert sampled <= bcc_covering_radius(side) + 1e-9
    assert sampled > 0.98 * bcc_covering_radius(side)


def test_two_ball_cover_is_exact_for_cubes():
    rng = np.random.default_rng(1)
    pts = rng.random((200_000, 3))
    d0, d1 = np.linalg.norm(pts, axis=1), np.linalg.norm(pts - 1.0, axis=1)
    for r1 in (0.2, 0.6, 1.1, 1.5):
        # The farthest point outside the first ball, seen from the opposite corner, is where
        # that ball's sphere meets the cube as far from the main diagonal as possible.
        if r1 <= 1:
            extreme = np.array([r1, 0.0, 0.0])
        else:
            extreme = np.array([1.0, np.sqrt(min(r1 * r1 - 1, 1.0)), np.sqrt(max(r1 * r1 - 2, 0.0))])
        reach = np.linalg.norm(extreme - 1.0)
        assert d1[d0 >= r1].max() <= reach + 1e-9 and d1[d0 >= r1].max() > reach - 0.03
        assert bool(_two_balls_cover(torch.tensor(r1), torch.tensor(reach + 1e-4), np.ones(3)))
        assert not bool(_two_balls_cover(torch.tensor(r1), torch.tensor(reach - 1e-4), np.ones(3)))


def test_marching_cubes_crop_keeps_the_mesh():
    import mcubes

    grid = evaluate_sdf_grid(sphere(0.3, (0.2, 0.1, 0.0)), 40, coarse_to_fine=False)
    mesh = marching_cubes(grid)
    v, f = mcubes.marching_cubes(-grid.values.astype(np.float64), 0.0)
    full = v * grid.spacing + grid.bounds[0]
    assert chamfer_distance(np.asarray(mesh.vertices), full) < 1e-10
    assert mesh.is_watertight
    assert np.allclose(mesh.bounds, [[-0.1, -0.2, -0.3], [0.5, 0.4, 0.3]], atol=0.03)
    assert mesh.volume > 0  # faces wound outwards


def test_level_values_on_lattice_points_still_give_a_watertight_mesh():
    # A sphere through lattice points: some grid values are exactly 0, which would put the
    # vertices of several edges on one corner and weld them into non-manifold edges.
    grid = evaluate_sdf_grid(sphere(0.5), 21, coarse_to_fine=False)  # spacing 0.1: (0.5, 0, 0) is on the lattice
    assert (grid.values == 0).sum() > 0
    mesh = marching_cubes(grid)
    assert mesh.is_watertight and len(mesh.split(only_watertight=False)) == 1
    assert np.allclose(mesh.bounds, [[-0.5] * 3, [0.5] * 3], atol=1e-3)


def test_shapes_that_leave_the_grid_are_capped_at_its_bounds():
    grid = evaluate_sdf_grid(sphere(0.7, (0.5, 0.0, 0.0)), 33)  # reaches x = 1.2, past the bounds
    mesh = marching_cubes(grid)
    assert mesh.is_watertight and mesh.volume > 0
    assert mesh.bounds[1, 0] <= 1.0 and mesh.bounds[1, 0] > 1.0 - grid.spacing[0]


def test_empty_surface_raises_a_clear_error():
    for fn, side in ((lambda p: p.norm(dim=-1) + 0.1, "outside"), (lambda p: p.norm(dim=-1) - 5.0, "inside")):
        with pytest.raises(EmptySurfaceError, match=side):
            marching_cubes(evaluate_sdf_grid(fn, 24))
    decoder = DITDecoder(latent_size=4, warp_hidden_size=8, warp_steps=1, curriculum_levels=1, template_dims=[8])
    with torch.no_grad():
        decoder.template.out.weight.zero_()
        decoder.template.out.bias.fill_(1.0)  # tanh(1) everywhere: no surface
    with pytest.raises(EmptySurfaceError, match="latent decodes to no surface"):
        latent_to_mesh(decoder, torch.zeros(4), 32)
    assert issubclass(EmptySurfaceError, ValueError)


def test_chamfer_and_emd_on_hand_made_point_sets():
    lattice = np.stack(np.meshgrid(*[np.arange(4.0)] * 3, indexing="ij"), -1).reshape(-1, 3)
    assert chamfer_distance(lattice, lattice) == 0.0
    assert earth_movers_distance(lattice, lattice) == 0.0
    shift = np.array([0.1, 0.0, 0.0])  # smaller than half the spacing: each point's neighbour is its twin
    assert chamfer_x1e3(lattice, lattice + shift) == pytest.approx(1e3 * 2 * 0.01)
    shift = np.array([0.06, 0.08, 0.0])  # |shift| = 0.1; a translation is the optimal matching
    assert emd_x1e2(lattice, lattice + shift) == pytest.approx(10.0)
    rng = np.random.default_rng(0)
    shuffled = lattice[rng.permutation(len(lattice))]
    assert earth_movers_distance(lattice, shuffled) == 0.0
    # One-sided: a point far from the other set counts in one direction only.
    a, b = np.zeros((1, 3)), np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 2.0]])
    assert chamfer_distance(a, b) == pytest.approx(0.0 + (0.0 + 4.0) / 2)


def test_emd_subsamples_to_the_configured_size_and_meshes_are_sampled():
    mesh = marching_cubes(evaluate_sdf_grid(sphere(0.5), 32, coarse_to_fine=False))
    pts = sample_surface_points(mesh, 5000, seed=3)
    assert pts.shape == (5000, 3)
    assert np.allclose(np.linalg.norm(pts, axis=1), 0.5, atol=0.01)
    assert chamfer_x1e3(mesh, pts) < 1.0  # a 32^3 mesh of the sphere
    assert emd_x1e2(mesh, mesh, num_points=256) < 20.0  # two samples: about the point spacing
    with pytest.raises(ValueError):
        chamfer_distance(np.zeros((0, 3)), pts)


def test_sphere_tracing_renders_a_shaded_disc():
    fn = sphere(0.5)
    camera = OrbitCamera(yaw=180.0, elevation=0.0, distance=2.0, fov=60.0)  # at +z, looking down -z
    result = sphere_trace(fn, camera, 64)
    hit = result.hit.reshape(64, 64)
    assert hit[32, 32] and not hit[0, 0]
    # Angular radius of a sphere of radius r at distance d: asin(r / d).
    expected = np.tan(np.arcsin(0.25)) / np.tan(np.radians(30.0)) * 32
    row = hit[32]
    assert abs(row.sum() / 2 - expected) <= 1.0
    np.testing.assert_allclose(np.linalg.norm(result.points[result.hit], axis=1), 0.5, atol=2e-3)
    assert (result.normals[result.hit] @ np.array([0.0, 0.0, 1.0]) > 0).all()  # facing the camera
    image = render_sdf(lambda p: fn(p).clamp(-0.1, 0.1), OrbitCamera(30.0, 20.0), 48, truncation=0.1)
    arr = np.asarray(image)
    assert arr.shape == (48, 48, 3) and arr.dtype == np.uint8
    assert (arr[0, 0] == 255).all() and arr[24, 24].max() < 255
