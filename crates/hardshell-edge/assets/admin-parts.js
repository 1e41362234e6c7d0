// What this hardshell is made of, on the admin page, read-only: the browser
// sessions open now, the workload (the agent's container: its image, its
// health, where its state is kept), the modules the agent may call with what
// each was granted, and any other part the page has no view of.
//
// Served as /admin/admin-parts.js after /admin/admin-kit.js and before
// /admin/admin.js, under the same policy (admin-kit.js says which): nothing
// reaches an HTML sink. admin.js merges these sections into its own, loads
// them with the rest and refreshes the browser sessions while the page is
// visible.
//
// The API (same origin, JSON, admin only):
//
//   GET /admin/parts     {parts: [{name, status} | {name, error}]}, a part absent when
//                        it is not configured; "modules" is {modules: [{name, version,
//                        publisher, key_name, key_id, official, package, capabilities:
//                        {hosts, public_web, secrets, workspace, memory_mb, timeout_ms},
//                        tools: [{name, description}], accepted_at}]}; "workload" is
//                        {image: {reference, digest, pinned}, health, state: null |
//                        {lease, current, snapshots}}
//   GET /admin/browser   {sessions: [{id, client, conversation, started_at}], max}
//                        (404: no browser, and its section is hidden)
//
// A module is written by whoever published it, who may be hostile: its name,
// its publisher, its tools' descriptions and the hosts it names are untrusted
// text like every other server text, shown only through visible(). No value is
// trusted to have the type it should either: a number may come as a string, a
// list as an object, and the page shows "?" rather than break.

"use strict";

