"""The one camera model: the dataset's orbit convention, its rays (numpy and torch), the inputs it accepts."""

import numpy as np
import pytest
import torch

from latentmapper.cameras import OrbitCamera, camera_rays, camera_tensors


def test_orbit_camera_follows_the_dataset_convention():
    cam = OrbitCamera(yaw=0.0, elevation=0.0, distance=2.0)
    np.testing.assert_allclose(cam.position, [0.0, 0.0, -2.0], atol=1e-12)  # yaw 0 looks at the front (-z)
    cam = OrbitCamera(yaw=90.0, elevation=0.0, distance=2.0)
    np.testing.assert_allclose(cam.position, [2.0, 0.0, 0.0], atol=1e-12)
    origins, dirs = cam.rays(8)
    np.testing.assert_allclose(np.linalg.norm(dirs, axis=1), 1.0)
    assert dirs[:, 0].mean() < -0.9  # looking back at the origin


def test_wide_images_keep_the_vertical_field_of_view():
    camera = OrbitCamera(yaw=0.0, elevation=0.0, fov=60.0)
    width, height = 8, 4
    _, dirs = camera.rays(width, height)
    local = dirs @ camera.camera_to_world()[:3, :3]  # camera axes: x right, y up, looking down -z
    slope_x, slope_y = local[:, 0] / -local[:, 2], local[:, 1] / -local[:, 2]
    half = np.tan(np.radians(30.0))
    np.testing.assert_allclose(slope_y.max(), (1 - 1 / height) * half, rtol=1e-12)  # top row's centres
    np.testing.assert_allclose(slope_x.max(), (1 - 1 / width) * half * width / height, rtol=1e-12)
    assert slope_y[0] > 0 and slope_x[0] < 0  # the first ray is the top-left pixel's
    _, square_d = camera.rays(6)
    assert np.array_equal(square_d, camera.rays(6, 6)[1]) and not square_d.flags.writeable


def test_rays_are_the_dataset_cameras_rays():
    cameras = [OrbitCamera(30, 20), OrbitCamera(215, -10, 2.0, 60)]
    poses, fovs = camera_tensors(cameras, dtype=torch.float64)
    origins, dirs = camera_rays(poses, fovs, 9)
    for i, camera in enumerate(cameras):
        want_o, want_d = camera.rays(9)
        np.testing.assert_allclose(origins[i].numpy(), want_o, atol=1e-12)
        np.testing.assert_allclose(dirs[i].numpy(), want_d, atol=1e-12)


def test_camera_inputs_and_errors():
    poses, fovs = camera_tensors([0.0, {"yaw": 90.0, "elevation": 10.0}, OrbitCamera(180.0), np.eye(4)])
    assert poses.shape == (4, 4, 4) and fovs.tolist() == [45.0] * 4
    np.testing.assert_allclose(poses[0].numpy(), OrbitCamera(0.0).camera_to_world(), atol=1e-6)
    single, _ = camera_tensors(30.0)
    assert single.shape == (1, 4, 4)
    with pytest.raises(ValueError, match="camera 1"):
        camera_tensors([0.0, np.zeros((3, 3))])
    with pytest.raises(ValueError, match="camera 0: .*yaw"):
        camera_tensors([{"pitch": 3}])
