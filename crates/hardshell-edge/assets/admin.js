// hardshell's admin page: who is signed in, commands waiting for approval,
// model spend, the audit log, and the credentials that open this hardshell
// (API tokens, device certificates, passkeys, sessions).
//
// Served as /admin/admin.js after /admin/admin-kit.js,
// /admin/admin-activity.js, /admin/admin-pairing.js and
// /admin/admin-parts.js, under the same policy. admin-kit.js holds what no
// section owns (text from the server made safe to show, calls, section loads,
// secrets shown once, two-step buttons); admin-activity.js the sections on
// what hardshell is doing (requests, where shells connected, shells running);
// admin-pairing.js the chat platforms' pairings; admin-parts.js what hardshell
// is made of (browser sessions, the workload, modules); this file holds the
// other sections and wires the page.
//
// The API (same origin, JSON, the session cookie rides along; the edge's
// reference is its admin routes):
//
//   GET    /admin/overview                   who, freshness, access rules, features
//   GET    /admin/approvals                  (404: no exec tool)
//   POST   /admin/approvals/{session}/{id}   {"approve"} -> 204 | 404 gone | 409 answered
//   GET    /admin/requests  /admin/egress  /admin/shells   (admin-activity.js)
//   GET    /admin/browser  /admin/parts      (admin-parts.js; /admin/browser 404: no browser)
//   GET    /admin/spend                      this month, by model, against the cap
//   GET    /admin/audit?log&type&principal&since&until&before&limit   newest first
//   GET    /admin/audit/verify               (409: a verification is running)
//   GET    /admin/tokens      POST (fresh)   DELETE /admin/tokens/{id}
//   GET    /admin/devices     POST (fresh)   DELETE /admin/devices/{name}   (404: devices off)
//   GET    /admin/passkeys    POST /admin/passkeys/setup-link (fresh)
//                                            DELETE /admin/passkeys/{id}   (404: passkeys off)
//   GET    /admin/sessions                   DELETE /admin/sessions/{id}
//   GET    /admin/pairing     POST /admin/pairing/approve (fresh)
//                                            DELETE /admin/pairing/{sender}   (admin-pairing.js;
//                                            404: no chat platform)
//
// Answers: 401 -> the login page, back here after; 403 because the login is
// not fresh -> its reason and a "Sign in again" link; any other 403 -> this
// page is for admins, and nothing else is shown; 404 on a section's first
// GET -> the feature is off, the section is hidden; anything else -> status and
// body, as text, in that section's status line.
//
// Secrets the server hands over once (a new token, a setup link, a device's
// key) live in the page until "Done", the next one, or (for downloads) a
// minute: never in storage, never in the address.

"use strict";