(() => {
  const {
    $, visible, textOf, listOf, element, when, count, // untrusted text
    call, section, // the server and sections
    entry, titleLine, badge, facts, showList, // what they show
  } = globalThis.hardshellAdminKit;

  const ui = {
    browserLimit: $("browser-limit"),
    browserList: $("browser-list"),
    browserEmpty: $("browser-empty"),
    workloadError: $("workload-error"),
    workloadView: $("workload-view"),
    workloadReference: $("workload-reference"),
    workloadDigest: $("workload-digest"),
    workloadPinned: $("workload-pinned"),
    workloadHealth: $("workload-health"),
    workloadState: $("workload-state"),
    modulesError: $("modules-error"),
    moduleList: $("module-list"),
    modulesEmpty: $("modules-empty"),
    parts: $("parts"),
    partList: $("part-list"),
  };

  const sections = {
    browser: section("browser", () => call("GET", "/admin/browser"), showBrowser, { optional: true }),
    workload: section("workload", askParts, showWorkload),
    modules: section("modules", askParts, showModules),
  };

  // The parts with a section of their own; any other is listed under "Other parts".
  const VIEWS = new Set(["workload", "modules"]);

  // The words a workload's health may be, each its badge's class: a class is
  // never made from what the server sent.
  const HEALTH = new Map([
    ["starting", "health starting"],
    ["ready", "health ready"],
    ["unhealthy", "health unhealthy"],
    ["stopped", "health stopped"],
  ]);

  const CLIENTS = new Map([
    ["edge", "the edge"],
    ["agent", "the agent"],
    ["workload", "the workload"],
  ]);

  const WORKSPACE = new Map([
    ["none", "use no workspace"],
    ["read", "read the workspace"],
    ["write", "read and write the workspace"],
  ]);

  function objectOf(value) {
    return value && typeof value === "object" && !Array.isArray(value) ? value : {};
  }

  // A number of zero or more from JSON, or from a string that reads as one;
  // anything else is null.
  function numberOf(value) {
    const number = typeof value === "number" ? value
      : typeof value === "string" && value.trim() !== "" ? Number(value)
        : NaN;
    return Number.isFinite(number) && number >= 0 ? number : null;
  }

  // A module's list of grants or tools: a single value where a list should
  // be is one entry, never none, so a grant in an odd shape is still shown.
  function entriesOf(value) {
    if (value == null) {
      return [];
    }
    return Array.isArray(value) ? value : [value];
  }

  // A grant given as a bare string, as the object it stands for.
  function grantOf(key) {
    return (value) => (typeof value === "string" ? { [key]: value } : objectOf(value));
  }

  // A list of words from JSON as one line; a single value as it is.
  function words(value) {
    if (value == null) {
      return "";
    }
    return Array.isArray(value) ? value.map(textOf).join(", ") : textOf(value);
  }

  const KIB = 1024;
  const UNITS = ["bytes", "KiB", "MiB", "GiB", "TiB"];

  function size(bytes) {
    let number = numberOf(bytes);
    if (number === null) {
      return "?";
    }
    let unit = 0;
    while (number >= KIB && unit < UNITS.length - 1) {
      number /= KIB;
      unit += 1;
    }
    return `${number.toLocaleString(undefined, { maximumFractionDigits: 1 })} ${UNITS[unit]}`;
  }

  // A time given as Unix seconds or as RFC 3339, as when() shows it.
  function instant(value) {
    if (typeof value === "number") {
      const date = new Date(value * 1000);
      return when(Number.isNaN(date.getTime()) ? String(value) : date.toISOString());
    }
    return when(typeof value === "string" ? value : textOf(value ?? "unknown"));
  }

  // A digest as its algorithm and first 12 digits, the whole of it in its title.
  const SHORT_DIGEST = "sha256:".length + 12;

  function shortDigest(value) {
    const full = textOf(value ?? "?");
    const node = element("code", "digest", full.length > SHORT_DIGEST ? `${full.slice(0, SHORT_DIGEST)}…` : full);
    node.setAttribute("title", visible(full));
    return node;
  }

  // A host and port as one; an IPv6 address in brackets, so its port cannot read as part of it.
  function hostPort(host, port) {
    const name = textOf(host ?? "?");
    const where = name.includes(":") ? `[${name}]` : name;
    return port == null ? where : `${where}:${textOf(port)}`;
  }

  // --- parts: one request for the workload's and the modules' sections ------------

  // admin.js starts every section's first load at once, so both sections ask
  // while the first request is open and share it: one request, one audit
  // record. The parts with no section of their own are listed from it too.
  let asking = null;

  function askParts() {
    asking ??= call("GET", "/admin/parts")
      .then((body) => {
        showOtherParts(objectOf(body));
        return body;
      })
      .finally(() => {
        asking = null;
      });
    return asking;
  }

  function partsOf(body) {
    return listOf(body.parts).filter((part) => part && typeof part === "object");
  }

  // A section, and its link, shown only while its part is there. The parts are
  // loaded once, with the page, so a hidden section stays hidden until a reload.
  function showIf(node, id, present) {
    node.hidden = !present;
    const jump = document.querySelector(`[data-nav="${id}"]`);
    if (jump) {
      jump.hidden = !present;
    }
  }

  // The part named as its section's id: the section hidden without it, the
  // part's reason shown when it could not be read. Its status when there is
  // one to show, else null.
  function statusOf(sec, errorNode, body) {
    const part = partsOf(body).find((candidate) => candidate.name === sec.id);
    showIf(sec.node, sec.id, part !== undefined);
    const failed = part !== undefined && part.error != null;
    errorNode.textContent = failed ? visible(`This part could not be read: ${textOf(part.error)}`) : "";
    errorNode.hidden = !failed;
    return part === undefined || failed ? null : objectOf(part.status);
  }

  // --- the workload ----------------------------------------------------------------

  function showWorkload(body) {
    const status = statusOf(sections.workload, ui.workloadError, body);
    ui.workloadView.hidden = status === null;
    if (status === null) {
      return;
    }
    const image = objectOf(status.image);
    ui.workloadReference.replaceChildren(element("code", null, textOf(image.reference ?? "?")));
    ui.workloadDigest.replaceChildren(
      image.digest == null ? element("span", null, "none") : element("code", "digest", textOf(image.digest)),
    );
    // Only a digest names one image for good: a tag can be moved to another.
    const pinned = image.pinned === true;
    ui.workloadPinned.classList.toggle("warning", !pinned);
    ui.workloadPinned.textContent = pinned
      ? "yes: the digest names the image"
      : "unpinned: the image is chosen by its tag, which its registry can point at another image";
    const health = textOf(status.health ?? "unknown");
    ui.workloadHealth.replaceChildren(badge(health, HEALTH.get(health) ?? "health"));
    ui.workloadState.replaceChildren(...stateOf(status.state));
  }

  // One label and value of the state's list; `key` names the value for the page's test.
  function stateFact(key, label, ...values) {
    const value = element("dd");
    value.dataset.fact = key;
    value.append(...values.map((part) => (part instanceof Node ? part : element("span", null, part))));
    return [element("dt", null, label), value];
  }

  function stateOf(value) {
    if (value == null) {
      return [element("p", "hint", "State is not synced to storage.")];
    }
    const state = objectOf(value);
    const list = element("dl", "facts");
    if (state.current == null) {
      list.append(...stateFact("current", "Last synced", "not yet"));
    } else {
      const current = objectOf(state.current);
      list.append(
        ...stateFact("generation", "Generation", count(current.generation)),
        ...stateFact("at", "Synced at", when(current.at)),
        ...stateFact("files", "Files", count(current.files)),
        ...stateFact("size", "Size", size(current.bytes)),
        ...stateFact("by", "Synced by", textOf(current.holder ?? "?")),
      );
    }
    // The lease: which edge may write the state now, so two cannot overwrite each other.
    if (state.lease == null) {
      list.append(...stateFact("lease", "Lease", "none: no edge holds it"));
    } else {
      const lease = objectOf(state.lease);
      list.append(...stateFact("lease", "Lease",
        `held by ${textOf(lease.holder ?? "?")} until `, when(lease.expires_at)));
    }
    list.append(...stateFact("snapshots", "Snapshots", count(state.snapshots)));
    return [list];
  }

  // --- modules ---------------------------------------------------------------------

  function showModules(body) {
    const status = statusOf(sections.modules, ui.modulesError, body);
    const modules = status === null ? [] : listOf(status.modules);
    ui.moduleList.replaceChildren(...modules.map(moduleItem));
    ui.modulesEmpty.hidden = status === null || modules.length > 0;
  }

  function moduleItem(value) {
    const from = objectOf(value);
    const name = textOf(from.name ?? "?");
    const item = entry("module", name);
    item.classList.add("module");
    const title = titleLine(name);
    if (from.version != null) {
      title.append(element("span", "module-version", textOf(from.version)));
    }
    const publisher = element("span", "publisher-fact");
    publisher.append(element("span", "publisher", textOf(from.publisher ?? "unknown")));
    if (from.official === true) {
      publisher.append(badge("official", "official"));
    }
    let key = textOf(from.key_name ?? "?");
    if (from.key_id != null) {
      key += ` (${textOf(from.key_id)})`;
    }
    const about = [
      ["Publisher", publisher],
      ["Signed with", element("span", "module-key", key)],
      ["Package", shortDigest(from.package)],
      ["Accepted", instant(from.accepted_at)],
    ];
    // Where it came from, as text: a link a module's author wrote is not followed from here.
    if (from.source != null) {
      about.push(["From", element("span", "module-source", textOf(from.source))]);
    }
    item.append(title, facts(...about), element("p", "module-head", "It may:"), grants(from.capabilities));
    const tools = entriesOf(from.tools).map(toolItem);
    if (tools.length) {
      const list = element("ul", "tools");
      list.append(...tools);
      item.append(element("p", "module-head", "Its tools:"), list);
    } else {
      item.append(element("p", "hint", "It has no tools."));
    }
    return item;
  }

  function grant(kind, className, ...parts) {
    const item = element("li", `grant ${className}`.trim());
    item.dataset.grant = kind;
    item.append(...parts.map((part) => (part instanceof Node ? part : element("span", null, part))));
    return item;
  }

  // What a module was granted when it was accepted, widest first.
  function grants(value) {
    const capabilities = objectOf(value);
    const list = element("ul", "grants");
    // Anything but a plain "no" is shown as granted: a grant in doubt is the
    // one the owner must see.
    if (capabilities.public_web != null && capabilities.public_web !== false) {
      list.append(grant("public-web", "widest",
        "reach any public web page (GET/HEAD)", badge("the widest grant", "widest")));
    }
    for (const host of entriesOf(capabilities.hosts).map(grantOf("host"))) {
      // The lock's fields (hardshell-modules' HostAccess): a scheme other
      // than https is named; no methods or path prefix means any.
      const scheme = host.scheme == null || host.scheme === "https" ? "" : `${textOf(host.scheme)}://`;
      const parts = ["reach ", element("code", "host", scheme + hostPort(host.host, host.port))];
      const methods = words(host.methods);
      parts.push(methods ? ` with ${methods}` : " with any method");
      parts.push(host.path_prefix == null ? ", any path" : `, paths under ${textOf(host.path_prefix)}`);
      list.append(grant("host", "", ...parts));
    }
    for (const secret of entriesOf(capabilities.secrets).map(grantOf("name"))) {
      const parts = ["use the secret ", element("code", "secret-name", textOf(secret.name ?? "?"))];
      if (secret.host == null) {
        parts.push(" (no host is named for it)");
      } else {
        parts.push(", sent only to ", element("code", "host", textOf(secret.host)));
      }
      if (secret.header != null) {
        parts.push(` in its ${textOf(secret.header)} header`);
      }
      list.append(grant("secret", "", ...parts));
    }
    if (capabilities.workspace != null) {
      const workspace = textOf(capabilities.workspace);
      list.append(grant("workspace", "", WORKSPACE.get(workspace) ?? `have workspace access "${workspace}"`));
    }
    const limits = [];
    if (capabilities.memory_mb != null) {
      const megabytes = numberOf(capabilities.memory_mb);
      limits.push(`${megabytes === null ? "?" : megabytes.toLocaleString()} MB of memory`);
    }
    if (capabilities.timeout_ms != null) {
      const milliseconds = numberOf(capabilities.timeout_ms);
      limits.push(milliseconds === null ? "? s a call"
        : `${(milliseconds / 1000).toLocaleString(undefined, { maximumFractionDigits: 3 })} s a call`);
    }
    if (limits.length) {
      list.append(grant("limits", "", `use at most ${limits.join(" and ")}`));
    }
    if (!list.children.length) {
      list.append(grant("nothing", "", "reach nothing outside its own code"));
    }
    return list;
  }

  function toolItem(value) {
    const tool = grantOf("name")(value);
    const item = element("li", "tool");
    item.append(element("code", "tool-name", textOf(tool.name ?? "?")));
    if (tool.description != null) {
      item.append(element("span", "tool-description", textOf(tool.description)));
    }
    return item;
  }

  // --- other parts -------------------------------------------------------------------

  function showOtherParts(body) {
    const others = partsOf(body).filter((part) => !VIEWS.has(part.name));
    ui.partList.replaceChildren(...others.map(otherPart));
    showIf(ui.parts, "parts", others.length > 0);
  }

  function otherPart(part) {
    const item = entry("part", textOf(part.name ?? "?"));
    item.append(titleLine(textOf(part.name ?? "?")));
    item.append(part.error == null
      ? element("p", "hint", "This page has no view of it.")
      : element("p", "error part-error", `It could not be read: ${textOf(part.error)}`));
    return item;
  }

  // --- browser sessions ----------------------------------------------------------------

  function running(iso) {
    const started = typeof iso === "string" ? Date.parse(iso) : NaN;
    if (Number.isNaN(started)) {
      return "?";
    }
    const minutes = Math.max(0, Math.floor((Date.now() - started) / 60_000));
    if (minutes < 1) {
      return "under a minute";
    }
    if (minutes < 60) {
      return `${minutes} min`;
    }
    const hours = Math.floor(minutes / 60);
    return hours < 48 ? `${hours} h ${minutes % 60} min` : `${Math.floor(hours / 24)} days`;
  }

  function showBrowser(body) {
    const sessions = listOf(body.sessions);
    const max = numberOf(body.max);
    ui.browserLimit.textContent = max === null ? "" : `At most ${count(max)} open at once.`;
    ui.browserLimit.hidden = max === null;
    showList(ui.browserList, ui.browserEmpty, sessions.map(browserItem));
  }

  function browserItem(value) {
    const from = objectOf(value);
    const id = textOf(from.id ?? "?");
    const client = textOf(from.client ?? "?");
    const item = entry("browserSession", id);
    item.dataset.client = client;
    item.append(
      titleLine(`Opened by ${CLIENTS.get(client) ?? client}`),
      facts(
        ["Running for", element("span", "running", running(from.started_at))],
        ["Since", when(from.started_at)],
        ["Id", element("code", "id", id)],
        ["Conversation", from.conversation == null ? "none" : element("code", "conversation", textOf(from.conversation))],
      ),
    );
    return item;
  }

  globalThis.hardshellAdminParts = Object.freeze({ sections });
})();
