"""Normalisation, SDF samples, cameras and renders on simple meshes."""

import numpy as np
import pytest
import trimesh

from latentmapper.cameras import OrbitCamera, training_cameras
from latentmapper.data import normalize_to_unit_sphere, render_mesh, sample_sdf


@pytest.fixture
def car_like_mesh():
    """A long box away from the origin: normalisation has something to undo."""
    body = trimesh.creation.box((0.8, 0.4, 2.0))
    body.apply_translation([3.0, -1.0, 2.0])
    return body


def test_normalise_puts_mesh_in_unit_sphere_with_buffer(car_like_mesh):
    mesh, center, scale = normalize_to_unit_sphere(car_like_mesh)
    radii = np.linalg.norm(mesh.vertices, axis=1)
    assert radii.max() == pytest.approx(1 / 1.03, rel=1e-6)
    np.testing.assert_allclose((mesh.vertices.min(0) + mesh.vertices.max(0)) / 2, 0, atol=1e-9)
    np.testing.assert_allclose((car_like_mesh.vertices - center) * scale, mesh.vertices, atol=1e-9)


def test_sdf_samples_signs_agree_with_inside_test(car_like_mesh):
    mesh, _, _ = normalize_to_unit_sphere(car_like_mesh)
    samples = sample_sdf(mesh, 3000, seed=3)
    assert samples.shape == (3000, 4) and samples.dtype == np.float32
    inside = mesh.contains(samples[:, :3])
    clear = np.abs(samples[:, 3]) > 1e-4  # points on the surface itself have no reliable side
    assert np.mean((samples[clear, 3] < 0) == inside[clear]) == 1.0
    near = np.abs(samples[:, 3]) < 0.1
    assert near.mean() > 0.7  # mostly near the surface, DeepSDF-style
    assert (np.abs(samples[:, :3]) <= 1.0 + 0.25).all()


def test_sdf_samples_are_reproducible(car_like_mesh):
    mesh, _, _ = normalize_to_unit_sphere(car_like_mesh)
    np.testing.assert_array_equal(sample_sdf(mesh, 500, seed=1), sample_sdf(mesh, 500, seed=1))
    assert not np.array_equal(sample_sdf(mesh, 500, seed=1), sample_sdf(mesh, 500, seed=2))


def test_training_cameras_are_the_papers_nine_yaws():
    cams = training_cameras()
    assert [c.yaw for c in cams] == [0, 30, 60, 90, 120, 150, 180, 210, 240]
    front = OrbitCamera(yaw=0, elevation=0, distance=2.0)
    np.testing.assert_allclose(front.position, [0, 0, -2.0], atol=1e-12)  # yaw 0 faces the front (-z)
    pose = front.camera_to_world()
    np.testing.assert_allclose(pose[:3, 2], [0, 0, -1], atol=1e-12)  # camera looks along +z at the origin


def test_renders_are_not_blank_and_differ_across_yaws(car_like_mesh):
    mesh, _, _ = normalize_to_unit_sphere(car_like_mesh)
    images = [np.asarray(render_mesh(mesh, cam, 48)) for cam in training_cameras()[:4]]
    for image in images:
        assert image.shape == (48, 48, 3)
        covered = (image < 250).any(axis=2).mean()
        assert 0.02 < covered < 0.9  # the object is there, on a white background
        assert (image[0, 0] == 255).all()
    assert not np.array_equal(images[0], images[3])  # front and side views differ


def test_render_uses_face_colours(car_like_mesh):
    mesh, _, _ = normalize_to_unit_sphere(car_like_mesh)
    red = np.tile([[200, 10, 10]], (len(mesh.faces), 1)).astype(np.uint8)
    image = np.asarray(render_mesh(mesh, OrbitCamera(yaw=40), 32, face_colors=red)).astype(int)
    hit = (image < 250).any(axis=2)
    assert (image[hit, 0] > image[hit, 1] + 20).all()
