// The shared part of hardshell's admin page, the part no section owns: text from
// the server made safe to show, talking to the server, each section's status
// line and loads, secrets shown once, two-step buttons, list items and SVG. The
// sections themselves, and what the page asks the server, are in admin.js,
// admin-activity.js, admin-pairing.js and admin-parts.js.
//
// Served as /admin/admin-kit.js before the section files, next to /admin
// (admin.html) and /admin/admin.css, under the edge's pages' policy
// (PAGE_CONTENT_SECURITY_POLICY in response.rs): scripts, styles and requests
// from this origin only, and `require-trusted-types-for 'script';
// trusted-types 'none'`. So it uses no eval, no inline script or style, nothing
// from elsewhere, and never hands a string to an HTML sink (Trusted Types with
// no policy would throw).
//
// Everything the server sends is untrusted here: principal, token and model
// names, commands an agent wrote, every audit field. It reaches the page only
// as text (textContent, or an attribute with a fixed name) and only after
// visible(), which shows control and direction-changing characters as
// \u{XXXX}, so a name cannot hide part of itself or reorder what is shown
// around it.
//
// Exposes one frozen object, hardshellAdminKit, which admin.js,
// admin-activity.js, admin-pairing.js and admin-parts.js take apart. The page's state (`page`) lives here, and
// admin.js reaches it through the kit.

"use strict";

