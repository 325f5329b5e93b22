/* service-circles map: panes, markers, popups and panels (the project's own code).
   Leaflet itself is inlined beside this script from the xstatic-leaflet package. */
var SC = (function () {
  var api = {layers: {}, front: []};
  api.init = function (map, words, attribution) {
    window.circlesMap = map;
    api.words = words;
    if (attribution) { map.attributionControl.addAttribution(attribution); }
    L.control.scale({imperial: false, metric: true}).addTo(map);
    // the extract's own base map under the tiles (seen where there are none), its names above it;
    // circles under gaps under facilities; base, names and circles never catch clicks
    var panes = [["sc-base", 150, true], ["sc-labels", 160, true], ["sc-outline", 395, true],
                 ["sc-circles", 405, true], ["sc-gaps", 415, false], ["sc-clusters", 440, false],
                 ["sc-facilities", 450, false], ["sc-sites", 460, false]];
    panes.forEach(function (p) {
      var el = map.createPane(p[0]);
      el.style.zIndex = p[1];
      if (p[2]) { el.style.pointerEvents = "none"; }
    });
    api.svg = L.svg({pane: "sc-facilities"});
    api.baseRenderer = L.canvas({pane: "sc-base", padding: 0.3});
  };
  // ---- the base map drawn from the extract (maps/basemap.py)
  api.BASE_STYLE = {
    "green": {stroke: false, fillColor: "#d3e6cc", fillOpacity: 1},
    "water": {stroke: false, fillColor: "#b4d2ea", fillOpacity: 1},
    "waterways": {color: "#9dc2e3", weight: 2, opacity: 1},
    "admin.6": {color: "#888888", weight: 2, opacity: 0.7, dashArray: "10 4 2 4"},
    "admin.8": {color: "#9a9a9a", weight: 1.2, opacity: 0.8, dashArray: "5 4"},
    "streets.minor": {color: "#d6cfc4", weight: 1.4, opacity: 1},
    "streets.major": {color: "#bfb3a2", weight: 2.8, opacity: 1}
  };
  // the zoom from which each label class shows (maps/basemap.py LABEL_CLASSES:
  // major street, minor street, water, river/canal, park, street office)
  api.LABEL_ZOOM = [14, 16, 13, 14, 15, 12];
  api.base = function (key, group, kind, fc) {
    var style = L.extend({interactive: false}, api.BASE_STYLE[kind] || {color: "#bbbbbb", weight: 1});
    var layer = L.geoJSON(api.decode(fc), {pane: "sc-base", renderer: api.baseRenderer, interactive: false,
                                           style: function () { return style; }});
    api.add(key, group, layer, false);
  };
  api.outline = function (key, group, fc) {
    var layer = L.geoJSON(api.decode(fc), {pane: "sc-outline", interactive: false,
      style: function () { return {color: "#333333", weight: 2.5, opacity: 0.85, dashArray: "9 5", fill: false}; }});
    api.add(key, group, layer, false);
  };
  // names of streets, rivers, parks and street offices, turned with their line, from their zoom on
  api.labels = function (key, map, group, data) {
    var layer = L.layerGroup();
    function update() {
      layer.clearLayers();
      var z = map.getZoom(), b = map.getBounds().pad(0.25);
      data.p.forEach(function (p) {
        if (z < api.LABEL_ZOOM[p[4]]) { return; }
        var ll = L.latLng(p[1] / data.s, p[0] / data.s);
        if (!b.contains(ll)) { return; }
        var deg = Number(p[2]) || 0;  // a number only: it goes into the label's style
        var turn = deg ? " rotate(" + deg + "deg)" : "";
        L.marker(ll, {pane: "sc-labels", interactive: false, keyboard: false, icon: L.divIcon({
          className: "sc-label sc-label-" + (Number(p[4]) | 0), iconSize: null,
          html: '<span style="transform:translate(-50%,-50%)' + turn + '">' + api.esc(data.n[p[3]]) + "</span>"})
        }).addTo(layer);
      });
    }
    map.on("zoomend moveend", update);
    api.add(key, group, layer, false);
    update();
  };
  // ---- dense facility layers grouped at low zoom (Leaflet.markercluster, when installed)
  if (L.CircleMarker && !L.CircleMarker.prototype.clusterHide) {
    L.CircleMarker.include({
      clusterHide: function () { if (this._path) { this._path.style.display = "none"; } return this; },
      clusterShow: function () { if (this._path) { this._path.style.display = ""; } return this; }
    });
  }
  api.cluster = function (layer, colour) {
    if (!L.markerClusterGroup) { return layer; }
    var group = L.markerClusterGroup({
      maxClusterRadius: 45, disableClusteringAtZoom: 16, showCoverageOnHover: false, spiderfyOnMaxZoom: false,
      animate: false, clusterPane: "sc-clusters",
      iconCreateFunction: function (c) {
        var n = c.getChildCount(), size = n < 10 ? 26 : (n < 100 ? 32 : 38);
        return L.divIcon({className: "marker-cluster sc-cluster", iconSize: [size, size],
                          html: '<div style="background:' + colour + '"><span>' + n + "</span></div>"});
      }
    });
    group.addLayers(layer.getLayers());
    group.points = layer;
    return group;
  };
  // ---- proposed sites, numbered by people gained
  api.siteMarker = function (f, latlng) {
    var p = f.properties;
    return L.marker(latlng, {pane: "sc-sites", icon: L.divIcon({className: "sc-site", iconSize: [24, 24],
      html: '<span style="border-color:' + p.c + '">' + p.n + "</span>"})});
  };
  api.facilityMarker = function (f, latlng) {
    var s = f.properties.s;
    return L.circleMarker(latlng, {
      radius: s.r, color: s.c, weight: s.w, fillColor: s.f, fillOpacity: s.o, opacity: 1,
      pane: "sc-facilities", renderer: api.svg
    });
  };
  api.bind = function (f, layer) {
    var p = f.properties;
    if (p.popup) { layer.bindPopup(p.popup, {maxWidth: 380}); }
    if (p.tip) { layer.bindTooltip(p.tip, {direction: "top", offset: [0, -4]}); }
  };
  // compact polygons from maps/display.py encode_polygons: {"s": scale, "f": [[props, polys], ...]},
  // each ring [x0, y0, dx1, dy1, ...] in 1/scale degrees
  // lines (maps/display.py encode_lines, "t": "l"): {"s", "t", "f": [[props, [line, ...]], ...]}
  api.decode = function (fc) {
    function path(flat, close) {
      var out = [], x = 0, y = 0;
      for (var i = 0; i < flat.length; i += 2) {
        x += flat[i]; y += flat[i + 1];
        out.push([x / fc.s, y / fc.s]);
      }
      if (close) { out.push(out[0]); }
      return out;
    }
    return {type: "FeatureCollection", features: fc.f.map(function (pf) {
      if (fc.t === "l") {
        return {type: "Feature", properties: pf[0], geometry: {type: "MultiLineString",
                coordinates: pf[1].map(function (line) { return path(line, false); })}};
      }
      var polys = pf[1].map(function (poly) {
        return poly.map(function (ring) { return path(ring, true); });
      });
      return {type: "Feature", properties: pf[0], geometry: {type: "MultiPolygon", coordinates: polys}};
    })};
  };
  api.esc = function (s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c];
    });
  };
  api.num = function (x) { return Math.round(x).toLocaleString("en-US"); };
  // gap popups are built here from compact properties (k class, r rank, h homes, p people,
  // n nearest facility, w walk minutes, s street, c community): thousands of areas stay light
  api.gapBind = function (title) {
    return function (f, layer) {
      var p = f.properties, W = api.words, rows = [];
      function row(k, v) { rows.push("<tr><th>" + api.esc(W[k]) + "</th><td>" + v + "</td></tr>"); }
      row("homes", api.num(p.h));
      row("people", "\u2248" + api.num(p.p));
      if (p.n === null || p.n === undefined) {
        row("nearest", api.esc(W.unreachable));
      } else {
        var walk = (p.w === null || p.w === undefined) ? W.unreachable : W.walk.replace("{min}", p.w);
        row("nearest", api.esc(p.n) + " \u00b7 " + api.esc(walk));
      }
      if (p.s) { row("street", api.esc(p.s)); }
      if (p.c) { row("community", api.esc(p.c)); }
      layer.bindPopup('<div class="sc-pop"><div class="sc-name">' + api.esc(title.replace("{rank}", p.r)) +
                      "</div><table>" + rows.join("") + "</table></div>", {maxWidth: 380});
    };
  };
  // s: the look maps/content.py gives gap areas (and their legend swatches): colours per class, edge
  api.gapStyle = function (s) {
    return function (f) {
      return {pane: "sc-gaps", color: s.edge, weight: 0.6, opacity: s.edgeOpacity,
              fillColor: s.colours[f.properties.k], fillOpacity: s.fillOpacity};
    };
  };
  api.add = function (key, group, layer, front) {
    layer.addTo(group);
    api.layers[key] = layer;
    if (front) { api.front.push(group); }
  };
  api.panel = function (map, position, cls, html) {
    var c = L.control({position: position});
    c.onAdd = function () {
      var d = L.DomUtil.create("div", "sc-panel " + cls);
      d.innerHTML = html;
      L.DomEvent.disableClickPropagation(d);
      L.DomEvent.disableScrollPropagation(d);
      return d;
    };
    c.addTo(map);
    return c;
  };
  return api;
})();
