// The attention report's interactive views (report_html.py inlines this after plotly.js).
// Reads the JSON block #report-data: meshes once, then one colour index per vertex per map.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var CAMERAS = {
    dorsal: {eye: {x: 0, y: 0, z: 1.9}, up: {x: 0, y: 1, z: 0}},
    ventral: {eye: {x: 0, y: 0, z: -1.9}, up: {x: 0, y: 1, z: 0}},
    posterior: {eye: {x: 0, y: -1.9, z: 0.2}, up: {x: 0, y: 0, z: 1}},
    anterior: {eye: {x: 0, y: 1.9, z: 0.2}, up: {x: 0, y: 0, z: 1}}
  };
  var CONFIG = {displaylogo: false, responsive: true, showLink: false, sendData: false,
                modeBarButtonsToRemove: ["sendDataToCloud"]};
  var ALL = "(all windows)";

  function bytes(b64) {
    var text = atob(b64), out = new Uint8Array(text.length);
    for (var i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
    return out;
  }
  function typed(b64, Type) { return new Type(bytes(b64).buffer); }

  function decodeSurface(surface) {
    var xyz = typed(surface.xyz, Float32Array);
    var faces = typed(surface.faces, surface.face_dtype === "uint16" ? Uint16Array : Uint32Array);
    var n = surface.n_vertices, t = faces.length / 3;
    var x = new Array(n), y = new Array(n), z = new Array(n), i = new Array(t), j = new Array(t), k = new Array(t);
    for (var v = 0; v < n; v++) { x[v] = xyz[3 * v]; y[v] = xyz[3 * v + 1]; z[v] = xyz[3 * v + 2]; }
    for (var f = 0; f < t; f++) { i[f] = faces[3 * f]; j[f] = faces[3 * f + 1]; k[f] = faces[3 * f + 2]; }
    var shade = bytes(surface.shade), grey = new Array(n);
    for (v = 0; v < n; v++) grey[v] = "rgb(" + shade[v] + "," + shade[v] + "," + shade[v] + ")";
    return {x: x, y: y, z: z, i: i, j: j, k: k, grey: grey};
  }

  function vertexColours(mesh, map, name) {
    if (!map) return mesh.grey;
    var codes = bytes(map.values[name]), table = data.colours[map.signed ? "signed" : "sequential"];
    var out = new Array(codes.length);
    for (var v = 0; v < codes.length; v++) out[v] = codes[v] === data.nan_code ? mesh.grey[v] : table[codes[v]];
    return out;
  }

  function fmt(value) { return Number(value).toPrecision(3); }

  function setColourbar(div, map) {
    var bar = div.parentNode.querySelector(".colourbar");
    var ramp = bar.querySelector(".ramp");
    if (!map) { ramp.style.background = "#ccc"; bar.querySelector(".vmin").textContent = ""; bar.querySelector(".vmax").textContent = ""; return; }
    var table = data.colours[map.signed ? "signed" : "sequential"], stops = [];
    for (var s = 0; s < table.length; s += 16) stops.push(table[s]);
    stops.push(table[table.length - 1]);
    ramp.style.background = "linear-gradient(to right, " + stops.join(", ") + ")";
    bar.querySelector(".vmin").textContent = fmt(map.vmin);
    bar.querySelector(".vmax").textContent = fmt(map.vmax);
  }

  // The dropdowns: every value any map has; a combination without a map is drawn grey.
  var selects = {
    stage: document.getElementById("select-stage"),
    layer: document.getElementById("select-layer"),
    measure: document.getElementById("select-measure"),
    category: document.getElementById("select-category")
  };
  function label(map, field) { return field === "category" && map[field] === null ? ALL : String(map[field]); }
  Object.keys(selects).forEach(function (field) {
    var seen = [];
    data.maps.forEach(function (map) { if (seen.indexOf(label(map, field)) < 0) seen.push(label(map, field)); });
    seen.forEach(function (value) {
      var option = document.createElement("option");
      option.value = value; option.textContent = value;  // textContent: names are untrusted text
      selects[field].appendChild(option);
    });
  });
  function chosen() {
    return data.maps.filter(function (map) {
      return Object.keys(selects).every(function (field) { return label(map, field) === selects[field].value; });
    })[0] || null;
  }
  function status(map) {
    var box = document.getElementById("map-status");
    box.textContent = map
      ? map.key + " — " + map.n_windows + " windows — " + (map.category ? "category minus the other windows" : "all selected windows") + (map.signed ? " (signed)" : "")
      : "No map for this combination (drawn grey).";
  }

  var views = [];
  data.surfaces.forEach(function (surface) {
    var div = document.getElementById("view-" + surface.name);
    var mesh = decodeSurface(surface);
    views.push({div: div, mesh: mesh, name: surface.name});
  });

  function redraw() {
    var map = chosen();
    status(map);
    views.forEach(function (view) {
      Plotly.restyle(view.div, {vertexcolor: [vertexColours(view.mesh, map, view.name)]}, [0]);
      setColourbar(view.div, map);
    });
  }

  if (data.maps.length) {
    Object.keys(selects).forEach(function (field) { selects[field].value = label(data.maps[0], field); });
  }
  var first = data.maps.length ? data.maps[0] : null;
  status(first);
  var drawn = views.map(function (view) {
    var trace = {
      type: "mesh3d", x: view.mesh.x, y: view.mesh.y, z: view.mesh.z,
      i: view.mesh.i, j: view.mesh.j, k: view.mesh.k,
      vertexcolor: vertexColours(view.mesh, first, view.name), hoverinfo: "skip",
      lighting: {ambient: 0.6, diffuse: 0.6, specular: 0.05, roughness: 0.9, fresnel: 0.1}, flatshading: false
    };
    var axis = {visible: false, showspikes: false};
    var layout = {
      margin: {l: 0, r: 0, t: 0, b: 0}, paper_bgcolor: "#fff",
      scene: {xaxis: axis, yaxis: axis, zaxis: axis, aspectmode: "data", camera: CAMERAS.posterior}
    };
    setColourbar(view.div, first);
    return Plotly.newPlot(view.div, [trace], layout, CONFIG).then(function () { view.div.dataset.ready = "1"; });
  });
  Promise.all(drawn).then(function () {
    Object.keys(selects).forEach(function (field) { selects[field].addEventListener("change", redraw); });
    document.getElementById("select-camera").addEventListener("change", function (event) {
      views.forEach(function (view) { Plotly.relayout(view.div, {"scene.camera": CAMERAS[event.target.value]}); });
    });
    document.body.dataset.viewsReady = "1";
  });
})();
