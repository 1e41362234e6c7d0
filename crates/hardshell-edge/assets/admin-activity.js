// What hardshell is doing, on the admin page: the requests the edge answered
// and refused over the last hour or day, where shells connected or were
// refused, and the shells running now.
//
// Served as /admin/admin-activity.js after /admin/admin-kit.js and before
// /admin/admin.js, under the same policy (admin-kit.js says which): nothing
// reaches an HTML sink, and the chart is SVG made with createElementNS.
// admin.js merges these sections into its own, loads them with the rest,
// calls wire() and refreshes the shells while the page is visible.
//
// The API (same origin, JSON, admin only):
//
//   GET /admin/requests?hours=1|24   {step_minutes, points: [{at, served, refused,
//                                     client_errors, server_errors}]}, oldest first
//   GET /admin/egress                {decisions: [{shell, host, port, decision, count,
//                                     last_at, reason}], records, complete, since}
//   GET /admin/shells                {shells: [{cgroup, processes, memory_bytes, cpu_usec, ready}]}
//
// A host and a reason are what a shell asked for or was told, and a shell may
// be hostile: like everything from the server they are untrusted text, shown
// only through visible().

"use strict";

(() => {
  const {
    $, visible, textOf, listOf, element, when, count, // untrusted text
    call, part, section, load, // the server and sections
    badge, svg, svgText, // what they show
  } = globalThis.hardshellAdminKit;

  const ui = {
    hours: $("requests-hours"),
    requestsChart: $("requests-chart"),
    requestsSummary: $("requests-summary"),
    egressTable: $("egress-table"),
    egressRows: $("egress-rows"),
    egressNote: $("egress-note"),
    egressEmpty: $("egress-empty"),
    shellTable: $("shell-table"),
    shellRows: $("shell-rows"),
    shellsEmpty: $("shells-empty"),
  };

  const sections = {
    requests: section("requests", () => call("GET", `/admin/requests?hours=${part(ui.hours.value)}`), showRequests),
    egress: section("egress", () => call("GET", "/admin/egress"), showEgress),
    shells: section("shells", () => call("GET", "/admin/shells"), showShells),
  };

  // A count from JSON as a number to draw: anything but a whole number of
  // zero or more is nothing.
  function tally(value) {
    const number = Number(value);
    return Number.isSafeInteger(number) && number > 0 ? number : 0;
  }

  // One cell; `label` names it where a phone shows the row as a block.
  function cell(className, label, value) {
    const node = element("td", className);
    if (label) {
      node.dataset.label = label;
    }
    node.append(value instanceof Node ? value : element("span", null, value));
    return node;
  }

  // --- requests ------------------------------------------------------------------

  // How a request ended, bottom to top in a bar; also the order of the
  // summary, the bar's title and the legend in admin.html. `name` is the
  // CSS class and the data-* attribute.
  const OUTCOMES = [
    { key: "served", name: "served", one: "served", many: "served" },
    { key: "refused", name: "refused", one: "refused", many: "refused" },
    { key: "client_errors", name: "client-errors", one: "client error", many: "client errors" },
    { key: "server_errors", name: "server-errors", one: "server error", many: "server errors" },
  ];

  // The SVG is as tall as #requests-chart in admin.css, so drawing it never
  // changes the size the ResizeObserver below watches.
  const CHART = { height: 180, top: 10, bottom: 24, minWidth: 260, digit: 7 };
  const requests = { points: null, width: 0 };

  function counted(number, outcome) {
    return `${count(number)} ${number === 1 ? outcome.one : outcome.many}`;
  }

  function outcomesOf(numbers) {
    return OUTCOMES.map((outcome) => counted(numbers[outcome.key], outcome)).join(", ");
  }

  // HH:MM in the reader's time zone; what is not a time is shown as it came.
  function clock(iso) {
    const date = new Date(iso);
    if (!iso || Number.isNaN(date.getTime())) {
      return visible(iso || "?");
    }
    const pad = (number) => String(number).padStart(2, "0");
    return `${pad(date.getHours())}:${pad(date.getMinutes())}`;
  }

  function span(minutes) {
    if (minutes === 60) {
      return "hour";
    }
    return minutes % 60 === 0 ? `${minutes / 60} hours` : `${minutes} minutes`;
  }

  function showRequests(body) {
    const step = tally(body.step_minutes) || 1;
    const points = listOf(body.points).map((point) => {
      const from = point && typeof point === "object" ? point : {};
      const shown = { at: typeof from.at === "string" ? from.at : "", total: 0 };
      for (const outcome of OUTCOMES) {
        shown[outcome.key] = tally(from[outcome.key]);
        shown.total += shown[outcome.key];
      }
      return shown;
    });
    requests.points = points;
    if (!points.length) {
      ui.requestsSummary.textContent = "No requests have been counted yet.";
    } else {
      const totals = Object.fromEntries(OUTCOMES.map((outcome) =>
        [outcome.key, points.reduce((sum, point) => sum + point[outcome.key], 0)]));
      ui.requestsSummary.textContent = `In the last ${span(points.length * step)}: ${outcomesOf(totals)}.`;
    }
    drawRequests();
  }

  // The smallest 1, 2 or 5 times a power of ten at or above `largest`: the
  // top of the scale, a round number to read the bars against.
  function roundUp(largest) {
    const power = 10 ** Math.floor(Math.log10(Math.max(largest, 1)));
    return [1, 2, 5, 10].map((step) => step * power).find((top) => top >= largest);
  }

  // One stacked bar per point, at the chart's width in pixels (not scaled by
  // a viewBox), so its text keeps its size on a phone.
  function drawRequests() {
    const points = requests.points;
    if (!points) {
      return;
    }
    const width = Math.max(CHART.minWidth, Math.floor(ui.requestsChart.clientWidth));
    requests.width = width;
    if (!points.length) {
      ui.requestsChart.replaceChildren(element("p", "hint", "Nothing to draw yet."));
      return;
    }
    const top = roundUp(Math.max(...points.map((point) => point.total)));
    const topLabel = count(top);
    const left = Math.max(24, topLabel.length * CHART.digit + 10);
    const right = width - 2;
    const base = CHART.height - CHART.bottom;
    const plot = base - CHART.top;
    const band = (right - left) / points.length;
    const barWidth = Math.max(1, band * 0.75);

    const chart = svg("svg", {
      class: "requests-svg",
      width,
      height: CHART.height,
      viewBox: `0 0 ${width} ${CHART.height}`,
      role: "group",
      "aria-labelledby": "requests-chart-title",
    });
    chart.append(
      svgText("title", { id: "requests-chart-title" }, ui.requestsSummary.textContent),
      svg("line", { class: "grid-line", x1: left, y1: CHART.top, x2: right, y2: CHART.top }),
      svgText("text", { class: "axis-label", x: left - 6, y: CHART.top + 4, "text-anchor": "end" }, topLabel),
      svgText("text", { class: "axis-label", x: left - 6, y: base + 4, "text-anchor": "end" }, "0"),
    );
    points.forEach((point, index) => {
      const group = svg("g", { class: "requests-bar", role: "img", "data-at": point.at });
      for (const outcome of OUTCOMES) {
        group.setAttribute(`data-${outcome.name}`, String(point[outcome.key]));
      }
      const x = left + index * band;
      group.append(
        svgText("title", {}, `${clock(point.at)}: ${outcomesOf(point)}`),
        // The whole column answers the pointer, so a short bar's title shows too.
        svg("rect", { class: "bar-hit", x: x.toFixed(1), y: CHART.top, width: band.toFixed(1), height: plot }),
      );
      let y = base;
      for (const outcome of OUTCOMES) {
        const number = point[outcome.key];
        if (!number) {
          continue;
        }
        // A count above zero is never drawn as nothing: one refusal among
        // thousands served still shows.
        const height = Math.max(1.5, (number / top) * plot);
        y -= height;
        group.append(svg("rect", {
          class: `segment ${outcome.name}`,
          x: (x + (band - barWidth) / 2).toFixed(1),
          y: y.toFixed(1),
          width: barWidth.toFixed(1),
          height: height.toFixed(1),
        }));
      }
      chart.append(group);
    });
    const last = points[points.length - 1];
    chart.append(
      svg("line", { class: "axis-line", x1: left, y1: base, x2: right, y2: base }),
      svgText("text", { class: "time-label", x: left, y: CHART.height - 6 }, clock(points[0].at)),
      svgText("text", { class: "time-label", x: right, y: CHART.height - 6, "text-anchor": "end" }, clock(last.at)),
    );
    ui.requestsChart.replaceChildren(chart);
  }

  // --- where shells connected ----------------------------------------------------

  function showEgress(body) {
    const rows = listOf(body.decisions).map(egressRow);
    ui.egressRows.replaceChildren(...rows);
    ui.egressTable.hidden = rows.length === 0;
    ui.egressEmpty.hidden = rows.length > 0;
    // The edge read only the newest decisions: say what the counts cover.
    if (body.complete === false) {
      ui.egressNote.replaceChildren(
        element("span", null, `These counts cover the newest ${count(body.records)} decisions, since `),
        when(body.since),
        element("span", null, ": older ones are not counted."),
      );
      ui.egressNote.hidden = false;
    } else {
      ui.egressNote.replaceChildren();
      ui.egressNote.hidden = true;
    }
  }

  function egressRow(decision) {
    const from = decision && typeof decision === "object" ? decision : {};
    const host = String(from.host ?? "");
    const verdict = String(from.decision ?? "");
    const refused = verdict === "refused";
    // An IPv6 address in brackets, so its port cannot read as part of it.
    const where = `${host.includes(":") ? `[${host}]` : host}${from.port == null ? "" : `:${textOf(from.port)}`}`;
    const row = element("tr", refused ? "refused" : null);
    row.dataset.decision = verdict;
    row.dataset.shell = String(from.shell ?? "");
    row.append(
      cell("host lead", null, where),
      cell("shell", "Shell", textOf(from.shell ?? "?")),
      cell("decision", null, badge(verdict, refused ? "refused" : "allowed")),
      cell("count num", "Count", count(from.count)),
      cell("time", "Last", when(from.last_at)),
      cell(from.reason == null ? "reason none" : "reason", "Reason", from.reason == null ? "—" : textOf(from.reason)),
    );
    return row;
  }

  // --- shells running now --------------------------------------------------------

  const KIB = 1024;
  const MIB = 1024 * 1024;

  function memory(bytes) {
    const number = Number(bytes);
    if (!Number.isFinite(number) || number < 0) {
      return "?";
    }
    const [unit, size] = number >= MIB ? ["MiB", MIB] : ["KiB", KIB];
    return `${(number / size).toLocaleString(undefined, { maximumFractionDigits: 1 })} ${unit}`;
  }

  function cpu(usec) {
    if (usec == null) {
      return "not accounted";
    }
    const number = Number(usec);
    if (!Number.isFinite(number) || number < 0) {
      return "?";
    }
    const seconds = (number / 1e6).toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
    return `${seconds} s`;
  }

  // The list is refreshed every few seconds; an unchanged answer leaves the
  // rows alone, so text the owner selected stays selected.
  let shownShells = null;

  function showShells(body) {
    const shells = listOf(body.shells);
    const answer = JSON.stringify(shells);
    if (answer === shownShells) {
      return;
    }
    shownShells = answer;
    const rows = shells.map(shellRow);
    ui.shellRows.replaceChildren(...rows);
    ui.shellTable.hidden = rows.length === 0;
    ui.shellsEmpty.hidden = rows.length > 0;
  }

  function shellRow(shell) {
    const from = shell && typeof shell === "object" ? shell : {};
    const row = element("tr");
    row.dataset.cgroup = String(from.cgroup ?? "");
    // A shell prepared ahead for the next command: waiting, not running one.
    const waiting = from.ready === true ? " (ready, waiting for a command)" : "";
    row.append(
      cell("cgroup lead", null, textOf(from.cgroup ?? "?") + waiting),
      cell("processes num", "Processes", count(from.processes)),
      cell("memory num", "Memory", memory(from.memory_bytes)),
      cell("cpu num", "CPU time", cpu(from.cpu_usec)),
    );
    return row;
  }

  // --- wiring --------------------------------------------------------------------

  function wire() {
    ui.hours.addEventListener("change", () => load(sections.requests));
    // The chart follows its box's width (the window's, or a scroll bar's
    // coming and going). Drawing keeps the box's size (see CHART), so this
    // never feeds itself.
    new ResizeObserver(() => {
      if (Math.floor(ui.requestsChart.clientWidth) !== requests.width) {
        drawRequests();
      }
    }).observe(ui.requestsChart);
  }

  globalThis.hardshellAdminActivity = Object.freeze({ sections, wire });
})();