(() => {
  const LOGIN = "/login?next=/admin";
  const CONFIRM_MS = 5_000; // how long a destructive button waits for its second click
  const MAX_ERROR_TEXT = 300; // an error body longer than this is cut: it is a hint, not a page
  // The edge's fixed words for a 403 the owner can cure by signing in again
  // (response.rs, forbidden_because); any other 403 is "not an admin".
  const NEEDS_FRESH = /needs a recent login|needs an interactive login/;
  const SVG = "http://www.w3.org/2000/svg";

  const $ = (id) => document.getElementById(id);

  // The nodes the kit changes outside any section: a principal who is not an
  // admin sees the page's status line alone.
  const pageNodes = { main: $("main"), pageStatus: $("page-status") };

  // Shared with admin.js (exported below).
  const page = {
    leaving: false, // on the way to the login page: nothing more to show
    forbidden: false, // not an admin: every section is hidden
  };

  // --- untrusted text ------------------------------------------------------------

  // C0 controls but tab and newline, DEL, C1 controls, the characters that
  // change text direction (ALM, LRM, RLM, the embeddings, overrides and
  // isolates) and the ones that take no room (zero-width space and joiners,
  // word joiner, byte order mark): a command must not look like another.
  const HIDDEN_CHARACTERS =
    /[\u0000-\u0008\u000B-\u001F\u007F-\u009F\u061C\u200B-\u200F\u202A-\u202E\u2060-\u2069\uFEFF]/g;

  function visible(text) {
    return String(text ?? "").replace(
      HIDDEN_CHARACTERS,
      (character) => `\\u{${character.codePointAt(0).toString(16).toUpperCase().padStart(4, "0")}}`,
    );
  }

  // A value from JSON as one line of text: strings as they are, the rest as JSON.
  function textOf(value) {
    return typeof value === "string" ? value : String(JSON.stringify(value));
  }

  function listOf(value) {
    return Array.isArray(value) ? value : [];
  }

  // Every element with text is made here, and every text goes through visible().
  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined && text !== null) {
      node.textContent = visible(text);
    }
    return node;
  }

  function button(label, className) {
    const node = element("button", className, label);
    node.type = "button";
    return node;
  }

  function link(label, href) {
    const node = element("a", null, label);
    node.setAttribute("href", href);
    return node;
  }

  // A time in the reader's locale, the exact value in its title.
  function when(iso) {
    const node = element("time");
    const date = typeof iso === "string" ? new Date(iso) : null;
    if (!date || Number.isNaN(date.getTime())) {
      node.textContent = visible(iso ?? "unknown");
      return node;
    }
    node.setAttribute("datetime", iso);
    node.setAttribute("title", visible(iso));
    node.textContent = date.toLocaleString();
    return node;
  }

  function isPast(iso) {
    const time = Date.parse(iso);
    return !Number.isNaN(time) && time <= Date.now();
  }

  // A count from JSON in the reader's locale; anything else as "?".
  function count(value) {
    const number = Number(value);
    return Number.isFinite(number) ? number.toLocaleString() : "?";
  }

  // --- talking to the server -----------------------------------------------------

  class SignedOut extends Error {}

  class Refused extends Error {
    constructor(method, path, status, text) {
      super(`${method} ${path} answered ${status}`);
      this.status = status;
      this.text = text;
    }
  }

  function toLogin() {
    if (!page.leaving) {
      page.leaving = true;
      location.assign(LOGIN);
    }
  }

  async function call(method, path, body) {
    const options = {
      method,
      credentials: "same-origin",
      cache: "no-store",
      headers: { Accept: "application/json" },
    };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch(path, options);
    if (response.status === 401) {
      toLogin();
      throw new SignedOut();
    }
    if (!response.ok) {
      const text = await response.text().catch(() => "");
      throw new Refused(method, path, response.status, text.trim().slice(0, MAX_ERROR_TEXT));
    }
    return response.status === 204 ? null : response.json();
  }

  const part = encodeURIComponent;

  // --- sections, their status lines and their loads ------------------------------

  // Each section: its node, its status line, and how it loads (fetch, then
  // render). A load that is overtaken by a newer one does not render, so a slow
  // answer cannot put back what a later one removed.
  function section(id, fetchIt, render, { optional = false } = {}) {
    return {
      id,
      node: $(id),
      status: $(`${id}-status`),
      fetchIt,
      render,
      optional,
      generation: 0, // bumped per load
      failed: false, // the last load failed: its error is on the status line
    };
  }

  function say(sec, message) {
    sec.status.classList.remove("error");
    sec.status.textContent = visible(message);
  }

  function explain(error) {
    if (error instanceof Refused) {
      return error.text
        ? `hardshell answered ${error.status}: ${error.text}`
        : `hardshell answered ${error.status}.`;
    }
    if (error instanceof SyntaxError) {
      return "hardshell's answer could not be read. Reload the page to try again.";
    }
    return "hardshell could not be reached. Check the connection and try again.";
  }

  // Shows why something failed in the section's status line. A 403 is either a
  // login too old for this action (say so, and offer a new one) or not an
  // admin at all (then the page shows nothing else).
  function report(sec, error) {
    if (error instanceof SignedOut || page.leaving) {
      return;
    }
    if (error instanceof Refused && error.status === 403) {
      if (!NEEDS_FRESH.test(error.text)) {
        notAdmin();
        return;
      }
      sec.status.classList.add("error");
      const reason = error.text.replace(/\.$/, "");
      sec.status.replaceChildren(
        element("span", null, `${reason.charAt(0).toUpperCase()}${reason.slice(1)}. `),
        link("Sign in again", LOGIN),
      );
      return;
    }
    sec.status.classList.add("error");
    sec.status.textContent = visible(explain(error));
  }

  function notAdmin() {
    page.forbidden = true;
    pageNodes.main.hidden = true;
    document.querySelector(".jump").hidden = true;
    pageNodes.pageStatus.textContent = "This page is for admins.";
    pageNodes.pageStatus.hidden = false;
  }

  function hide(sec) {
    sec.node.hidden = true;
    const entry = document.querySelector(`[data-nav="${sec.id}"]`);
    if (entry) {
      entry.hidden = true;
    }
  }

  async function load(sec) {
    if (sec.node.hidden || page.forbidden || page.leaving) {
      return;
    }
    const generation = ++sec.generation;
    sec.node.setAttribute("aria-busy", "true");
    try {
      const body = await sec.fetchIt();
      if (generation !== sec.generation) {
        return;
      }
      sec.render(body || {});
      if (sec.failed) {
        sec.failed = false;
        say(sec, "");
      }
    } catch (error) {
      if (generation !== sec.generation) {
        return;
      }
      if (sec.optional && error instanceof Refused && error.status === 404) {
        hide(sec);
      } else {
        sec.failed = true;
        report(sec, error);
      }
    } finally {
      if (generation === sec.generation) {
        sec.node.removeAttribute("aria-busy");
      }
    }
  }

  // An action in a section: its controls are disabled while it runs, then the
  // section is loaded again (the server is the record of what happened, also
  // when the action failed), then its outcome is said.
  async function act(sec, controls, work) {
    for (const control of controls) {
      control.disabled = true;
    }
    say(sec, "");
    let message = "";
    try {
      message = await work();
    } catch (error) {
      report(sec, error);
      message = "";
    }
    await load(sec);
    for (const control of controls) {
      control.disabled = false;
    }
    if (message) {
      say(sec, message);
    }
  }

  // A destructive button asks for a second click instead of a confirm() dialog
  // (which blocks the page, and a headless test with it): the first click turns
  // it into "Confirm …" for a few seconds, the second acts.
  function twoStep(node, confirmLabel, action) {
    const label = node.textContent;
    let timer = 0;
    const disarm = () => {
      clearTimeout(timer);
      timer = 0;
      node.textContent = label;
      delete node.dataset.armed;
    };
    node.addEventListener("click", () => {
      if (!timer) {
        node.textContent = confirmLabel;
        node.dataset.armed = "true";
        timer = setTimeout(disarm, CONFIRM_MS);
        return;
      }
      disarm();
      action();
    });
    return node;
  }

  // --- list items ----------------------------------------------------------------

  // A list item for a thing the server lists: its key in a data attribute the
  // page's test selects on, a title line, a line of facts.
  function entry(kind, key, status) {
    const item = element("li", `item ${status || ""}`.trim());
    item.dataset[kind] = key;
    if (status) {
      item.dataset.status = status;
    }
    return item;
  }

  function titleLine(name, ...badges) {
    const line = element("p", "item-title");
    line.append(element("strong", "item-name", name), ...badges);
    return line;
  }

  function badge(text, className) {
    return element("span", `badge ${className || ""}`.trim(), text);
  }

  // Facts as label and value pairs; a value is text or a node (a time).
  function facts(...pairs) {
    const line = element("p", "item-meta");
    for (const [label, value] of pairs) {
      const fact = element("span", "fact");
      fact.append(element("span", "fact-label", `${label} `));
      fact.append(value instanceof Node ? value : element("span", null, value));
      line.append(fact);
    }
    return line;
  }

  function showList(list, empty, items) {
    list.replaceChildren(...items);
    empty.hidden = items.length > 0;
  }

  // --- secrets shown once --------------------------------------------------------

  // A secret in a <code> with Copy and Done. Done (or the next secret in the
  // same place) removes it from the page; the page keeps no other copy.
  function showOnce(slot, { intro, value, id, extra = [] }) {
    const box = element("div", "once");
    box.setAttribute("role", "group");
    box.setAttribute("aria-label", visible(intro));
    const code = element("code", "secret", value);
    code.id = id;
    const copy = button("Copy", "quiet");
    copy.id = `${id}-copy`;
    const done = button("Done");
    done.id = `${id}-done`;
    copy.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(value);
        copy.textContent = "Copied";
      } catch {
        // No clipboard (an insecure origin, or refused): select it for the owner.
        getSelection().selectAllChildren(code);
        copy.textContent = "Selected: copy it by hand";
      }
    });
    done.addEventListener("click", () => slot.replaceChildren());
    const buttons = element("div", "once-buttons");
    buttons.append(copy, done);
    box.append(element("p", "once-intro", intro), code, ...extra, buttons);
    slot.replaceChildren(box);
    code.scrollIntoView({ block: "nearest" });
  }

  // --- SVG -----------------------------------------------------------------------

  function svg(tag, attributes = {}) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attributes)) {
      node.setAttribute(name, String(value));
    }
    return node;
  }

  function svgText(tag, attributes, text) {
    const node = svg(tag, attributes);
    node.textContent = visible(text);
    return node;
  }

  globalThis.hardshellAdminKit = Object.freeze({
    LOGIN,
    $,
    page,
    visible,
    textOf,
    listOf,
    element,
    button,
    link,
    when,
    isPast,
    count,
    SignedOut,
    Refused,
    call,
    part,
    section,
    explain,
    report,
    load,
    act,
    twoStep,
    entry,
    titleLine,
    badge,
    facts,
    showList,
    showOnce,
    svg,
    svgText,
  });
})();
