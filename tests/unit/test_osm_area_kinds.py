"""geo.osm._area_kinds (each tag looked up once) gives what its plain reading gives."""

import itertools

from geo.osm import GREEN, POI_KEYS, _area_kinds


def plain_kinds(tags):
    """The rule as written before: every condition on its own."""
    kinds = []
    if "building" in tags and tags["building"] != "no":
        kinds.append("building")
    if tags.get("landuse") == "residential":
        kinds.append("landuse")
    if tags.get("boundary") == "administrative" and "name" in tags:
        kinds.append("admin")
    if any(k in tags for k in POI_KEYS) and ("name" in tags or "amenity" in tags):
        kinds.append("poi")
    if (
        tags.get("natural") == "water"
        or tags.get("waterway") == "riverbank"
        or tags.get("landuse") in ("reservoir", "basin")
    ):
        kinds.append("water")
    elif any(tags.get(k) in v for k, v in GREEN.items()):
        kinds.append("green")
    return kinds


VALUES = {
    "building": (None, "yes", "no", "residential"),
    "landuse": (None, "residential", "reservoir", "forest", "retail"),
    "boundary": (None, "administrative", "postal_code"),
    "name": (None, "某某"),
    "amenity": (None, "school"),
    "shop": (None, "supermarket"),
    "natural": (None, "water", "wood", "scrub"),
    "waterway": (None, "riverbank", "canal"),
    "leisure": (None, "park", "pitch"),
}


def test_area_kinds_agree_with_the_plain_rule_on_every_combination():
    keys = list(VALUES)
    n = 0
    for combo in itertools.product(*(VALUES[k] for k in keys)):
        tags = {k: v for k, v in zip(keys, combo, strict=True) if v is not None}
        assert _area_kinds(tags) == plain_kinds(tags), tags
        n += 1
    assert n == 4 * 5 * 3 * 2 * 2 * 2 * 4 * 3 * 3
    assert _area_kinds({"building": "yes", "amenity": "community_centre", "name": "x"}) == ["building", "poi"]
    assert _area_kinds({"leisure": "park", "name": "x"}) == ["poi", "green"]
