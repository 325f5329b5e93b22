/* service-circles scenario map: edits, areas that gain or lose, a before/after switch.
   Works beside map.js (SC): the circle groups are found through SC.layers. */
var SCN = (function () {
  var api = {};
  api.init = function (map) {
    [["scn-areas", 420], ["scn-edits", 460]].forEach(function (p) {
      var el = map.createPane(p[0]);
      el.style.zIndex = p[1];
    });
  };
  api.editStyle = function (f) {
    var p = f.properties;
    return {pane: "scn-edits", color: p.c, weight: p.w, opacity: 0.95, dashArray: p.d || null,
            fill: !!p.fill, fillColor: p.c, fillOpacity: 0.15, lineCap: "round"};
  };
  api.editPoint = function (f, latlng) {
    var p = f.properties;
    return L.circleMarker(latlng, {pane: "scn-edits", radius: 10, color: "#111111", weight: 3,
                                   fillColor: p.x ? "#ffffff" : p.c, fillOpacity: 0.95,
                                   dashArray: p.x ? "3 3" : null});
  };
  api.areaStyle = function (f) {
    var gain = f.properties.k === "gain";
    return {pane: "scn-areas", color: gain ? "#1a9850" : "#d73027", weight: 1.5, opacity: 0.9,
            fillColor: gain ? "#1a9850" : "#d73027", fillOpacity: 0.35};
  };
  api.homeDot = function (f, latlng) {
    var gain = f.properties.k === "gain";
    return L.circleMarker(latlng, {pane: "scn-areas", radius: 3, weight: 1, color: "#ffffff",
                                   fillColor: gain ? "#006837" : "#a50026", fillOpacity: 1});
  };
  api.bind = function (f, layer) {
    var p = f.properties;
    if (p.tip) { layer.bindTooltip(p.tip, {sticky: true}); }
    if (p.popup) { layer.bindPopup(p.popup, {maxWidth: 320}); }
  };
  function groupOf(key) {
    var l = SC.layers[key];
    if (!l || !l._eventParents) { return null; }
    for (var k in l._eventParents) { return l._eventParents[k]; }
    return null;
  }
  // pairs: [[after circle key, before outline key], ...]; modes: before, after, both
  api.toggle = function (map, pairs, words) {
    var found = pairs.map(function (p) { return [groupOf(p[0]), groupOf(p[1])]; })
                     .filter(function (g) { return g[0] && g[1]; });
    var c = L.control({position: "topleft"});
    var buttons = {};
    function set(mode) {
      found.forEach(function (g) {
        var on = map.hasLayer(g[0]) || map.hasLayer(g[1]);
        if (!on) { return; }
        if (mode === "before") { map.removeLayer(g[0]); map.addLayer(g[1]); }
        else if (mode === "after") { map.addLayer(g[0]); map.removeLayer(g[1]); }
        else { map.addLayer(g[0]); map.addLayer(g[1]); }
      });
      for (var k in buttons) { buttons[k].className = "scn-btn" + (k === mode ? " scn-on" : ""); }
      api.mode = mode;
    }
    c.onAdd = function () {
      var d = L.DomUtil.create("div", "sc-panel scn-toggle");
      d.style.cssText = "padding:4px 6px;font:13px sans-serif";
      var label = L.DomUtil.create("span", "", d);
      label.textContent = words.show + ": ";
      ["before", "after", "both"].forEach(function (mode) {
        var b = L.DomUtil.create("button", "scn-btn", d);
        b.type = "button";
        b.textContent = words[mode];
        b.setAttribute("data-mode", mode);
        b.style.cssText = "margin-left:3px;cursor:pointer";
        L.DomEvent.on(b, "click", function (e) { L.DomEvent.stop(e); set(mode); });
        buttons[mode] = b;
      });
      L.DomEvent.disableClickPropagation(d);
      return d;
    };
    c.addTo(map);
    var style = document.createElement("style");
    style.textContent = ".scn-btn{border:1px solid #888;background:#fff;border-radius:3px;padding:1px 6px}" +
                        ".scn-btn.scn-on{background:#333;color:#fff;border-color:#333}";
    document.head.appendChild(style);
    set("both");
    api.set = set;
  };
  return api;
})();
