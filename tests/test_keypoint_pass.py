"""The second detector pass on each tracked person's crop (meshvid/perception/keypoint_pass.py):
box overlap, confidence-weighted fusion, the crop <-> frame mapping, and the real detector."""

from __future__ import annotations

import numpy as np
import pytest

from meshvid.perception.crops import make_crops
from meshvid.perception.keypoint_pass import (CROP_PADDING, box_iou, crop_keypoints,
                                              fuse_keypoints, second_look)
from meshvid.records import Detection


def det(box, kps=None, conf=None, score=0.9) -> Detection:
    kps = np.zeros((17, 2)) if kps is None else np.asarray(kps, np.float64)
    conf = np.ones(17) if conf is None else np.asarray(conf, np.float64)
    return Detection(box=np.asarray(box, np.float64), score=score, keypoints=kps,
                     keypoint_scores=conf)


def test_box_iou_by_hand():
    a = np.array([[0, 0, 10, 10]])
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 5, 5]])
    np.testing.assert_allclose(box_iou(a, b)[0], [1.0, 50 / 150, 0.0, 25 / 100])


def test_fusion_weights_by_confidence():
    first = det([0, 0, 10, 20], kps=np.full((17, 2), 10.0), conf=np.full(17, 0.25))
    conf2 = np.full(17, 0.75)
    conf2[0] = 0.0  # the crop did not see joint 0: the first pass's stays
    fused = fuse_keypoints(first, np.full((17, 2), 20.0), conf2)
    np.testing.assert_allclose(fused.keypoints[1:], 17.5)  # (0.25 * 10 + 0.75 * 20) / 1
    np.testing.assert_allclose(fused.keypoints[0], 10.0)
    np.testing.assert_allclose(fused.keypoint_scores, np.maximum(0.25, conf2))
    np.testing.assert_array_equal(fused.box, first.box)  # boxes stay the first pass's


class CropDetector:
    """Finds, in every crop, the person where the crop's affine puts the tracked box, with
    keypoints at known crop pixels, and a second person in the corner."""

    def __init__(self, boxes_in_crop, kps_in_crop):
        self.boxes, self.kps, self.sizes = boxes_in_crop, kps_in_crop, []

    def detect(self, images, imgsz=None):
        self.sizes.append((len(images), images[0].shape, imgsz))
        other = det([0, 0, 20, 20], kps=np.full((17, 2), 5.0))
        return [[other, det(b, kps=k, conf=np.full(17, 0.5))]
                for b, k in zip(self.boxes, self.kps)]


def test_crop_keypoints_map_back_to_the_frame():
    image = np.zeros((480, 640, 3), np.uint8)
    boxes = np.array([[100.0, 50.0, 180.0, 250.0], [400.0, 200.0, 440.0, 300.0]])
    truth = np.random.default_rng(0).uniform([100, 50], [180, 250], (2, 17, 2))
    truth[1] = np.random.default_rng(1).uniform([400, 200], [440, 300], (17, 2))
    crops = make_crops(None, boxes, truth, size=256, padding=CROP_PADDING)
    own = np.einsum("nij,nkj->nki", crops.frame_to_crop[..., :2], boxes.reshape(2, 2, 2)) \
        + crops.frame_to_crop[:, None, :, 2]
    detector = CropDetector(own.reshape(2, 4), crops.keypoints_crop)
    kps, conf = crop_keypoints(detector, image, boxes, 256)
    assert detector.sizes == [(2, (256, 256, 3), 256)]  # one batch of crops at the asked size
    np.testing.assert_allclose(kps, truth, atol=1e-6)
    np.testing.assert_allclose(conf, 0.5)
    # a crop whose only detection is someone else leaves the first pass alone
    detector.boxes = np.array([[0, 0, 20, 20], [0, 0, 20, 20]], np.float64)
    looked = second_look(detector, image, [det(b, kps=t) for b, t in zip(boxes, truth)], 256)
    np.testing.assert_array_equal(looked[0].keypoints, truth[0])


class BiasedDetector:
    """Sees the person of each crop at known crop pixels, every x shifted right by `bias` px
    in whatever image it is given; the second call of a batch gets the mirrored crops."""

    def __init__(self, boxes_in_crop, kps_in_crop, bias: float):
        self.boxes, self.kps, self.bias, self.calls = boxes_in_crop, kps_in_crop, bias, 0

    def detect(self, images, imgsz=None):
        from meshvid.body.joints import COCO_17_FLIP

        mirrored = self.calls % 2 == 1
        self.calls += 1
        out = []
        for img, b, k in zip(images, self.boxes, self.kps):
            w = img.shape[1]
            if mirrored:  # the mirrored person: left and right swap, x -> w - x
                k = k[list(COCO_17_FLIP)].copy()
                k[:, 0] = w - k[:, 0]
                b = np.array([w - b[2], b[1], w - b[0], b[3]])
            k = k + [self.bias, 0.0]
            out.append([det(b, kps=k, conf=np.full(17, 0.5))])
        return out


def test_flip_view_mirrors_back_and_cancels_a_sideways_bias():
    image = np.zeros((480, 640, 3), np.uint8)
    boxes = np.array([[100.0, 50.0, 180.0, 250.0]])
    truth = np.random.default_rng(2).uniform([100, 50], [180, 250], (1, 17, 2))
    crops = make_crops(None, boxes, truth, size=256, padding=CROP_PADDING)
    own = np.einsum("nij,nkj->nki", crops.frame_to_crop[..., :2], boxes.reshape(1, 2, 2)) \
        + crops.frame_to_crop[:, None, :, 2]
    detector = BiasedDetector(own.reshape(1, 4), crops.keypoints_crop, bias=3.0)
    plain, _ = crop_keypoints(detector, image, boxes, 256)
    assert detector.calls == 1
    scale = crops.crop_to_frame[0, 0, 0]  # frame px per crop px
    np.testing.assert_allclose(plain[0] - truth[0], np.tile([3.0 * scale, 0.0], (17, 1)), atol=1e-6)
    detector.calls = 0
    both, conf = crop_keypoints(detector, image, boxes, 256, flip=True)
    assert detector.calls == 2  # the crops and their mirror images, one batch each
    np.testing.assert_allclose(both, truth, atol=1e-6)  # the two views' biases cancel
    np.testing.assert_allclose(conf, 0.5)


@pytest.mark.parametrize("size", [384])
def test_second_look_on_a_real_photo_stays_on_the_people(size):
    from meshvid import assets
    from meshvid.io import open_source
    from meshvid.perception.detector import PoseDetector

    detector = PoseDetector()
    image = next(iter(open_source(assets.bus_jpg()))).image
    first = [d for d in detector.detect([image], imgsz=640)[0] if d.score > 0.5]
    looked = second_look(detector, image, first, size)
    assert len(looked) == len(first) >= 3
    changed = 0
    for a, b in zip(first, looked):
        good = (a.keypoint_scores > 0.5) & (b.keypoint_scores > 0.5)
        height = a.box[3] - a.box[1]
        # the same joints, a few percent of the person's height apart at most
        assert np.median(np.linalg.norm(a.keypoints[good] - b.keypoints[good], axis=1)) \
            < 0.03 * height
        changed += not np.allclose(a.keypoints, b.keypoints)
    assert changed >= 3
