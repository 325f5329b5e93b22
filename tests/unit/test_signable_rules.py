"""The OSM layer rules the package ships (data/osm_layers.toml), on the tag sets of the domain:
what each layer takes, what it leaves out, and the tier a name says (issue 13, section 2)."""

from __future__ import annotations

import pytest

from geo.osm_layers import load_rules


def _first(tags: dict):
    for rule in load_rules():
        if rule.matches(tags):
            return rule
    return None


@pytest.mark.parametrize("tags, layer, action, tier", [
    ({"name": "白马湖社区党群服务中心", "amenity": "community_centre"}, "centres", "include", "community"),
    ({"name": "长河街道党群服务中心", "office": "government"}, "centres", "include", "street"),
    ({"name": "滨江区党群服务中心"}, "centres", "include", "district"),
    ({"name": "汤家桥社区居委会", "office": "government"}, "centres", "include", "community"),
    ({"name": "杭州市西湖街道梅家坞村民委员会"}, "centres", "include", "community"),
    ({"name": "中共宁牧村委员会", "office": "government", "building": "yes"}, "centres", "include", "community"),
    ({"name": "浦沿街道办事处", "office": "government"}, "centres", "exclude", None),
    ({"name": "滨江区人民政府", "amenity": "townhall"}, "centres", "exclude", None),
    ({"name": "西兴派出所", "amenity": "police"}, "centres", "exclude", None),
    ({"name": "慈母桥村委自行车租赁点", "amenity": "bicycle_rental"}, None, None, None),
    ({"name": "闻涛社区卫生服务站", "amenity": "clinic"}, None, None, None),
    ({"name": "江滨跑道驿站"}, "stations", "include", None),
    ({"name": "菜鸟驿站", "amenity": "post_office"}, "stations", "exclude", None),
    ({"name": "城市驿站", "amenity": "toilets"}, "stations", "exclude", None),
    ({"name": "湖边驿站", "amenity": "shelter"}, "stations", "exclude", None),
    ({"name": "公交驿站", "public_transport": "platform", "amenity": "bench"}, "stations", "exclude", None),
    ({"name": "观景亭"}, None, None, None),
    ({"amenity": "charging_station", "bicycle": "yes", "name": "小区充电桩"}, "charging", "include", None),
    ({"amenity": "charging_station", "capacity:motorcycle": "20"}, "charging", "include", None),
    ({"amenity": "charging_station", "name": "电动车换电柜"}, "charging", "include", None),
    ({"amenity": "charging_station", "motorcar": "yes", "bicycle": "no", "name": "某停车场充电站"}, "charging", "exclude",
     None),
    ({"amenity": "charging_station", "brand": "Tesla Supercharger"}, "charging", "exclude", None),
    ({"amenity": "charging_station", "brand": "问界"}, "charging", "exclude", None),
    ({"amenity": "charging_station", "name": "蔚来换电站", "brand": "NIO Power"}, "charging", "exclude", None),
    ({"amenity": "charging_station", "operator": "State Grid"}, "charging", "exclude", None),
])
def test_the_shipped_rules_take_what_the_layer_names_say(tags, layer, action, tier):
    rule = _first(tags)
    if layer is None:
        assert rule is None, (tags, rule and rule.layer, rule and rule.action)
        return
    assert rule is not None and (rule.layer, rule.action) == (layer, action), tags
    if action == "include" and layer == "centres":
        assert rule.tier_of(tags.get("name", "")) == tier
    if action == "exclude":
        assert rule.note
