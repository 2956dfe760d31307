"""The emission-absorption renderer: analytic transmittance, the dataset's camera model, both representations."""

import math

import numpy as np
import pytest
import torch
import trimesh

from latentmapper.cameras import OrbitCamera, camera_tensors
from latentmapper.data.render import render_mesh
from latentmapper.geometry.volume_rendering import (
    composite, render_rays, render_representation, render_views, representation_shape, sample_along_rays,
    sample_features,
)
from latentmapper.models import RadianceDecoder


def black_field(density_fn):
    """A field of the given density (points -> (B, N)) and black colour."""
    return lambda points: (density_fn(points), torch.zeros(*points.shape[:-1], 3, dtype=points.dtype))


def test_uniform_density_box_gives_exact_transmittance():
    sigma = 1.7
    origins = torch.tensor([[[0.0, 0.0, -2.6], [0.3, -0.2, -2.6], [0.0, 0.0, 2.6], [5.0, 5.0, -2.6]]],
                           dtype=torch.float64)
    dirs = torch.tensor([[[0.0, 0.0, 1.0], [0.0, 0.0, 1.0], [0.0, 0.0, -1.0], [0.0, 0.0, 1.0]]], dtype=torch.float64)
    field = black_field(lambda p: torch.full(p.shape[:-1], sigma, dtype=p.dtype))
    out = render_rays(field, origins, dirs, num_samples=7)
    expected = [math.exp(-2 * sigma)] * 3 + [1.0]  # the cube is 2 deep; the last ray misses it
    np.testing.assert_allclose(out.rgb[0, :, 0].numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(out.opacity[0].numpy(), 1 - np.array(expected), atol=1e-12)


def test_uniform_density_slab_gives_known_transmittance():
    """A slab |z| < h of density sigma seen along +z (narrow fov, so every ray crosses it whole):
    T = exp(-sigma * 2h / |d_z|); midpoint sampling converges to it as samples grow."""
    sigma, half = 2.0, 0.4
    camera = OrbitCamera(yaw=0.0, elevation=0.0, fov=20.0)
    poses, fovs = camera_tensors([camera], dtype=torch.float64)
    field = black_field(lambda p: torch.where(p[..., 2].abs() < half, sigma, 0.0).to(p.dtype))
    _, dirs = camera.rays(6)
    expected = np.exp(-sigma * 2 * half / np.abs(dirs[:, 2])).reshape(6, 6)
    errors = []
    for samples in (64, 1024):
        image = render_views(field, poses[None], fovs[None], size=6, num_samples=samples)[0, 0].numpy()
        for channel in range(3):  # black slab on white: every channel is the transmittance
            np.testing.assert_allclose(image[channel], image[0])
        errors.append(np.abs(image[0] / expected - 1).max())
    assert errors[0] < 0.05 and errors[1] < 0.004 and errors[1] < errors[0] / 4


def test_coloured_slab_composites_over_white():
    density = torch.tensor([[0.0, 3.0, 3.0, 0.0]])
    deltas = torch.full((1, 4), 0.25)
    colour = torch.tensor([[[0.2, 0.4, 0.6]] * 4])
    out = composite(density, colour, deltas)
    transmittance = math.exp(-3.0 * 0.5)
    expected = torch.tensor([0.2, 0.4, 0.6]) * (1 - transmittance) + transmittance
    torch.testing.assert_close(out.rgb[0], expected)
    torch.testing.assert_close(out.weights.sum(), torch.tensor(1 - transmittance))


def test_render_lines_up_with_the_dataset_render():
    """An off-centre box: the mesh renderer's silhouette and the volume renderer's opacity overlap."""
    centre, extent = np.array([0.35, 0.45, -0.3]), np.array([0.5, 0.3, 0.4])
    mesh = trimesh.creation.box(extents=extent)
    mesh.apply_translation(centre)
    camera, size = OrbitCamera(yaw=30.0, elevation=20.0), 32
    mask_mesh = (np.asarray(render_mesh(mesh, camera, size, supersample=1)) < 250).any(-1)

    lo, hi = torch.tensor(centre - extent / 2), torch.tensor(centre + extent / 2)
    inside = lambda p: ((p > lo) & (p < hi)).all(-1).to(p.dtype) * 500.0  # noqa: E731
    poses, fovs = camera_tensors([camera], dtype=torch.float64)
    image = render_views(black_field(inside), poses[None], fovs[None], size, num_samples=128)[0, 0]
    mask_volume = image[0].numpy() < 0.5

    def iou(a, b):
        return (a & b).sum() / (a | b).sum()

    assert mask_mesh.sum() > 20
    assert iou(mask_mesh, mask_volume) > 0.95
    assert iou(mask_mesh, mask_volume[:, ::-1]) < 0.5 and iou(mask_mesh, mask_volume[::-1]) < 0.5  # no flips


def test_feature_lookups_index_as_documented():
    res = 5
    voxel = torch.zeros(1, *representation_shape("voxel", res, 2))
    voxel[0, 1, 0, res - 1, 0] = 3.0  # channel 1 at z=-1, y=+1, x=-1
    point = torch.tensor([[[-1.0, 1.0, -1.0], [0.0, 0.0, 0.0]]])
    np.testing.assert_allclose(sample_features("voxel", voxel, point)[0].numpy(), [[0.0, 3.0], [0.0, 0.0]])

    planes = torch.zeros(1, *representation_shape("triplane", res, 2))
    planes[0, 0, 0, 0, res - 1] = 1.0  # xy plane, channel 0, at y=-1 (row 0), x=+1 (column R-1)
    planes[0, 1, 0, res - 1, 0] = 2.0  # xz plane at z=+1, x=-1
    planes[0, 2, 1, 0, 0] = 4.0  # yz plane, channel 1, at z=-1, y=-1
    points = torch.tensor([[[1.0, -1.0, 0.3], [-1.0, 0.7, 1.0], [0.2, -1.0, -1.0]]])
    np.testing.assert_allclose(sample_features("triplane", planes, points)[0].numpy(),
                               [[1.0, 0.0], [2.0, 0.0], [0.0, 4.0]])


@pytest.mark.parametrize("kind,resolution", [("voxel", 6), ("triplane", 8)])
def test_both_representations_render_and_the_zero_one_is_exactly_white(kind, resolution):
    torch.manual_seed(0)
    decoder = RadianceDecoder(feature_dim=4, hidden_size=8)
    with torch.no_grad():
        decoder.out.weight.normal_()  # a decoder far from its start: the origin is still exactly white
        decoder.out.bias.normal_()
    poses, fovs = camera_tensors([0.0, 120.0])
    poses, fovs = poses[None].expand(2, -1, -1, -1), fovs[None].expand(2, -1)
    zero = torch.zeros(2, *representation_shape(kind, resolution, 4))
    blank = render_representation(kind, zero, decoder, poses, fovs, size=8, num_samples=8)
    assert blank.shape == (2, 2, 3, 8, 8) and torch.equal(blank, torch.ones_like(blank))

    rep = torch.randn(2, *representation_shape(kind, resolution, 4), requires_grad=True)
    images = render_representation(kind, rep, decoder, poses, fovs, size=8, num_samples=8)
    assert torch.isfinite(images).all() and (images - 1).abs().max() > 1e-3
    images.mean().backward()
    assert rep.grad.abs().sum() > 0


def test_sample_lengths_sum_to_the_path_in_the_cube():
    origins = torch.tensor([[0.0, 0.0, -2.6], [0.9, 0.5, -2.6]])
    dirs = torch.nn.functional.normalize(torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.2, 1.0]]), dim=-1)
    points, deltas = sample_along_rays(origins, dirs, 10)
    assert points.shape == (2, 10, 3)
    np.testing.assert_allclose(deltas.sum(-1).numpy(), [2.0, 0.9 * math.hypot(0.2, 1.0)], rtol=1e-5)


def test_unknown_representation_is_refused():
    with pytest.raises(ValueError, match="representation must be"):
        representation_shape("mesh", 4, 4)
