// hardshell's chat page: the signed-in principal's chats with the built-in agent.
//
// Served as /chat.js next to / (chat.html) and /chat.css, under
//   Content-Security-Policy: default-src 'self'; script-src 'self'; style-src 'self'
// so it uses no eval, no inline script or style, and nothing from elsewhere.
//
// Endpoints (all same-origin; the session cookie rides along, and fetch() sends
// our own Origin, which the edge requires on cookie requests that change state):
//
//   GET  /auth/whoami                  -> 200 {"subject", "email", ...} | 401
//   POST /auth/logout                  -> 204
//   GET  /api/sessions                 -> {"sessions": [{"id", "title", "created", "updated", "message_count"}]}
//   POST /api/sessions                 -> 201 {"id"} (nothing is stored until a message is)
//   GET  /api/sessions/{id}            -> {"messages": [{"seq", "at", "message": {"role", "content": [part]}}],
//                                          "waiting": [{"id", "command"}]}
//        part: {"type": "text", "text"} | {"type": "tool_call", "id", "name", "arguments"}
//              | {"type": "tool_result", "call_id", "content", "is_error"}
//   POST /api/sessions/{id}/messages   {"text"} -> text/event-stream of
//        accepted {"seq"} · delta {"text"} · tool {"name", "state", "ok"}
//        · approval {"id", "command", "reason"?} · approval_resolved {"id", "approved"}
//        · command {"command", "decision"} · commands_missed {"count"}
//        · screenshot {"id"}: GET /api/sessions/{id}/screenshots/{id} (image/png)
//        · file {"id", "name", "size"}: GET /api/sessions/{id}/files/{id}, always a
//          download (application/octet-stream, Content-Disposition: attachment)
//        · done {"usage"} · error {"message"}
//   POST /api/sessions/{id}/approvals/{approval}  {"approve": bool} -> 204 | 404 (expired) | 409
//
// An approval is the agent asking to run a command that [exec] allow does not
// cover; the turn waits until it is answered here (or the question expires).
// Its command, how it ended, and every command that ran (listed or approved)
// are the edge's own record, never the agent's words: what is shown here is
// what runs.
//
// A 401 from any of them means the session is gone: the page goes to /login.
//
// Everything a message holds is untrusted (the model's words, tool output, what
// anyone typed): it reaches the page through textContent only, never as HTML.
// The agent's words are Markdown, made into page nodes by markdown.js (loaded
// before this script), which holds to the same rule.

"use strict";

