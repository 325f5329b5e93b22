import numpy as np
import pytest

from geo.circles import metres_for, multi_source, point_distances
from tests.conftest import node_at


def test_speed_conversion():
    assert metres_for(10, 4.8) == pytest.approx(800.0)
    assert metres_for(15, 3.6) == pytest.approx(900.0)


def test_facility_mid_edge_reaches_both_ends(line_net):
    # a facility 60 m from B on the B-C street (at x=160)
    fac = line_net.snap(np.array([[160.0, 0.0]]), max_dist=10)
    r = multi_source(line_net, fac)
    d = {name: r.dist[node_at(line_net, *xy)] for name, xy in
         {"A": (0, 0), "B": (100, 0), "C": (300, 0), "D": (100, 50)}.items()}
    assert d == pytest.approx({"A": 160.0, "B": 60.0, "C": 140.0, "D": 110.0})
    assert (r.source == 0).all()


def test_nearest_of_two_facilities(line_net):
    fac = line_net.snap(np.array([[10.0, 0.0], [290.0, 0.0]]), max_dist=10)
    r = multi_source(line_net, fac)
    assert r.source[node_at(line_net, 100, 0)] == 0  # B: 90 m from f0, 190 m from f1
    assert r.dist[node_at(line_net, 100, 50)] == pytest.approx(140.0)
    assert r.source[node_at(line_net, 300, 0)] == 1


def test_unsnapped_facility_takes_no_part(line_net):
    fac = line_net.snap(np.array([[10.0, 0.0], [5000.0, 0.0]]), max_dist=10)
    r = multi_source(line_net, fac)
    assert set(np.unique(r.source)) == {0}


def test_points_on_edges_use_the_best_end_or_the_same_edge(line_net):
    fac = line_net.snap(np.array([[160.0, 0.0]]), max_dist=10)
    r = multi_source(line_net, fac)
    homes = line_net.snap(np.array([[180.0, 5.0], [100.0, 40.0], [20.0, 0.0]]), max_dist=10)
    d, src = point_distances(line_net, r, homes)
    # same edge: 20 m straight along it; spur: 60 + 40; A-B edge: 60 + 80
    assert d == pytest.approx([20.0, 100.0, 140.0])
    assert list(src) == [0, 0, 0]


def test_thresholds_read_off_distances(line_net):
    fac = line_net.snap(np.array([[160.0, 0.0]]), max_dist=10)
    r = multi_source(line_net, fac)
    homes = line_net.snap(np.array([[180.0, 0.0], [100.0, 40.0], [20.0, 0.0]]), max_dist=10)
    d, _ = point_distances(line_net, r, homes)
    speed = 0.6  # km/h: 10 m per minute, so minutes = metres / 10
    assert list(d <= metres_for(10, speed)) == [True, True, False]
    assert list(d <= metres_for(15, speed)) == [True, True, True]


def test_no_facility_means_nothing_reached(line_net):
    fac = line_net.snap(np.zeros((0, 2)), max_dist=10)
    r = multi_source(line_net, fac)
    assert np.isinf(r.dist).all() and (r.source == -1).all()


def test_route_goes_back_to_the_facility_edge(line_net):
    fac = line_net.snap(np.array([[160.0, 0.0]]), max_dist=10)
    r = multi_source(line_net, fac)
    a, b = node_at(line_net, 0, 0), node_at(line_net, 100, 0)
    assert r.route_nodes(a) == [a, b]
