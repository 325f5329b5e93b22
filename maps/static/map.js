/* service-circles map: panes, markers, popups and panels (the project's own code).
   Leaflet itself is inlined beside this script from the xstatic-leaflet package. */
var SC = (function () {
  var api = {layers: {}, front: []};
  api.init = function (map, words, attribution) {
    window.circlesMap = map;
    api.words = words;
    if (attribution) { map.attributionControl.addAttribution(attribution); }
    // circles under gaps under facilities; circles never catch clicks
    var panes = [["sc-circles", 405, true], ["sc-gaps", 415, false], ["sc-facilities", 450, false]];
    panes.forEach(function (p) {
      var el = map.createPane(p[0]);
      el.style.zIndex = p[1];
      if (p[2]) { el.style.pointerEvents = "none"; }
    });
    api.svg = L.svg({pane: "sc-facilities"});
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
  api.decode = function (fc) {
    return {type: "FeatureCollection", features: fc.f.map(function (pf) {
      var polys = pf[1].map(function (poly) {
        return poly.map(function (ring) {
          var out = [], x = 0, y = 0;
          for (var i = 0; i < ring.length; i += 2) {
            x += ring[i]; y += ring[i + 1];
            out.push([x / fc.s, y / fc.s]);
          }
          out.push(out[0]);
          return out;
        });
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
  api.gapStyle = function (colours) {
    return function (f) {
      return {pane: "sc-gaps", color: "#3f007d", weight: 0.6, opacity: 0.7,
              fillColor: colours[f.properties.k], fillOpacity: 0.5};
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