(() => {
  const ui = {
    who: document.getElementById("who"),
    logout: document.getElementById("logout"),
    drawerToggle: document.getElementById("drawer-toggle"),
    chats: document.getElementById("chats"),
    scrim: document.getElementById("scrim"),
    newChat: document.getElementById("new-chat"),
    chatsEmpty: document.getElementById("chats-empty"),
    sessionList: document.getElementById("session-list"),
    scroller: document.getElementById("scroller"),
    conversationEmpty: document.getElementById("conversation-empty"),
    messages: document.getElementById("messages"),
    composer: document.getElementById("composer"),
    message: document.getElementById("message"),
    send: document.getElementById("send"),
    status: document.getElementById("status"),
  };

  const page = {
    sessions: [], // as listed by the server, newest first
    fresh: null, // the id of a new chat that has no message yet, so is not listed
    current: null, // the id of the chat on screen
    busy: false, // a turn is running
    loads: 0, // bumped per history load, so a slow answer cannot overwrite a newer one
  };

  // --- talking to the server ---------------------------------------------------

  class SignedOut extends Error {}

  class ServerRefused extends Error {
    constructor(path, status) {
      super(`${path} answered ${status}`);
      this.status = status;
    }
  }

  function goToLogin() {
    location.replace("/login");
  }

  async function call(method, path, body) {
    const options = { method, credentials: "same-origin", cache: "no-store", headers: {} };
    if (method !== "GET") {
      options.headers["Content-Type"] = "application/json";
      options.body = body === undefined ? undefined : JSON.stringify(body);
    }
    const response = await fetch(path, options);
    if (response.status === 401) {
      goToLogin();
      throw new SignedOut();
    }
    if (!response.ok) {
      throw new ServerRefused(path, response.status);
    }
    return response;
  }

  function sessionPath(id) {
    return `/api/sessions/${encodeURIComponent(id)}`;
  }

  // Server-sent events from a fetch() body (EventSource cannot POST), parsed as
  // the HTML standard's event-stream: "field: value" lines, an event ends at a
  // blank line, lines end in LF, CRLF or CR, lines starting with ":" are comments.
  async function* serverEvents(body) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let name = "";
    let data = [];
    for (;;) {
      const { value, done } = await reader.read();
      if (done) {
        return;
      }
      buffer += value;
      // A CR at the very end may be the first half of a CRLF: wait for more.
      const complete = buffer.endsWith("\r") ? buffer.length - 1 : buffer.length;
      const lines = buffer.slice(0, complete).split(/\r\n|\r|\n/);
      buffer = lines.pop() + buffer.slice(complete);
      for (const line of lines) {
        if (line === "") {
          if (data.length) {
            yield { name: name || "message", data: data.join("\n") };
          }
          name = "";
          data = [];
          continue;
        }
        if (line.startsWith(":")) {
          continue;
        }
        const colon = line.indexOf(":");
        const field = colon === -1 ? line : line.slice(0, colon);
        let text = colon === -1 ? "" : line.slice(colon + 1);
        if (text.startsWith(" ")) {
          text = text.slice(1);
        }
        if (field === "event") {
          name = text;
        } else if (field === "data") {
          data.push(text);
        }
      }
    }
  }

  // --- building the page (textContent only) -----------------------------------

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined) {
      node.textContent = text;
    }
    return node;
  }

  function say(message) {
    ui.status.textContent = message;
  }

  function nearBottom() {
    const s = ui.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < 80;
  }

  function scrollToEnd() {
    ui.scroller.scrollTop = ui.scroller.scrollHeight;
  }

  const AUTHORS = { user: "You", assistant: "hardshell", tool: "Tool results" };

  function messageItem(role) {
    const item = element("li", `message ${role}`);
    item.append(element("span", "author", AUTHORS[role] || role));
    return item;
  }

  function toolCall(part) {
    const details = element("details", "tool");
    const summary = element("summary", null, "Used ");
    summary.append(element("code", null, part.name));
    details.append(summary, element("pre", null, part.arguments || ""));
    return details;
  }

  function toolResult(part) {
    const details = element("details", part.is_error ? "tool failed" : "tool");
    details.append(
      element("summary", null, part.is_error ? "Tool result (failed)" : "Tool result"),
      element("pre", null, part.content || ""),
    );
    return details;
  }

  // The agent's words as Markdown (markdown.js: page nodes from a safe subset,
  // never HTML); the source is kept on the element, as the owner's is shown.
  function showMarkdown(node, source) {
    node.classList.add("markdown");
    node.dataset.source = source;
    node.replaceChildren(hardshellMarkdown.render(source));
  }

  function storedMessage(stored) {
    const message = (stored && stored.message) || {};
    const item = messageItem(message.role);
    for (const part of message.content || []) {
      if (part.type === "text" && message.role === "assistant") {
        const text = element("div", "text");
        showMarkdown(text, String(part.text || ""));
        item.append(text);
      } else if (part.type === "text") {
        item.append(element("div", "text", part.text));
      } else if (part.type === "tool_call") {
        item.append(toolCall(part));
      } else if (part.type === "tool_result") {
        item.append(toolResult(part));
      }
    }
    return item;
  }

  // A command waiting for the owner's yes or no. The command is shown as text,
  // exactly as it would run; the buttons answer once. `reason`, the edge's own
  // words, says why it is asked when the command alone is not why (the chat
  // has read web pages).
  function approvalCard(session, id, command, reason) {
    const card = element("div", "approval");
    card.dataset.approval = id;
    card.setAttribute("role", "group");
    card.setAttribute("aria-label", "Command waiting for your approval");
    const question = element("p", "approval-question", "hardshell wants to run this command in its workspace:");
    const text = element("pre", "approval-command", command);
    const why = element("p", "approval-reason", reason ? `Asked because ${reason}.` : "");
    why.hidden = !reason;
    const buttons = element("div", "approval-buttons");
    const run = element("button", "approve", "Run it");
    const refuse = element("button", "refuse quiet", "Don't run");
    run.type = "button";
    refuse.type = "button";
    const outcome = element("p", "approval-outcome");
    outcome.setAttribute("aria-live", "polite");
    buttons.append(run, refuse);
    card.append(question, text, why, buttons, outcome);
    const answer = async (approve) => {
      run.disabled = true;
      refuse.disabled = true;
      try {
        await call("POST", `${sessionPath(session)}/approvals/${encodeURIComponent(id)}`, { approve });
        outcome.textContent = approve ? "Approved: running…" : "Refused: it will not run.";
      } catch (error) {
        if (error instanceof SignedOut) {
          return;
        }
        outcome.textContent =
          error instanceof ServerRefused && error.status === 404
            ? "This question has expired: the command did not run."
            : explain(error);
      }
    };
    run.addEventListener("click", () => answer(true));
    refuse.addEventListener("click", () => answer(false));
    return {
      card,
      resolved(approved) {
        run.disabled = true;
        refuse.disabled = true;
        card.classList.add(approved ? "approved" : "refused");
        if (!outcome.textContent || outcome.textContent.startsWith("Approved")) {
          outcome.textContent = approved ? "Approved: it ran." : "Not run.";
        }
      },
    };
  }

  function showConversation(items) {
    ui.messages.replaceChildren(...items);
    ui.conversationEmpty.hidden = items.length > 0;
  }

  function addToConversation(item) {
    ui.messages.append(item);
    ui.conversationEmpty.hidden = true;
  }

  // The reply being streamed: its text arrives in pieces. The text is a live
  // region, busy until the turn ends, so a screen reader reads it once, whole.
  function streamingReply(session) {
    const item = messageItem("assistant");
    const approvals = new Map();
    const tools = element("ul", "tool-events");
    const text = element("div", "text pending");
    text.setAttribute("aria-live", "polite");
    text.setAttribute("aria-busy", "true");
    item.append(tools, text);
    addToConversation(item);
    // The reply so far is drawn again at most once a frame, however many
    // pieces arrive in it.
    let source = "";
    let frame = 0;
    const draw = () => {
      frame = 0;
      const follow = nearBottom();
      showMarkdown(text, source);
      if (follow) {
        scrollToEnd();
      }
    };
    return {
      item,
      add(piece) {
        text.classList.remove("pending");
        source += piece;
        if (!frame) {
          frame = requestAnimationFrame(draw);
        }
      },
      tool(event) {
        const name = String(event.name || "tool");
        const entry = [...tools.children].find((li) => li.dataset.tool === name && li.dataset.state === "started");
        const line = entry || element("li", "tool-event");
        line.dataset.tool = name;
        line.dataset.state = event.state;
        if (event.state === "started") {
          line.textContent = `Running ${name}…`;
        } else {
          line.textContent = event.ok ? `Ran ${name}` : `${name} failed`;
          line.classList.toggle("failed", !event.ok);
        }
        if (!entry) {
          tools.append(line);
        }
      },
      approval(event) {
        const id = String(event.id || "");
        const card = approvalCard(session, id, String(event.command || ""), event.reason ? String(event.reason) : "");
        approvals.set(id, card);
        item.insertBefore(card.card, text);
        scrollToEnd();
        say("A command waits for your approval.");
      },
      // A command the edge ran in this chat's workspace, as it ran it.
      command(event) {
        const why = event.decision === "approved" ? "you approved it" : "it is allowed without asking";
        const line = element("li", "tool-event");
        line.append(
          element("span", undefined, `Ran this command (${why}):`),
          element("pre", "approval-command", String(event.command || "")),
        );
        tools.append(line);
      },
      // A screenshot the agent's browser took: the edge's own copy, by number.
      screenshot(event) {
        const id = Number(event.id);
        if (!Number.isSafeInteger(id) || id < 1) {
          return;
        }
        const figure = element("figure", "screenshot");
        const image = element("img");
        image.src = `${sessionPath(session)}/screenshots/${id}`;
        image.alt = "A screenshot taken by the agent's browser";
        image.loading = "lazy";
        figure.append(image, element("figcaption", undefined, "The agent's browser, as it saw the page."));
        item.insertBefore(figure, text);
        scrollToEnd();
      },
      // A file the agent shared from its workspace: a download link to the
      // edge's copy. A shell wrote it, so it is never shown in the page.
      file(event) {
        const id = String(event.id || "");
        if (!/^[0-9a-f]{1,64}$/.test(id)) {
          return;
        }
        const name = String(event.name || "file");
        const size = Number(event.size) || 0;
        const line = element("li", "tool-event");
        const link = element("a", undefined, name);
        link.href = `${sessionPath(session)}/files/${id}`;
        link.download = name;
        line.append(element("span", undefined, "The agent shared a file: "), link, element("span", undefined, ` (${size} bytes)`));
        tools.append(line);
        scrollToEnd();
      },
      commandsMissed(event) {
        const count = Number(event.count) || 0;
        tools.append(element("li", "tool-event failed", `${count} more commands ran that this page could not show.`));
      },
      approvalResolved(event) {
        const card = approvals.get(String(event.id || ""));
        if (card) {
          card.resolved(Boolean(event.approved));
        }
        say("hardshell is replying…");
      },
      finish() {
        if (frame) {
          cancelAnimationFrame(frame);
          draw();
        }
        text.classList.remove("pending");
        text.setAttribute("aria-busy", "false");
        if (!text.textContent) {
          text.remove();
        }
      },
      fail(message) {
        this.finish();
        const error = element("p", "error", message);
        error.setAttribute("role", "alert");
        item.classList.add("failed");
        item.append(error);
        scrollToEnd();
      },
    };
  }

  // --- sessions ----------------------------------------------------------------

  function timeLabel(iso) {
    const when = new Date(iso);
    if (Number.isNaN(when.getTime())) {
      return "";
    }
    const today = new Date().toDateString() === when.toDateString();
    return today
      ? when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
      : when.toLocaleDateString([], { day: "numeric", month: "short" });
  }

  function sessionEntry(id, title, updated) {
    const item = element("li");
    const button = element("button", "session");
    button.type = "button";
    button.dataset.id = id;
    button.append(element("span", "session-title", title));
    if (updated) {
      const time = element("time", "session-time", timeLabel(updated));
      time.dateTime = updated;
      button.append(time);
    }
    if (id === page.current) {
      button.setAttribute("aria-current", "true");
    }
    button.addEventListener("click", () => {
      closeDrawer();
      select(id);
    });
    item.append(button);
    return item;
  }

  function showSessions() {
    const entries = [];
    if (page.fresh && !page.sessions.some((s) => s.id === page.fresh)) {
      entries.push(sessionEntry(page.fresh, "New chat", null));
    }
    for (const session of page.sessions) {
      entries.push(sessionEntry(session.id, session.title || "Untitled chat", session.updated));
    }
    ui.sessionList.replaceChildren(...entries);
    ui.chatsEmpty.hidden = entries.length > 0;
  }

  async function loadSessions() {
    const response = await call("GET", "/api/sessions");
    const listed = (await response.json()).sessions || [];
    // Newest first, by last activity.
    listed.sort((a, b) => String(b.updated).localeCompare(String(a.updated)));
    page.sessions = listed;
    showSessions();
  }

  async function select(id) {
    page.current = id;
    history.replaceState(null, "", `#chat=${encodeURIComponent(id)}`);
    showSessions();
    const load = ++page.loads;
    if (id === page.fresh) {
      showConversation([]);
      return;
    }
    const response = await call("GET", sessionPath(id));
    const body = await response.json();
    const messages = body.messages || [];
    if (load !== page.loads) {
      return;
    }
    // Questions still open from a turn this page did not start (another tab,
    // a reload, `hardshell chat`) can be answered here too.
    const waiting = (body.waiting || []).map((w) => {
      const item = messageItem("assistant");
      item.append(approvalCard(id, String(w.id || ""), String(w.command || "")).card);
      return item;
    });
    showConversation([...messages.map(storedMessage), ...waiting]);
    scrollToEnd();
  }

  async function newChat() {
    const response = await call("POST", "/api/sessions");
    const { id } = await response.json();
    page.fresh = id;
    await select(id);
    say("New chat started.");
  }

  // --- a turn ---------------------------------------------------------------------

  function setBusy(busy) {
    page.busy = busy;
    ui.message.disabled = busy;
    ui.send.disabled = busy;
    ui.composer.setAttribute("aria-busy", String(busy));
  }

  function explain(error) {
    if (error instanceof ServerRefused) {
      switch (error.status) {
        case 400:
        case 413:
          return "hardshell did not accept this message. It may be too long.";
        case 404:
          return "This chat was not found. Start a new chat.";
        case 429:
          return "Too many requests. Wait a moment and try again.";
        case 503:
          return "hardshell's agent is not running right now. Try again in a moment.";
        default:
          return `hardshell answered with an error (${error.status}). Please try again.`;
      }
    }
    return "The connection to hardshell was lost. Please try again.";
  }

  async function runTurn(text) {
    if (!page.current) {
      await newChat();
    }
    const session = page.current;
    const sent = messageItem("user");
    sent.append(element("div", "text", text));
    addToConversation(sent);
    const reply = streamingReply(session);
    scrollToEnd();
    say("hardshell is replying…");
    let ended = false;
    try {
      const response = await call("POST", `${sessionPath(session)}/messages`, { text });
      if (!(response.headers.get("Content-Type") || "").startsWith("text/event-stream")) {
        throw new ServerRefused("the reply", response.status);
      }
      for await (const event of serverEvents(response.body)) {
        let data = {};
        try {
          data = JSON.parse(event.data);
        } catch {
          continue; // not ours to interpret
        }
        if (event.name === "delta") {
          reply.add(String(data.text || ""));
        } else if (event.name === "tool") {
          reply.tool(data);
        } else if (event.name === "approval") {
          reply.approval(data);
        } else if (event.name === "approval_resolved") {
          reply.approvalResolved(data);
        } else if (event.name === "command") {
          reply.command(data);
        } else if (event.name === "commands_missed") {
          reply.commandsMissed(data);
        } else if (event.name === "screenshot") {
          reply.screenshot(data);
        } else if (event.name === "file") {
          reply.file(data);
        } else if (event.name === "done") {
          ended = true;
          reply.finish();
          say("Reply finished.");
        } else if (event.name === "error") {
          ended = true;
          reply.fail(String(data.message || "The agent could not finish this reply."));
          say("The reply failed.");
        }
      }
      if (!ended) {
        reply.fail("The connection closed before the reply finished. Please try again.");
      }
    } catch (error) {
      if (error instanceof SignedOut) {
        return;
      }
      if (!ended) {
        reply.fail(explain(error));
        say("The reply failed.");
      }
    }
    if (page.fresh === session) {
      page.fresh = null;
    }
    await loadSessions().catch(() => {});
  }

  async function submit() {
    const text = ui.message.value.trim();
    if (!text || page.busy) {
      return;
    }
    setBusy(true);
    ui.message.value = "";
    fitComposer();
    try {
      await runTurn(text);
    } catch (error) {
      if (!(error instanceof SignedOut)) {
        say(explain(error));
        addToConversation(alertItem(explain(error)));
      }
    } finally {
      setBusy(false);
      ui.message.focus();
    }
  }

  function alertItem(message) {
    const item = element("li", "message notice");
    const error = element("p", "error", message);
    error.setAttribute("role", "alert");
    item.append(error);
    return item;
  }

  // --- the composer and the drawer -----------------------------------------------

  // Grows with its text up to a limit (CSSOM, which the CSP allows; not a style attribute).
  function fitComposer() {
    ui.message.style.height = "auto";
    ui.message.style.height = `${Math.min(ui.message.scrollHeight, 200)}px`;
  }

  function openDrawer() {
    document.body.classList.add("drawer-open");
    ui.drawerToggle.setAttribute("aria-expanded", "true");
    ui.scrim.hidden = false;
    ui.newChat.focus();
  }

  function closeDrawer() {
    if (!document.body.classList.contains("drawer-open")) {
      return;
    }
    document.body.classList.remove("drawer-open");
    ui.drawerToggle.setAttribute("aria-expanded", "false");
    ui.scrim.hidden = true;
    ui.drawerToggle.focus();
  }

  function reportFailure(error) {
    if (!(error instanceof SignedOut)) {
      addToConversation(alertItem(explain(error)));
    }
  }

  function wire() {
    ui.composer.addEventListener("submit", (event) => {
      event.preventDefault();
      submit();
    });
    ui.message.addEventListener("keydown", (event) => {
      // Enter sends, Shift+Enter is a new line; never mid-composition (IMEs use Enter).
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        submit();
      }
    });
    ui.message.addEventListener("input", fitComposer);
    ui.newChat.addEventListener("click", () => {
      closeDrawer();
      newChat()
        .then(() => ui.message.focus())
        .catch(reportFailure);
    });
    ui.logout.addEventListener("click", async () => {
      ui.logout.disabled = true;
      try {
        await call("POST", "/auth/logout");
      } catch {
        // Signed out or not, the way forward is the login page.
      }
      goToLogin();
    });
    ui.drawerToggle.addEventListener("click", () => {
      if (document.body.classList.contains("drawer-open")) {
        closeDrawer();
      } else {
        openDrawer();
      }
    });
    ui.scrim.addEventListener("click", closeDrawer);
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        closeDrawer();
      }
    });
  }

  function chatFromAddress() {
    const fragment = new URLSearchParams(location.hash.slice(1));
    return fragment.get("chat");
  }

  async function start() {
    const response = await call("GET", "/auth/whoami");
    const me = await response.json();
    ui.who.textContent = me.email || me.subject || "";
    wire();
    await loadSessions();
    const wanted = chatFromAddress();
    const known = page.sessions.find((s) => s.id === wanted) || page.sessions[0];
    if (known) {
      await select(known.id);
    } else {
      showConversation([]);
    }
    document.body.classList.add("ready");
    // Not on a touch screen, where focus would pop up the keyboard over the chat.
    if (matchMedia("(pointer: fine)").matches) {
      ui.message.focus();
    }
  }

  start().catch(reportFailure);
})();
