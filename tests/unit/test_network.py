import numpy as np
import pytest

from geo.network import csr_min, network_from_lines
from geo.osm import is_walkable
from tests.conftest import node_at


def test_hand_built_network_has_junctions_as_nodes_and_true_lengths(line_net):
    # C's middle vertex (200, 0) is geometry, not a node: 4 nodes, 3 edges
    assert line_net.n_nodes == 4
    assert line_net.n_edges == 3
    assert sorted(np.round(line_net.edge_len, 6)) == [50.0, 100.0, 200.0]
    e = int(np.flatnonzero(np.isclose(line_net.edge_len, 200))[0])
    assert len(line_net.edge_coords(e)) == 3  # the bend point is kept as geometry


def test_bent_edge_length_follows_geometry():
    net = network_from_lines([[(0, 0), (30, 40), (60, 0)]])
    assert net.n_edges == 1
    assert net.edge_len[0] == pytest.approx(100.0)


def test_snap_projects_onto_the_edge_not_the_nearest_node(line_net):
    s = line_net.snap(np.array([[160.0, 7.0], [40.0, -3.0]]), max_dist=50)
    assert s.ok.all()
    assert s.dist == pytest.approx([7.0, 3.0])
    e0 = s.edge[0]
    u = line_net.node_xy[line_net.edge_u[e0]]
    # along is measured from the edge's u end
    expected = 60.0 if u[0] == 100 else 140.0
    assert s.along[0] == pytest.approx(expected)
    assert s.xy[0] == pytest.approx([160.0, 0.0])


def test_snap_reports_points_beyond_the_limit(line_net):
    s = line_net.snap(np.array([[150.0, 400.0]]), max_dist=300)
    assert not s.ok[0] and s.edge[0] == -1


def test_csr_min_keeps_the_shorter_parallel_arc():
    g = csr_min(np.array([0, 0, 1]), np.array([1, 1, 0]), np.array([5.0, 3.0, 4.0]), 2)
    assert g[0, 1] == 3.0 and g[1, 0] == 4.0


def test_largest_component_drops_islands():
    net = network_from_lines([[(0, 0), (100, 0)], [(100, 0), (100, 100)], [(500, 500), (510, 500)]],
                             largest_component=True)
    assert net.n_edges == 2


@pytest.mark.parametrize(
    "tags, ok",
    [
        ({"highway": "footway"}, True),
        ({"highway": "steps"}, True),
        ({"highway": "residential"}, True),
        ({"highway": "service"}, True),
        ({"highway": "primary"}, True),
        ({"highway": "motorway"}, False),
        ({"highway": "motorway_link"}, False),
        ({"highway": "footway", "foot": "no"}, False),
        ({"highway": "service", "access": "private"}, False),
        ({"highway": "service", "access": "private", "foot": "yes"}, True),
        ({"highway": "cycleway"}, False),
        ({"highway": "cycleway", "foot": "designated"}, True),
        ({"highway": "primary", "sidewalk": "no"}, False),
        ({"highway": "trunk", "motorroad": "yes"}, False),
        ({"highway": "construction"}, False),
        ({"highway": "trunk", "tunnel": "yes"}, False),
        ({"highway": "primary", "tunnel": "yes", "sidewalk": "both"}, True),
        ({"highway": "footway", "tunnel": "yes"}, True),
        ({"highway": "pedestrian", "area": "yes"}, False),
        ({"building": "yes"}, False),
    ],
)
def test_walk_filter(tags, ok):
    assert is_walkable(tags) is ok


def test_node_at_helper(line_net):
    assert tuple(line_net.node_xy[node_at(line_net, 300, 0)]) == (300.0, 0.0)
