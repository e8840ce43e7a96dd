"""frame_sync: the one color/depth pairing rule of the live node and of replay (no ROS needed)."""

from __future__ import annotations

import argparse
import inspect

import pytest

from vla_r1_robot.bags.pairing import NearestDepthPairer, PairingConfig
from vla_r1_robot.bags.source import open_bag
from vla_r1_robot.perception.frame_sync import NearestStampSync, StampedItem, SyncConfig
from vla_r1_ros.node_config import CameraSettings, default_parameters


def feed(sync, events):
    """events: ("c" | "d", stamp_s) in arrival order -> [(color stamp, depth stamp | None)]."""
    pairs = []
    for kind, stamp in events:
        item = StampedItem(stamp, f"{kind}{stamp}")
        pairs += sync.add_color(item) if kind == "c" else sync.add_depth(item)
    return [(p.color.stamp_s, None if p.depth is None else p.depth.stamp_s) for p in pairs]


def test_equal_stamps_pair_at_once_in_either_order():
    sync = NearestStampSync(SyncConfig(0.05))
    assert feed(sync, [("d", 1.0), ("c", 1.0)]) == [(1.0, 1.0)]
    assert feed(sync, [("c", 2.0), ("d", 2.0)]) == [(2.0, 2.0)]


def test_a_color_waits_for_a_later_depth_and_takes_the_nearest():
    sync = NearestStampSync(SyncConfig(0.05))
    assert feed(sync, [("d", 0.98), ("c", 1.0)]) == []  # a nearer depth may still come
    assert feed(sync, [("d", 1.01)]) == [(1.0, 1.01)]


def test_beyond_the_tolerance_a_color_stays_unpaired_and_the_miss_is_kept():
    sync = NearestStampSync(SyncConfig(0.02))
    assert feed(sync, [("c", 1.0), ("d", 1.1)]) == [(1.0, None)]
    assert sync.closest_miss_s == pytest.approx(0.1)


def test_a_color_is_given_up_once_the_color_stream_is_max_lag_ahead():
    sync = NearestStampSync(SyncConfig(0.02, max_lag_s=0.5))
    assert feed(sync, [("c", 1.0), ("c", 1.3)]) == []
    assert feed(sync, [("c", 1.6)]) == [(1.0, None)]
    assert feed(sync, [("d", 1.6)]) == [(1.3, None), (1.6, 1.6)]
    assert [(c, d) for c, d in feed(sync, [])] == []
    assert sync.finish() == []


def test_memory_stays_bounded_on_a_long_stream():
    sync = NearestStampSync(SyncConfig())
    paired = 0
    for k in range(3000):  # 100 s at 30 Hz, depth a little late
        paired += len(sync.add_color(StampedItem(k / 30, k)))
        paired += len(sync.add_depth(StampedItem(k / 30 + 0.001, k)))
    assert paired == 3000 and len(sync._depth) <= 10 and not sync._pending


@pytest.mark.parametrize(
    "tolerance, max_lag", [(-0.1, 1.0), (float("nan"), 1.0), (0.1, 0.0), (0.1, float("inf")), (True, 1.0)]
)
def test_bad_settings_are_refused(tolerance, max_lag):
    with pytest.raises(ValueError):
        SyncConfig(tolerance, max_lag)


def test_replay_and_the_node_use_the_same_rule_and_defaults():
    assert issubclass(NearestDepthPairer, NearestStampSync) and PairingConfig is SyncConfig
    camera = CameraSettings()
    assert camera.sync_config() == SyncConfig()
    params = default_parameters()
    assert params["camera.pair_tolerance_s"] == SyncConfig().tolerance_s
    assert params["camera.pair_max_lag_s"] == SyncConfig().max_lag_s
    assert inspect.signature(open_bag).parameters["pair_tolerance_s"].default == SyncConfig().tolerance_s
    from vla_r1_cli.replay import register

    subparsers = argparse.ArgumentParser().add_subparsers()
    register(subparsers)
    assert subparsers.choices["replay"].get_default("pair_tolerance") == SyncConfig().tolerance_s


def test_bad_camera_pairing_parameters_name_the_parameter():
    with pytest.raises(ValueError, match=r"camera\.pair_tolerance_s"):
        CameraSettings(pair_tolerance_s=-1.0)


def test_node_config_mirrors_the_model_loaders_constants():
    from vla_r1_model import loading
    from vla_r1_ros import node_config

    assert node_config.DEFAULT_MODEL_ID == loading.DEFAULT_MODEL_ID
    assert node_config.QUANTIZATIONS == loading.QUANTIZATIONS
