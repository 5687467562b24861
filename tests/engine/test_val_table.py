"""The printed validation table: every column header stands apart, and each value sits under its header."""

from __future__ import annotations

import pytest

from focalyolo.tasks.detect.evaluator import format_table
from focalyolo.tasks.pose.evaluator import PoseEvaluator
from focalyolo.tasks.segment.evaluator import SegmentEvaluator

KEYS = ("precision", "recall", "mAP50", "mAP50-95")


def _results(kinds: tuple[str, ...]) -> dict:
    """Figures with two classes, value 0.1 * (column number) so a column can be found by its value."""
    columns = [f"metrics/{key}({k})" for k in kinds for key in KEYS]
    metrics = {name: 0.1 * (i + 1) for i, name in enumerate(columns)}
    row = {"images": 3, "instances": 4, **{(key if k == "B" else f"{key}({k})"): 0.5 for k in kinds for key in KEYS}}
    return {**metrics, "per_class": [{"name": "a", **row}, {"name": "b", **row}],
            "speed": {"preprocess": 1.0, "inference": 2.0, "postprocess": 3.0}}


@pytest.mark.parametrize("kinds", [SegmentEvaluator.kinds, PoseEvaluator.kinds], ids=["segment", "pose"])
def test_headers_of_segment_and_pose_tables_stand_apart(kinds):
    header, everything = format_table(_results(kinds), 3, kinds).splitlines()[:2]
    expected = [f"{c}({k})" for k in kinds for c in ("P", "R", "mAP50", "mAP50-95")]
    assert header.split() == ["class", "images", "instances", *expected]
    values = everything.split()[3:]
    assert values == [f"{0.1 * (i + 1):.3f}" for i in range(len(expected))]
    for name, value in zip(expected, values):  # right-aligned: each value ends where its header ends
        assert header.index(f" {name}") + len(name) == everything.index(f" {value}") + len(value), name


def test_the_box_table_keeps_its_columns():
    header = format_table(_results(("B",)), 3).splitlines()[0]
    assert header.split() == ["class", "images", "instances", "P", "R", "mAP50", "mAP50-95"]
    assert len(header) == 20 + 11 * 6
