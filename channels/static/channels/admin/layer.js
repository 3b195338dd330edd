/*
 * The live layer page in Django's admin (channels/admin.py, docs/operating.rst).
 *
 * Every refresh it fetches one snapshot from the page's JSON endpoint, redraws
 * the tables, and appends to a ring buffer kept here in the browser (the
 * endpoint keeps no state): the depth of each channel, and the messages
 * handled per second by each kind of process, from the deltas of the
 * processes' "handled" counters over the last 15 s. The last five minutes are drawn as inline
 * SVG sparklines. A failed fetch shows its error and the page keeps trying.
 * Plain JavaScript, no libraries. The number formats match
 * channels/_layer_page.py.
 */
(function () {
  "use strict";

  var WINDOW_SECONDS = 300;
  // A fresh page spreads its first minute over the whole width, then the
  // sparklines scroll once five minutes are recorded.
  var MIN_SPAN_SECONDS = 60;
  // Processes publish their "handled" counter with each heartbeat renewal
  // (every 5 s by default), not at each refresh: a rate taken between two
  // refreshes would jump between 0 and double. It is taken over the
  // samples of the last 15 s instead (three renewals).
  var RATE_SECONDS = 15;
  var SVG = "http://www.w3.org/2000/svg";

  function formatSeconds(seconds) {
    if (seconds === null || seconds === undefined) return "-";
    if (seconds < 0.001) return (seconds * 1000).toFixed(2) + " ms";
    if (seconds < 0.01) return (seconds * 1000).toFixed(1) + " ms";
    if (seconds < 1) return (seconds * 1000).toFixed(0) + " ms";
    if (seconds < 60) return seconds.toFixed(1) + " s";
    if (seconds < 3600) return (seconds / 60).toFixed(1) + " min";
    return (seconds / 3600).toFixed(1) + " h";
  }

  function formatPercent(percent) {
    if (percent === null || percent === undefined) return "-";
    return percent.toFixed(0) + " %";
  }

  function formatRate(rate) {
    if (rate === null || rate === undefined) return "-";
    return rate < 10 ? rate.toFixed(1) : rate.toFixed(0);
  }

  /* A series of [time, value] points covering the last WINDOW_SECONDS. */
  function Series() {
    this.points = [];
  }
  Series.prototype.push = function (time, value) {
    this.points.push([time, value]);
    while (this.points.length && this.points[0][0] < time - WINDOW_SECONDS) {
      this.points.shift();
    }
  };
  Series.prototype.allZero = function () {
    return this.points.every(function (point) { return point[1] === 0; });
  };

  /* What the browser remembers between refreshes. */
  var ring = {
    depth: {},      // channel -> Series
    throughput: {}, // kind -> Series
    handled: {},    // process id -> [[time, handled], ...] over RATE_SECONDS
    rates: {},      // process id -> messages per second at the last refresh
    now: 0,
    start: 0        // time of the first snapshot drawn
  };

  function record(snapshot) {
    var now = snapshot.time;
    var previousTime = ring.now;
    ring.now = now;
    if (!ring.start) ring.start = now;
    var seen = {};
    snapshot.channels.forEach(function (row) {
      seen[row.channel] = true;
      if (!ring.depth[row.channel]) ring.depth[row.channel] = new Series();
      ring.depth[row.channel].push(now, row.depth);
    });
    // A channel that emptied is no longer listed: it reads 0 until its
    // sparkline has shown zero for the whole window.
    Object.keys(ring.depth).forEach(function (name) {
      if (seen[name]) return;
      var series = ring.depth[name];
      series.push(now, 0);
      if (series.allZero() && series.points[0][0] <= now - WINDOW_SECONDS + 5) {
        delete ring.depth[name];
      }
    });
    var byKind = {};
    var handled = {};
    var rates = {};
    snapshot.processes.forEach(function (process) {
      var kind = byKind[process.kind] || (byKind[process.kind] = { count: 0, rate: null });
      kind.count += 1;
      var samples = (ring.handled[process.id] || []).filter(function (sample) {
        return sample[0] >= now - RATE_SECONDS && sample[1] <= process.handled;
      });
      samples.push([now, process.handled]);
      handled[process.id] = samples;
      var first = samples[0];
      if (now > first[0]) {
        rates[process.id] = (process.handled - first[1]) / (now - first[0]);
        kind.rate = (kind.rate || 0) + rates[process.id];
      }
    });
    ring.handled = handled;
    ring.rates = rates;
    if (previousTime) {
      Object.keys(byKind).forEach(function (name) {
        if (!ring.throughput[name]) ring.throughput[name] = new Series();
        ring.throughput[name].push(now, byKind[name].rate || 0);
      });
    }
    return byKind;
  }

  function sparkline(series, now) {
    var width = 120, height = 24;
    var svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("class", "spark");
    svg.setAttribute("viewBox", "0 0 " + width + " " + height);
    svg.setAttribute("preserveAspectRatio", "none");
    svg.setAttribute("width", width);
    svg.setAttribute("height", height);
    var points = series ? series.points : [];
    var max = 1;
    points.forEach(function (point) { if (point[1] > max) max = point[1]; });
    var span = Math.min(WINDOW_SECONDS, Math.max(MIN_SPAN_SECONDS, now - ring.start));
    var coordinates = points.map(function (point) {
      var x = width - ((now - point[0]) / span) * width;
      var y = height - 1 - (point[1] / max) * (height - 2);
      return x.toFixed(1) + "," + y.toFixed(1);
    });
    var line = document.createElementNS(SVG, "polyline");
    line.setAttribute("points", coordinates.join(" "));
    svg.appendChild(line);
    svg.setAttribute("data-points", String(points.length));
    svg.setAttribute("data-max", String(max));
    var title = document.createElementNS(SVG, "title");
    title.textContent = "max " + max + " over the last " + WINDOW_SECONDS / 60 + " min";
    svg.appendChild(title);
    return svg;
  }

  function cell(tag, text, className) {
    var element = document.createElement(tag);
    if (text !== undefined && text !== null) element.textContent = String(text);
    if (className) element.className = className;
    return element;
  }

  function fill(tableId, rows, columns, emptyText, build) {
    var table = document.getElementById(tableId);
    if (!table) return;
    var body = table.tBodies[0];
    var fresh = document.createElement("tbody");
    if (!rows.length) {
      var empty = fresh.insertRow();
      empty.className = "empty";
      var only = cell("td", emptyText);
      only.colSpan = columns;
      empty.appendChild(only);
    }
    rows.forEach(function (row) { fresh.appendChild(build(row)); });
    table.replaceChild(fresh, body);
  }

  function drawChannels(snapshot) {
    fill("lp-channels", snapshot.channels, 6, "No channel has waiting messages.", function (row) {
      var tr = document.createElement("tr");
      tr.setAttribute("data-channel", row.channel);
      var name = cell("th", row.channel, "name");
      name.scope = "row";
      if (row.unconsumed) {
        tr.className = "unconsumed";
        name.appendChild(document.createTextNode(" "));
        name.appendChild(cell("span", "no consumer", "badge"));
      }
      tr.appendChild(name);
      tr.appendChild(cell("td", row.depth, "num depth"));
      tr.appendChild(cell("td", row.capacity, "num capacity"));
      tr.appendChild(cell("td", formatPercent(row.usage), "num use"));
      tr.appendChild(cell("td", formatSeconds(row.oldest_age), "num oldest"));
      var spark = cell("td", null, "spark-cell");
      spark.appendChild(sparkline(ring.depth[row.channel], snapshot.time));
      tr.appendChild(spark);
      return tr;
    });
    var note = document.getElementById("lp-unconsumed");
    if (note) {
      note.hidden = !snapshot.unconsumed.length;
      note.querySelector(".names").textContent = snapshot.unconsumed.join(", ");
    }
  }

  function drawThroughput(snapshot, byKind) {
    var kinds = Object.keys(byKind).sort();
    fill("lp-throughput", kinds, 4, "No live process has sent a heartbeat.", function (kind) {
      var tr = document.createElement("tr");
      tr.setAttribute("data-kind", kind);
      tr.appendChild(cell("td", kind, "kind"));
      tr.appendChild(cell("td", byKind[kind].count, "num count"));
      tr.appendChild(cell("td", formatRate(byKind[kind].rate), "num rate"));
      var spark = cell("td", null, "spark-cell");
      spark.appendChild(sparkline(ring.throughput[kind], snapshot.time));
      tr.appendChild(spark);
      return tr;
    });
  }

  function drawProcesses(snapshot) {
    fill("lp-processes", snapshot.processes, 9, "No live process has sent a heartbeat.", function (p) {
      var tr = document.createElement("tr");
      tr.setAttribute("data-process", p.id);
      tr.appendChild(cell("td", p.kind, "kind"));
      tr.appendChild(cell("td", p.host, "host"));
      tr.appendChild(cell("td", p.pid, "num pid"));
      var consumed = cell("td", (p.channels || []).join(", "), "channels");
      consumed.title = consumed.textContent; // the cell shows the start of a long list
      tr.appendChild(consumed);
      tr.appendChild(cell("td", p.handled, "num handled"));
      tr.appendChild(cell("td", formatRate(ring.rates[p.id]), "num rate"));
      tr.appendChild(cell("td", formatSeconds(p.idle), "num idle"));
      tr.appendChild(cell("td", formatSeconds(p.uptime), "num uptime"));
      tr.appendChild(cell("td", p.version, "version"));
      return tr;
    });
  }

  function drawGroups(snapshot) {
    var table = document.getElementById("lp-groups");
    var members = table && table.tHead.rows[0].cells.length > 2;
    fill("lp-groups", snapshot.groups, members ? 3 : 2, "No groups.", function (group) {
      var tr = document.createElement("tr");
      tr.setAttribute("data-group", group.group);
      var name = cell("th", group.group, "name");
      name.scope = "row";
      tr.appendChild(name);
      tr.appendChild(cell("td", group.size, "num size"));
      if (members) tr.appendChild(cell("td", (group.members || []).join(", "), "members"));
      return tr;
    });
  }

  function drawShards(snapshot) {
    fill("lp-shards", snapshot.shards, 3, "No shards.", function (shard) {
      var tr = document.createElement("tr");
      tr.setAttribute("data-shard", shard.shard);
      if (!shard.reachable) tr.className = "down";
      var name = cell("th", shard.shard, "name");
      name.scope = "row";
      tr.appendChild(name);
      tr.appendChild(cell("td", shard.reachable ? "yes" : "no", "reachable"));
      tr.appendChild(cell("td", formatSeconds(shard.latency), "num latency"));
      return tr;
    });
  }

  function draw(snapshot) {
    var byKind = record(snapshot);
    drawChannels(snapshot);
    drawThroughput(snapshot, byKind);
    drawProcesses(snapshot);
    drawGroups(snapshot);
    drawShards(snapshot);
  }

  function start() {
    var root = document.getElementById("channels-layer-page");
    if (!root) return;
    var url = root.getAttribute("data-url");
    var refresh = parseInt(root.getAttribute("data-refresh-ms"), 10) || 2000;
    var status = document.getElementById("lp-status");
    var error = document.getElementById("lp-error");
    var failures = 0;
    var page = window.channelsLayerPage = { refreshes: 0, failures: 0, ring: ring };

    function showError(message) {
      failures += 1;
      page.failures += 1;
      error.textContent = message;
      error.hidden = false;
      status.textContent = "retrying every " + refresh / 1000 + " s (" + failures + " failed)";
    }

    function show(body) {
      if (body.error) {
        showError(body.error.message);
        return;
      }
      failures = 0;
      error.hidden = true;
      draw(body);
      page.refreshes += 1;
      status.textContent = "updated " + new Date().toLocaleTimeString() +
        ", every " + refresh / 1000 + " s";
    }

    function poll() {
      var controller = window.AbortController ? new AbortController() : null;
      var timer = controller ? setTimeout(function () { controller.abort(); }, 10000) : null;
      fetch(url, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
        cache: "no-store",
        signal: controller ? controller.signal : undefined
      }).then(function (response) {
        var type = response.headers.get("Content-Type") || "";
        if (type.indexOf("application/json") === -1) {
          throw new Error("the server answered " + response.status +
            " without JSON (logged out?)");
        }
        return response.json();
      }).then(show, function (reason) {
        showError("Cannot fetch the layer's state: " + (reason && reason.message || reason));
      }).then(function () {
        if (timer) clearTimeout(timer);
        setTimeout(poll, refresh);
      });
    }

    var initial = JSON.parse(document.getElementById("lp-initial").textContent);
    if (!initial.error) draw(initial);
    if (root.getAttribute("data-poll") === "on") setTimeout(poll, refresh);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
