/*
 * The explorer at /explore (gql_trust/explorer.py renders the page and its config).
 *
 * Builds one GraphQL query from the form, sends it to /graphql with the caller's
 * token, and shows the answer twice: as a Vega-Lite chart (lines over periods, bars
 * over areas or sectors) and as a table, the chart's text alternative. Cells that
 * disclosure control suppressed, withheld or perturbed are marked in both. "Download
 * CSV" asks /graphql for the same query as text/csv. Needs the globals vegaEmbed
 * (with vega, vegaLite) from /static/vendor/; no other origin is ever contacted.
 */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("explorer-config").textContent);
  var byName = {};
  config.datasets.forEach(function (d) { byName[d.name] = d; });
  var $ = function (id) { return document.getElementById(id); };
  var last = null; // {query, dataset}

  function months(first, lastPeriod) {
    var out = [];
    var y = +first.slice(0, 4), m = +first.slice(5, 7);
    var end = lastPeriod;
    for (var guard = 0; guard < 1200; guard++) {
      var p = y + "-" + (m < 10 ? "0" : "") + m;
      out.push(p);
      if (p >= end) break;
      m += 1;
      if (m > 12) { m = 1; y += 1; }
    }
    return out;
  }

  function option(value, label, selected) {
    var o = document.createElement("option");
    o.value = value;
    o.textContent = label;
    if (selected) o.selected = true;
    return o;
  }

  function populate(dataset) {
    var measure = $("measure");
    measure.replaceChildren.apply(measure, dataset.measures.map(function (m, i) {
      return option(m.name, m.label, i === 0);
    }));
    var box = $("dimensions");
    box.replaceChildren();
    dataset.dimensions.forEach(function (d) {
      var item = document.createElement("div");
      item.className = "govuk-checkboxes__item";
      var input = document.createElement("input");
      input.className = "govuk-checkboxes__input";
      input.type = "checkbox";
      input.name = "dimension";
      input.id = "dimension-" + d.name;
      input.value = d.name;
      input.checked = d.name === "period";
      var label = document.createElement("label");
      label.className = "govuk-label govuk-checkboxes__label";
      label.htmlFor = input.id;
      label.textContent = d.label;
      item.append(input, label);
      box.append(item);
    });
    var periods = dataset.periods ? months(dataset.periods.first, dataset.periods.last) : [];
    var from = $("period-from"), to = $("period-to");
    from.replaceChildren.apply(from, periods.map(function (p, i) {
      return option(p, p, i === Math.max(0, periods.length - 12));
    }));
    to.replaceChildren.apply(to, periods.map(function (p, i) {
      return option(p, p, i === periods.length - 1);
    }));
  }

  function formState() {
    var dataset = byName[$("dataset").value];
    var chosen = Array.prototype.slice.call(
      document.querySelectorAll("input[name=dimension]:checked")
    ).map(function (i) { return i.value; });
    return {
      dataset: dataset,
      measure: $("measure").value,
      dimensions: dataset.dimensions.filter(function (d) { return chosen.indexOf(d.name) >= 0; }),
      geography: document.querySelector("input[name=geography]:checked").value,
      from: $("period-from").value,
      to: $("period-to").value,
      token: $("token").value.trim(),
    };
  }

  function buildQuery(s) {
    var period = s.from === s.to ? '{eq: "' + s.from + '"}'
      : '{gte: "' + s.from + '", lte: "' + s.to + '"}';
    var selection = s.dimensions.map(function (d) { return d.selection; }).concat([s.measure]);
    return "{\n  " + s.dataset.name + "(\n    geography: " + s.geography +
      "\n    where: {period: " + period + "}\n    limit: " + config.limit +
      "\n  ) {\n    " + selection.join("\n    ") + "\n  }\n}\n";
  }

  function headers(token, accept) {
    var h = { "Content-Type": "application/json", Accept: accept };
    if (token) h.Authorization = "Bearer " + token;
    return h;
  }

  function showErrors(messages) {
    var list = $("error-list");
    list.replaceChildren.apply(list, messages.map(function (m) {
      var li = document.createElement("li");
      li.textContent = m;
      return li;
    }));
    var summary = $("error-summary");
    summary.hidden = messages.length === 0;
    if (messages.length) summary.focus();
  }

  function errorMessages(body) {
    return (body.errors || []).map(function (e) {
      var reason = e.extensions && e.extensions.reason;
      return e.message + (reason ? ": " + reason : "");
    });
  }

  function label(dimension, row) {
    var v = row[dimension.name];
    if (v === null || v === undefined) return "";
    if (typeof v === "object") return v.name + " (" + v.code + ")";
    return String(v);
  }

  // One record per cell: its labels, value and what disclosure control did to it.
  function cells(s, rows, disclosure) {
    var withheld = {};
    (disclosure.withheldAreas || []).forEach(function (w) { withheld[w.code] = true; });
    var perturbed = (disclosure.perturbed || 0) > 0;
    return rows.map(function (row) {
      var value = row[s.measure];
      var area = row.area && row.area.code;
      var status = "";
      if (value === null) {
        status = withheld[area] || withheld["null"] ? "withheld" : "suppressed";
      } else if (perturbed && value !== 0) {
        status = "perturbed";
      }
      return {
        labels: s.dimensions.map(function (d) { return label(d, row); }),
        value: value,
        status: status,
      };
    });
  }

  function chartSpec(s, records) {
    var names = s.dimensions.map(function (d) { return d.name; });
    var xAt = names.indexOf("period");
    var lines = xAt >= 0;
    if (!lines) xAt = names.indexOf("area") >= 0 ? names.indexOf("area") : names.indexOf("sector");
    if (xAt < 0) xAt = names.length ? 0 : -1;
    var measureLabel = s.dataset.measures.filter(function (m) { return m.name === s.measure; })[0].label;
    var values = records.map(function (r) {
      var x = xAt >= 0 ? r.labels[xAt] : "All";
      var series = r.labels.filter(function (_, i) { return i !== xAt; }).join(" / ");
      var what = (series ? series + ", " : "") + x + ": " +
        (r.value === null ? r.status : r.value + (r.status ? " (" + r.status + ")" : ""));
      return { x: x, series: series, value: r.value, status: r.status || "exact", description: what };
    });
    var hasSeries = values.some(function (v) { return v.series; });
    var xTitle = xAt >= 0 ? s.dimensions[xAt].label : "";
    var enc = {
      x: { field: "x", type: "ordinal", title: xTitle, sort: "ascending" },
      y: { field: "value", type: "quantitative", title: measureLabel },
      tooltip: [
        { field: "x", title: xTitle || "Cell" },
        { field: "series", title: "Series" },
        { field: "value", title: measureLabel },
        { field: "status", title: "Disclosure" },
      ],
    };
    if (hasSeries) enc.color = { field: "series", type: "nominal", title: "Series" };
    var spec = {
      $schema: "https://vega.github.io/schema/vega-lite/v6.json",
      width: "container",
      height: 320,
      data: { values: values.filter(function (v) { return v.value !== null; }) },
      config: { font: "Arial, sans-serif" },
    };
    if (lines) {
      spec.layer = [
        { mark: { type: "line", aria: false }, encoding: enc },
        {
          mark: { type: "point", filled: true, size: 50 },
          encoding: Object.assign({}, enc, {
            description: { field: "description" },
            shape: { field: "status", type: "nominal", title: "Disclosure",
                     scale: { domain: ["exact", "perturbed"], range: ["circle", "triangle"] } },
          }),
        },
      ];
    } else {
      spec.mark = { type: "bar" };
      spec.encoding = Object.assign({}, enc, {
        description: { field: "description" },
        opacity: { field: "status", type: "nominal", title: "Disclosure",
                   scale: { domain: ["exact", "perturbed"], range: [1, 0.6] } },
      });
      if (hasSeries) spec.encoding.xOffset = { field: "series" };
    }
    return spec;
  }

  function fillTable(s, records) {
    var measureLabel = s.dataset.measures.filter(function (m) { return m.name === s.measure; })[0].label;
    var head = $("cells-head");
    var titles = s.dimensions.map(function (d) { return d.label; }).concat([measureLabel, "Disclosure"]);
    head.replaceChildren.apply(head, titles.map(function (t, i) {
      var th = document.createElement("th");
      th.scope = "col";
      th.className = "govuk-table__header" + (i === s.dimensions.length ? " govuk-table__header--numeric" : "");
      th.textContent = t;
      return th;
    }));
    var body = $("cells-body");
    body.replaceChildren.apply(body, records.map(function (r) {
      var tr = document.createElement("tr");
      tr.className = "govuk-table__row";
      if (r.status) tr.setAttribute("data-status", r.status);
      r.labels.forEach(function (l) {
        var td = document.createElement("td");
        td.className = "govuk-table__cell";
        td.textContent = l;
        tr.append(td);
      });
      var value = document.createElement("td");
      value.className = "govuk-table__cell govuk-table__cell--numeric";
      value.textContent = r.value === null ? "" : String(r.value);
      var note = document.createElement("td");
      note.className = "govuk-table__cell";
      if (r.status) {
        var tag = document.createElement("strong");
        tag.className = "govuk-tag " + (r.status === "perturbed" ? "govuk-tag--yellow" : "govuk-tag--grey");
        tag.textContent = r.status;
        note.append(tag);
      }
      tr.append(value, note);
      return tr;
    }));
  }

  function describeDisclosure(d, count) {
    var parts = [count + " cells"];
    if (d.suppressed) parts.push(d.suppressed + " suppressed (small counts, not drawn)");
    if (d.withheld) parts.push(d.withheld + " withheld (sparse areas, not drawn)");
    if (d.perturbed) parts.push(d.perturbed + " perturbed (small noise added; drawn as triangles or faded bars)");
    return parts.join(", ") + ".";
  }

  async function run(event) {
    event.preventDefault();
    var s = formState();
    var query = buildQuery(s);
    showErrors([]);
    $("status").textContent = "Running the query...";
    var body;
    try {
      var response = await fetch(config.graphqlPath, {
        method: "POST",
        headers: headers(s.token, "application/json"),
        body: JSON.stringify({ query: query }),
      });
      body = await response.json();
    } catch (err) {
      $("status").textContent = "";
      showErrors(["The server could not be reached: " + err]);
      return;
    }
    var rows = body.data && body.data[s.dataset.name];
    if (!rows) {
      $("status").textContent = "";
      $("results").hidden = true;
      showErrors(errorMessages(body).length ? errorMessages(body) : ["No answer came back."]);
      return;
    }
    var disclosure = (body.extensions && body.extensions.disclosure) || {};
    var records = cells(s, rows, disclosure);
    last = { query: query, dataset: s.dataset.name, token: s.token };
    $("query-text").textContent = query;
    $("open-graphiql").href = config.graphqlPath + "?query=" + encodeURIComponent(query);
    var caption = s.dataset.title + ": " + $("measure").selectedOptions[0].textContent +
      (s.dimensions.length ? " by " + s.dimensions.map(function (d) { return d.label.toLowerCase(); }).join(", ") : "");
    $("chart-caption").textContent = caption;
    $("table-caption").textContent = caption + " (table)";
    $("disclosure-note").textContent = describeDisclosure(disclosure, records.length) +
      (rows.length >= config.limit ? " Only the first " + config.limit + " cells are shown: narrow the query." : "");
    fillTable(s, records);
    $("results").hidden = false;
    $("chart").removeAttribute("data-ready");
    await vegaEmbed("#chart", chartSpec(s, records), { actions: false, renderer: "svg" });
    $("chart").setAttribute("data-ready", "true");
    $("status").textContent = "Showing " + records.length + " cells.";
  }

  async function downloadCsv() {
    if (!last) return;
    showErrors([]);
    var response = await fetch(config.graphqlPath, {
      method: "POST",
      headers: headers(last.token, "text/csv"),
      body: JSON.stringify({ query: last.query }),
    });
    if (!response.ok) {
      var body = await response.json().catch(function () { return {}; });
      showErrors(errorMessages(body).length ? errorMessages(body) : ["The CSV could not be made."]);
      return;
    }
    var blob = await response.blob();
    var link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = last.dataset + ".csv";
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(function () { URL.revokeObjectURL(link.href); }, 10000);
    $("status").textContent = "CSV downloaded.";
  }

  $("dataset").addEventListener("change", function () { populate(byName[this.value]); });
  $("explorer-form").addEventListener("submit", run);
  $("download-csv").addEventListener("click", downloadCsv);
  var wanted = new URLSearchParams(window.location.search).get("dataset");
  if (wanted && byName[wanted]) $("dataset").value = wanted;
  populate(byName[$("dataset").value]);
})();