(() => {
  const {
    LOGIN, $, page, // the page
    visible, textOf, listOf, element, button, link, when, isPast, count, // untrusted text
    SignedOut, Refused, call, part, // the server
    section, explain, report, load, act, // sections
    twoStep, entry, titleLine, badge, facts, showList, showOnce, svg, svgText, // what they show
  } = globalThis.hardshellAdminKit;
  const activity = globalThis.hardshellAdminActivity;
  const pairing = globalThis.hardshellAdminPairing;
  const parts = globalThis.hardshellAdminParts;

  // While the page is visible, approvals, the shells running now and the
  // browser sessions open are asked for again. Each ask is a request the audit
  // log records: an admin page left open costs about 240 records an hour, not
  // 1,000.
  const POLL_MS = 30_000; // approvals waiting
  const SHELLS_POLL_MS = 60_000; // the shells running now
  const BROWSER_POLL_MS = 60_000; // the browser sessions open now
  const DOWNLOAD_MS = 60_000; // how long a device's files can be downloaded
  const AUDIT_PAGE = 50;

  const ui = {
    who: $("who"),
    logout: $("logout"),
    overviewSubject: $("overview-subject"),
    overviewEmail: $("overview-email"),
    overviewMethod: $("overview-method"),
    overviewAuthenticated: $("overview-authenticated"),
    overviewFresh: $("overview-fresh"),
    overviewAccess: $("overview-access"),
    overviewRuleRows: $("overview-rule-rows"),
    overviewFeatures: $("overview-features"),
    approvalList: $("approval-list"),
    approvalsEmpty: $("approvals-empty"),
    spendSummary: $("spend-summary"),
    spendChart: $("spend-chart"),
    auditVerifyResult: $("audit-verify-result"),
    auditVerify: $("audit-verify"),
    auditFilter: $("audit-filter"),
    auditLog: $("audit-log"),
    auditType: $("audit-type"),
    auditPrincipal: $("audit-principal"),
    auditSince: $("audit-since"),
    auditUntil: $("audit-until"),
    auditApply: $("audit-apply"),
    auditReset: $("audit-reset"),
    auditRows: $("audit-rows"),
    auditEmpty: $("audit-empty"),
    auditOlder: $("audit-older"),
    tokenForm: $("token-form"),
    tokenName: $("token-name"),
    tokenScope: $("token-scope"),
    tokenDays: $("token-days"),
    tokenCreate: $("token-create"),
    tokenSecretSlot: $("token-secret-slot"),
    tokenList: $("token-list"),
    tokensEmpty: $("tokens-empty"),
    deviceForm: $("device-form"),
    deviceName: $("device-name"),
    deviceDays: $("device-days"),
    deviceIssue: $("device-issue"),
    deviceDownloadSlot: $("device-download-slot"),
    deviceList: $("device-list"),
    devicesEmpty: $("devices-empty"),
    passkeyAdd: $("passkey-add"),
    setupLinkSlot: $("setup-link-slot"),
    passkeyList: $("passkey-list"),
    passkeysEmpty: $("passkeys-empty"),
    sessionList: $("session-list"),
    sessionsEmpty: $("sessions-empty"),
  };

  const sections = {
    overview: section("overview", () => call("GET", "/admin/overview"), showOverview),
    approvals: section("approvals", () => call("GET", "/admin/approvals"), showApprovals, { optional: true }),
    ...activity.sections, // requests, egress, shells
    ...parts.sections, // browser, workload, modules
    spend: section("spend", () => call("GET", "/admin/spend"), showSpend),
    audit: section("audit", () => call("GET", `/admin/audit?${audit.filter}`), (body) => showAudit(body, false)),
    tokens: section("tokens", () => call("GET", "/admin/tokens"), showTokens),
    devices: section("devices", () => call("GET", "/admin/devices"), showDevices, { optional: true }),
    passkeys: section("passkeys", () => call("GET", "/admin/passkeys"), showPasskeys, { optional: true }),
    sessions: section("sessions", () => call("GET", "/admin/sessions"), showSessions),
    ...pairing.sections, // pairing
  };

  // --- overview ------------------------------------------------------------------

  function showOverview(body) {
    const principal = body.principal || {};
    ui.overviewSubject.textContent = visible(principal.subject);
    ui.overviewEmail.textContent = visible(principal.email ?? "none");
    ui.overviewMethod.textContent = visible(principal.method);
    ui.overviewAuthenticated.replaceChildren(when(principal.authenticated_at));
    ui.who.textContent = visible(principal.email || principal.subject || "");

    // Fresh: this login may issue credentials and make other changes that
    // weaken security. The server decides; this only says how things stand.
    if (body.fresh_until == null) {
      ui.overviewFresh.textContent =
        "Not with this login: an API token cannot make changes that need a recent sign-in.";
    } else if (isPast(body.fresh_until)) {
      ui.overviewFresh.replaceChildren(
        element("span", null, "Your sign-in is too old for changes that add a way in. "),
        link("Sign in again", LOGIN),
      );
    } else {
      ui.overviewFresh.replaceChildren(element("span", null, "Yes, until "), when(body.fresh_until));
    }

    const access = body.access || {};
    const devices = access.devices || {};
    const methods = [
      ["Passkeys", access.passkey ? "on" : "off"],
      ["Identity provider (OIDC)", access.oidc ? `on: ${textOf(access.oidc.issuer)}` : "off"],
      ["Cloudflare Access", access.cloudflare ? `on: ${textOf(access.cloudflare.team_domain)}` : "off"],
      ["Device certificates", devices.enabled ? (devices.required ? "required" : "on, not required") : "off"],
    ];
    ui.overviewAccess.replaceChildren(
      ...methods.flatMap(([label, value]) => [element("dt", null, label), element("dd", null, value)]),
    );

    const rules = listOf(access.rules).map((rule) => {
      const row = element("tr");
      const emails = listOf(rule.emails).map(textOf).join(", ");
      const groups = listOf(rule.groups).map(textOf).join(", ");
      row.append(
        element("td", null, rule.role),
        element("td", null, emails || "—"),
        element("td", null, groups || "—"),
        element("td", null, rule.require_device ? "yes" : "no"),
      );
      return row;
    });
    if (!rules.length) {
      const row = element("tr");
      const cell = element("td", "hint", "No rules: only the owner's own sign-in is let in.");
      cell.colSpan = 4;
      row.append(cell);
      rules.push(row);
    }
    ui.overviewRuleRows.replaceChildren(...rules);

    const features = Object.entries(body.features || {}).map(([name, on]) => {
      const chip = element("li", on ? "chip on" : "chip", `${name}: ${on ? "on" : "off"}`);
      chip.dataset.feature = name;
      return chip;
    });
    ui.overviewFeatures.replaceChildren(...features);
  }

  // --- approvals -----------------------------------------------------------------

  // Items on the page by approval id. The list is refreshed every few seconds;
  // an item already shown stays the same node, so a "Don't run" waiting for
  // its second click, or the focus, survives the refresh.
  const approvalItems = new Map();

  function showApprovals(body) {
    const approvals = listOf(body.approvals);
    const current = new Set();
    for (const approval of approvals) {
      const id = String(approval.approval ?? "");
      current.add(id);
      if (!approvalItems.has(id)) {
        const item = approvalItem(approval, id);
        approvalItems.set(id, item);
        ui.approvalList.append(item);
      }
    }
    for (const [id, item] of approvalItems) {
      if (!current.has(id)) {
        item.remove();
        approvalItems.delete(id);
      }
    }
    ui.approvalsEmpty.hidden = approvals.length > 0;
  }

  function approvalItem(approval, id) {
    const session = String(approval.session ?? "");
    const item = entry("approval", id);
    item.classList.add("approval");
    item.dataset.session = session;
    const command = element("pre", "approval-command");
    command.append(element("code", null, approval.command));
    const run = button("Run it", "approve");
    run.dataset.approve = id;
    const refuse = button("Don't run", "refuse quiet");
    refuse.dataset.deny = id;
    const answer = (approve) =>
      act(sections.approvals, [run, refuse], async () => {
        try {
          await call("POST", `/admin/approvals/${part(session)}/${part(id)}`, { approve });
        } catch (error) {
          if (error instanceof Refused && error.status === 404) {
            return "That question had expired or was withdrawn: the command did not run.";
          }
          if (error instanceof Refused && error.status === 409) {
            return "That question was already answered.";
          }
          throw error;
        }
        return approve ? "Approved: the command runs now." : "Refused: the command will not run.";
      });
    run.addEventListener("click", () => answer(true));
    twoStep(refuse, "Confirm: don't run", () => answer(false));
    const buttons = element("div", "item-buttons");
    buttons.append(run, refuse);
    item.append(element("p", "item-title", "The agent wants to run:"), command);
    if (approval.reason) {
      item.append(element("p", "approval-reason", `Asked because ${textOf(approval.reason)}.`));
    }
    item.append(facts(["Chat session", session], ["Expires", when(approval.expires_at)]), buttons);
    return item;
  }

  // A section loaded again every `ms` while the page is visible, and at once
  // when it becomes visible again.
  function poll(sec, ms) {
    const refresh = () => {
      if (document.visibilityState === "visible" && !sec.node.hidden) {
        load(sec);
      }
    };
    setInterval(refresh, ms);
    document.addEventListener("visibilitychange", refresh);
  }

  // --- spend ---------------------------------------------------------------------

  const CHART = { row: 46, amountWidth: 96, barHeight: 14, minWidth: 260 };
  const spend = { body: null, width: 0 };

  function dollars(value) {
    const number = Number(value);
    return Number.isFinite(number) && number > 0 ? number : 0;
  }

  function money(value) {
    return value > 0 && value < 0.005 ? "<$0.01" : `$${value.toFixed(2)}`;
  }

  function showSpend(body) {
    spend.body = body;
    const total = dollars(body.total_usd);
    const cap = body.cap_usd == null ? null : dollars(body.cap_usd);
    const month = visible(body.month ?? "This month");
    let summary = `${month}: ${money(total)} spent`;
    if (cap === null) {
      summary += "; no monthly cap is set.";
    } else {
      const share = cap > 0 ? Math.round((total / cap) * 100) : 100;
      summary += ` of the ${money(cap)} monthly cap (${share}%).`;
    }
    ui.spendSummary.textContent = summary;
    ui.spendSummary.classList.toggle("over", cap !== null && total > 0 && total >= cap);
    drawSpend();
  }

  // One bar per model, each as long as its cost against the larger of the cap
  // and the month's total, so bars and the cap line share one scale. Drawn at
  // the chart's width in pixels (not scaled by a viewBox), so its text keeps
  // its size on a phone.
  function drawSpend() {
    const body = spend.body;
    if (!body) {
      return;
    }
    const models = listOf(body.models).map((model) => ({
      name: visible(model.model),
      cost: dollars(model.cost_usd),
      requests: count(model.requests),
      input: count(model.input_tokens),
      output: count(model.output_tokens),
    }));
    if (!models.length) {
      ui.spendChart.replaceChildren(element("p", "hint", "No model usage this month."));
      return;
    }
    const cap = body.cap_usd == null ? null : dollars(body.cap_usd);
    const scale = Math.max(cap ?? 0, dollars(body.total_usd), ...models.map((model) => model.cost));
    const width = Math.max(CHART.minWidth, Math.floor(ui.spendChart.clientWidth));
    spend.width = width;
    const bars = width - CHART.amountWidth;
    const top = cap === null ? 0 : 22;
    const height = top + models.length * CHART.row + 4;
    const length = (cost) => (scale > 0 ? (cost / scale) * bars : 0);

    const chart = svg("svg", {
      class: "spend-svg",
      width,
      height,
      viewBox: `0 0 ${width} ${height}`,
      role: "img",
      "aria-labelledby": "spend-chart-title",
    });
    chart.append(svgText("title", { id: "spend-chart-title" }, ui.spendSummary.textContent));
    models.forEach((model, index) => {
      const y = top + index * CHART.row;
      const bar = length(model.cost);
      const group = svg("g", { class: "spend-bar" });
      group.append(
        svgText("title", {}, `${model.name}: ${money(model.cost)}, ${model.requests} requests, `
          + `${model.input} input and ${model.output} output tokens`),
        svgText("text", { class: "bar-label", x: 0, y: y + 15 }, model.name),
        svg("rect", { class: "bar-track", x: 0, y: y + 22, width: bars, height: CHART.barHeight, rx: 3 }),
        // A cost above zero is never drawn as nothing.
        svg("rect", {
          class: "bar-fill",
          x: 0,
          y: y + 22,
          width: (model.cost > 0 ? Math.max(bar, 2) : 0).toFixed(1),
          height: CHART.barHeight,
          rx: 3,
        }),
        svgText("text", { class: "bar-amount", x: (bar + 6).toFixed(1), y: y + 34 }, money(model.cost)),
      );
      chart.append(group);
    });
    if (cap !== null && scale > 0) {
      const x = length(cap);
      const label = `cap ${money(cap)}`;
      const right = x > bars / 2;
      chart.append(
        svg("line", { class: "cap-line", x1: x.toFixed(1), y1: 4, x2: x.toFixed(1), y2: height }),
        svgText("text", { class: "cap-label", x: (right ? x - 4 : x + 4).toFixed(1), y: 14,
          "text-anchor": right ? "end" : "start" }, label),
      );
    }
    ui.spendChart.replaceChildren(chart);
  }

  // The chart follows the page's width; redrawn at most once a frame.
  function followWidth() {
    let frame = 0;
    addEventListener("resize", () => {
      if (frame) {
        return;
      }
      frame = requestAnimationFrame(() => {
        frame = 0;
        if (Math.floor(ui.spendChart.clientWidth) !== spend.width) {
          drawSpend();
        }
      });
    });
  }

  // --- audit ---------------------------------------------------------------------

  // The filter last applied (the "Older" pages continue it) and where the next
  // older page starts.
  const audit = { filter: new URLSearchParams({ limit: String(AUDIT_PAGE) }), before: null, verifying: 0 };

  // The form as a query; a datetime-local value is the reader's local time,
  // sent as RFC 3339 in UTC.
  function auditFilterFromForm() {
    const query = new URLSearchParams();
    if (ui.auditLog.value) {
      query.set("log", ui.auditLog.value);
    }
    if (ui.auditType.value) {
      query.set("type", ui.auditType.value);
    }
    const principal = ui.auditPrincipal.value.trim();
    if (principal) {
      query.set("principal", principal);
    }
    for (const [name, input] of [["since", ui.auditSince], ["until", ui.auditUntil]]) {
      const date = input.value ? new Date(input.value) : null;
      if (date && !Number.isNaN(date.getTime())) {
        query.set(name, date.toISOString());
      }
    }
    query.set("limit", String(AUDIT_PAGE));
    return query;
  }

  // The first page of what the form asks for; "Older" continues from it.
  function applyAuditFilter() {
    audit.filter = auditFilterFromForm();
    act(sections.audit, [ui.auditApply], async () => "");
  }

  function showAudit(body, older) {
    const logs = listOf(body.logs).map(String);
    const shown = [...ui.auditLog.options].map((option) => option.value);
    if (logs.join("\n") !== shown.join("\n")) {
      ui.auditLog.replaceChildren(...logs.map((log) => {
        const option = element("option", null, log);
        option.setAttribute("value", log);
        return option;
      }));
    }
    if (body.log != null) {
      ui.auditLog.value = String(body.log);
      // "Older" pages continue in the log these records came from.
      audit.filter.set("log", String(body.log));
    }
    const rows = listOf(body.records).map(auditRow);
    if (older) {
      ui.auditRows.append(...rows);
    } else {
      ui.auditRows.replaceChildren(...rows);
    }
    audit.before = body.next_before ?? null;
    ui.auditOlder.hidden = audit.before === null;
    ui.auditEmpty.hidden = ui.auditRows.children.length > 0;
  }

  function auditRow(record) {
    const event = record.event && typeof record.event === "object" ? record.event : {};
    const by = event.subject != null ? "subject" : event.actor != null ? "actor" : null;
    const principal = event.subject ?? event.actor ?? "";
    const details = Object.entries(event)
      .filter(([key]) => key !== "type" && key !== by)
      .map(([key, value]) => `${key}=${textOf(value)}`)
      .join(" ");
    const row = element("tr");
    row.dataset.seq = String(record.seq ?? "");
    const time = element("td", "time");
    time.append(when(record.time));
    row.append(
      element("td", "seq", record.seq),
      time,
      element("td", "type", record.type),
      element("td", "principal", textOf(principal)),
      element("td", "details", details),
    );
    return row;
  }

  async function olderAudit() {
    if (audit.before === null) {
      return;
    }
    const sec = sections.audit;
    const query = new URLSearchParams(audit.filter);
    query.set("before", String(audit.before));
    const generation = sec.generation;
    ui.auditOlder.disabled = true;
    try {
      const body = await call("GET", `/admin/audit?${query}`);
      // A new filter applied meanwhile: these rows belong to the old one.
      if (generation === sec.generation) {
        showAudit(body || {}, true);
      }
    } catch (error) {
      report(sec, error);
    } finally {
      ui.auditOlder.disabled = false;
    }
  }

  // Verification reads the whole log, so it runs on load and on request only.
  async function verifyAudit() {
    if (sections.audit.node.hidden || page.forbidden || page.leaving) {
      return;
    }
    const run = ++audit.verifying;
    ui.auditVerify.disabled = true;
    ui.auditVerifyResult.replaceChildren(element("p", "hint", "Verifying…"));
    try {
      const body = await call("GET", "/admin/audit/verify");
      if (run === audit.verifying) {
        showVerification(body || {});
      }
    } catch (error) {
      if (error instanceof Refused && error.status === 403) {
        report(sections.audit, error);
      }
      const message = error instanceof Refused && error.status === 409
        ? "A verification is already running. Try again in a moment."
        : explain(error);
      if (run === audit.verifying && !(error instanceof SignedOut)) {
        ui.auditVerifyResult.replaceChildren(element("p", "error", message));
      }
    } finally {
      ui.auditVerify.disabled = false;
    }
  }

  function showVerification(body) {
    const reports = listOf(body.logs).map((log) => {
      const intact = log.intact === true;
      const item = element("li", intact ? "verify-log intact" : "verify-log broken");
      item.dataset.log = String(log.log ?? "");
      item.dataset.intact = String(intact);
      const findings = listOf(log.findings);
      const verdict = intact
        ? "intact"
        : `not intact: ${findings.length} finding${findings.length === 1 ? "" : "s"}`;
      const head = element("p", "verify-head");
      head.append(element("strong", null, log.log), element("span", "verdict", ` ${verdict}`));
      const lastSeq = log.last_seq == null ? "none" : textOf(log.last_seq);
      let about = `${count(log.records)} records in ${count(log.segments)} segments; last seq ${lastSeq}`;
      if (Number(log.unanchored) > 0) {
        about += `; ${count(log.unanchored)} records not anchored yet`;
      }
      item.append(head, element("p", "item-meta", about));
      if (findings.length) {
        const list = element("ul", "findings");
        list.append(...findings.map((finding) => {
          let where = `${textOf(finding.kind)} in ${textOf(finding.object)}`;
          if (finding.seq != null) {
            where += ` at seq ${textOf(finding.seq)}`;
          }
          if (finding.line != null) {
            where += `, line ${textOf(finding.line)}`;
          }
          return element("li", "finding", `${where}: ${textOf(finding.detail)}`);
        }));
        item.append(list);
      }
      return item;
    });
    if (!reports.length) {
      ui.auditVerifyResult.replaceChildren(element("p", "hint", "No audit logs to verify."));
      return;
    }
    const list = element("ul", "verify-list");
    list.append(...reports);
    ui.auditVerifyResult.replaceChildren(list);
  }

  // --- API tokens ----------------------------------------------------------------

  function tokenStatus(token) {
    if (token.revoked_at) {
      return "revoked";
    }
    return token.expires_at && isPast(token.expires_at) ? "expired" : "active";
  }

  function showTokens(body) {
    showList(ui.tokenList, ui.tokensEmpty, listOf(body.tokens).map(tokenItem));
  }

  function tokenItem(token) {
    const id = String(token.id ?? "");
    const status = tokenStatus(token);
    const item = entry("token", id, status);
    const badges = [badge(token.scope, "scope")];
    if (status !== "active") {
      badges.push(badge(status, status));
    }
    const about = [["Created", when(token.created_at)]];
    about.push(["Expires", token.expires_at ? when(token.expires_at) : "never"]);
    // Kept to the day: the first use of a day is written, not every one.
    about.push(["Last used", token.last_used_at ? when(token.last_used_at) : "never"]);
    if (token.revoked_at) {
      about.push(["Revoked", when(token.revoked_at)]);
    }
    item.append(titleLine(token.name, ...badges), facts(...about));
    if (status === "active") {
      const revoke = button("Revoke", "quiet danger");
      revoke.dataset.revokeToken = id;
      twoStep(revoke, "Confirm revoke", () =>
        act(sections.tokens, [revoke], async () => {
          await call("DELETE", `/admin/tokens/${part(id)}`);
          return `Token "${textOf(token.name)}" revoked.`;
        }));
      item.append(revoke);
    }
    return item;
  }

  function createToken() {
    // The previous new token, if still shown, goes first.
    ui.tokenSecretSlot.replaceChildren();
    const name = ui.tokenName.value.trim();
    act(sections.tokens, [ui.tokenCreate], async () => {
      const created = await call("POST", "/admin/tokens", {
        name,
        scope: ui.tokenScope.value,
        expires_in_days: Number(ui.tokenDays.value),
      });
      showOnce(ui.tokenSecretSlot, {
        intro: `The new ${ui.tokenScope.value} token "${name}". Copy it now: it is not shown again.`,
        value: String(created.token ?? ""),
        id: "token-secret",
        extra: [facts(["Expires", created.expires_at ? when(created.expires_at) : "never"])],
      });
      ui.tokenName.value = "";
      return `Token "${name}" created.`;
    });
  }

  // --- devices -------------------------------------------------------------------

  function showDevices(body) {
    showList(ui.deviceList, ui.devicesEmpty, listOf(body.devices).map(deviceItem));
  }

  function deviceItem(device) {
    const name = String(device.name ?? "");
    const status = device.revoked_at ? "revoked" : isPast(device.not_after) ? "expired" : "active";
    const item = entry("device", name, status);
    const about = [
      ["Serial", textOf(device.serial)],
      ["Issued", when(device.issued_at)],
      ["Valid until", when(device.not_after)],
    ];
    if (device.revoked_at) {
      about.push(["Revoked", when(device.revoked_at)]);
    }
    item.append(titleLine(name, ...(status === "active" ? [] : [badge(status, status)])), facts(...about));
    if (!device.revoked_at) {
      const revoke = button("Revoke", "quiet danger");
      revoke.dataset.revokeDevice = name;
      twoStep(revoke, "Confirm revoke", () =>
        act(sections.devices, [revoke], async () => {
          await call("DELETE", `/admin/devices/${part(name)}`);
          return `Device "${name}" revoked.`;
        }));
      item.append(revoke);
    }
    return item;
  }

  // A safe file name from the device's name (the server checks names; the page
  // does not rely on it for what the browser saves).
  function fileName(name) {
    return String(name ?? "").replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 63) || "device";
  }

  // The certificate, its key and the CA as downloads, offered once: each is a
  // Blob behind an object URL, revoked after a minute or on Done, after which
  // the key exists only where the owner saved it.
  let closeDownloads = () => {};

  function offerDownloads(created) {
    closeDownloads();
    const base = fileName(created.name);
    const files = [
      ["device-download-certificate", `${base}.crt`, created.certificate_pem, "Certificate"],
      ["device-download-key", `${base}.key`, created.key_pem, "Private key"],
      ["device-download-ca", "ca.crt", created.ca_pem, "CA certificate"],
    ];
    const urls = [];
    const links = element("ul", "downloads");
    for (const [id, file, pem, label] of files) {
      const url = URL.createObjectURL(new Blob([String(pem ?? "")], { type: "application/x-pem-file" }));
      urls.push(url);
      const download = link(`${label} (${file})`, url);
      download.id = id;
      download.setAttribute("download", file);
      const item = element("li");
      item.append(download);
      links.append(item);
    }
    const box = element("div", "once");
    box.setAttribute("role", "group");
    box.setAttribute("aria-label", "The new device's files");
    const done = button("Done");
    done.id = "device-done";
    box.append(
      element("p", "once-intro",
        `Download the three files for "${textOf(created.name)}" now: they are offered for one minute, once.`),
      links,
      facts(["Serial", textOf(created.serial)], ["Valid until", when(created.not_after)]),
      done,
    );
    let timer = 0;
    const close = (message) => {
      clearTimeout(timer);
      urls.forEach((url) => URL.revokeObjectURL(url));
      urls.length = 0;
      ui.deviceDownloadSlot.replaceChildren(...(message ? [element("p", "hint", message)] : []));
      closeDownloads = () => {};
    };
    timer = setTimeout(
      () => close("The download links have expired. If a file is missing, revoke the device and issue it again."),
      DOWNLOAD_MS,
    );
    done.addEventListener("click", () => close(""));
    closeDownloads = () => close("");
    ui.deviceDownloadSlot.replaceChildren(box);
  }

  function issueDevice() {
    closeDownloads();
    const name = ui.deviceName.value.trim();
    act(sections.devices, [ui.deviceIssue], async () => {
      const created = await call("POST", "/admin/devices", { name, days: Number(ui.deviceDays.value) });
      offerDownloads(created || {});
      ui.deviceName.value = "";
      return `Certificate for "${name}" issued.`;
    });
  }

  // --- passkeys ------------------------------------------------------------------

  function showPasskeys(body) {
    showList(ui.passkeyList, ui.passkeysEmpty, listOf(body.passkeys).map(passkeyItem));
  }

  function passkeyItem(passkey) {
    const id = String(passkey.id ?? "");
    const item = entry("passkey", id);
    const title = element("p", "item-title");
    title.append(element("strong", null, "Passkey "), element("code", "item-name id", id));
    item.append(title, facts(
      ["Added", when(passkey.created_at)],
      ["Last used", passkey.last_used_at ? when(passkey.last_used_at) : "never"],
    ));
    const remove = button("Remove", "quiet danger");
    remove.dataset.removePasskey = id;
    twoStep(remove, "Confirm remove", () =>
      act(sections.passkeys, [remove], async () => {
        await call("DELETE", `/admin/passkeys/${part(id)}`);
        return "Passkey removed.";
      }));
    item.append(remove);
    return item;
  }

  function addPasskey() {
    ui.setupLinkSlot.replaceChildren();
    act(sections.passkeys, [ui.passkeyAdd], async () => {
      const created = await call("POST", "/admin/passkeys/setup-link");
      showOnce(ui.setupLinkSlot, {
        intro: "Open this link on the device that will hold the new passkey. It works once.",
        value: String(created.link ?? ""),
        id: "setup-link",
        extra: [facts(["Expires", when(created.expires_at)])],
      });
      return "Setup link made.";
    });
  }

  // --- sessions ------------------------------------------------------------------

  function showSessions(body) {
    showList(ui.sessionList, ui.sessionsEmpty, listOf(body.sessions).map(sessionItem));
  }

  function sessionItem(session) {
    const id = String(session.id ?? "");
    const item = entry("session", id);
    item.append(
      titleLine(session.subject, badge(session.method, "method")),
      facts(
        ["Email", session.email ?? "none"],
        ["Started", when(session.created_at)],
        ["Ends", when(session.expires_at)],
      ),
    );
    const end = button("End", "quiet danger");
    end.dataset.endSession = id;
    twoStep(end, "Confirm end", () =>
      act(sections.sessions, [end], async () => {
        await call("DELETE", `/admin/sessions/${part(id)}`);
        return "Session ended.";
      }));
    item.append(end);
    return item;
  }

  // --- wiring --------------------------------------------------------------------

  function wire() {
    ui.tokenForm.addEventListener("submit", (event) => {
      event.preventDefault();
      createToken();
    });
    ui.deviceForm.addEventListener("submit", (event) => {
      event.preventDefault();
      issueDevice();
    });
    ui.passkeyAdd.addEventListener("click", addPasskey);
    ui.auditFilter.addEventListener("submit", (event) => {
      event.preventDefault();
      applyAuditFilter();
    });
    ui.auditReset.addEventListener("click", () => {
      ui.auditType.value = "";
      ui.auditPrincipal.value = "";
      ui.auditSince.value = "";
      ui.auditUntil.value = "";
      applyAuditFilter();
    });
    ui.auditOlder.addEventListener("click", olderAudit);
    ui.auditVerify.addEventListener("click", verifyAudit);
    ui.logout.addEventListener("click", async () => {
      ui.logout.disabled = true;
      page.leaving = true;
      try {
        await fetch("/auth/logout", { method: "POST", credentials: "same-origin", cache: "no-store" });
      } catch {
        // Signed out or not, the way on is the login page.
      }
      location.assign("/login");
    });
    followWidth();
    activity.wire();
    pairing.wire();
  }

  async function start() {
    wire();
    await Promise.allSettled([...Object.values(sections).map(load), verifyAudit()]);
    document.body.dataset.state = "ready";
    poll(sections.approvals, POLL_MS);
    poll(sections.shells, SHELLS_POLL_MS);
    poll(sections.browser, BROWSER_POLL_MS);
  }

  start();
})();
