"""Coverage figures read off walk distances, on hand-made distances with known answers."""

import numpy as np
import pytest

from geo.coverage import layer_minutes


def test_a_home_exactly_at_the_threshold_is_covered():
    # adults walk 4.8 km/h: 10 minutes is 800 m, 15 minutes 1,200 m
    dist = np.array([0.0, 800.0, 800.001, 1200.0, np.inf])
    people = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
    got = layer_minutes(dist, people, [10, 15], 4.8)
    assert got["10"] == {"metres": 800.0, "homes": 5, "homes_covered": 2, "homes_share": 0.4,
                         "people": 31, "people_covered": 3, "people_share": round(3 / 31, 4)}
    assert got["15"]["metres"] == 1200.0
    assert (got["15"]["homes_covered"], got["15"]["people_covered"]) == (4, 15)


def test_slower_walkers_reach_fewer_homes_in_the_same_time():
    dist = np.array([100.0, 700.0, 900.0])
    got = layer_minutes(dist, np.ones(3), [10], 3.6)  # 600 m
    assert got["10"]["metres"] == 600.0 and got["10"]["homes_covered"] == 1


def test_no_homes():
    got = layer_minutes(np.zeros(0), np.zeros(0), [10], 4.8)
    assert got["10"]["homes"] == 0 and got["10"]["homes_share"] == 0.0 and got["10"]["people_share"] == 0.0


@pytest.mark.parametrize("minutes", [5, 12.5])
def test_threshold_metres_follow_minutes_and_speed(minutes):
    got = layer_minutes(np.array([0.0]), np.array([1.0]), [minutes], 4.8)
    assert list(got) == [f"{minutes:g}"]
    assert got[f"{minutes:g}"]["metres"] == round(minutes * 80.0, 1)
