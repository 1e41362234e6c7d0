// Chat platforms on the admin page: who may talk to the agent from Telegram,
// Slack, Discord or WhatsApp. Someone nobody paired who writes to the bot is
// given a code and nothing else; they tell the owner the code over a channel
// the owner trusts, and the owner approves it here, as one of the owner's own
// accounts or as a guest. A pairing can be revoked.
//
// Served as /admin/admin-pairing.js after /admin/admin-kit.js and before
// /admin/admin.js, under the same policy (admin-kit.js says which): nothing
// reaches an HTML sink. admin.js merges this section into its own, loads it
// with the rest and calls wire().
//
// The API (same origin, JSON, admin only; a 404 on the GET means no chat
// platform is enabled, and the section is hidden):
//
//   GET    /admin/pairing            {paired: [{sender, role, subject, approved_at}],
//                                     pending: [{sender, requested_at, expires_at}]}
//   POST   /admin/pairing/approve    {code, role: "owner"|"guest"} (fresh)
//                                     -> 201 {sender, role, subject} | 404 no request has
//                                     that code | 409 the platform has all it may pair
//   DELETE /admin/pairing/{sender}   -> 204 | 404
//
// The list never carries a code: only the sender has it, so reading this page
// is not enough to pair anyone. A typed code is a credential until it is used,
// and leaves its field once approved. A sender's name is what a chat platform
// said, untrusted like every other server text: shown only through visible().

"use strict";

(() => {
  const {
    $, textOf, listOf, when, // untrusted text
    Refused, call, part, // the server
    section, act, // sections
    button, twoStep, entry, titleLine, badge, facts, showList, // what they show
  } = globalThis.hardshellAdminKit;

  const ui = {
    pending: $("pairing-pending"),
    pendingEmpty: $("pairing-pending-empty"),
    form: $("pairing-form"),
    code: $("pairing-code"),
    role: $("pairing-role"),
    approve: $("pairing-approve"),
    list: $("pairing-list"),
    empty: $("pairing-empty"),
  };

  const sections = {
    pairing: section("pairing", () => call("GET", "/admin/pairing"), showPairing, { optional: true }),
  };

  // A sender (`platform:id`) as a path segment. The edge matches paths as they
  // arrive, undecoded, and reads the sender up to its first ":", so the colons
  // stay (RFC 3986 allows them in a segment) and everything else is escaped.
  function senderPath(sender) {
    return part(sender).replaceAll("%3A", ":");
  }

  function objectOf(value) {
    return value && typeof value === "object" ? value : {};
  }

  function showPairing(body) {
    showList(ui.pending, ui.pendingEmpty, listOf(body.pending).map(pendingItem));
    showList(ui.list, ui.empty, listOf(body.paired).map(pairedItem));
  }

  // Who waits, asked when, and until when their code can be approved.
  function pendingItem(request) {
    const from = objectOf(request);
    const sender = String(from.sender ?? "");
    const item = entry("sender", sender);
    item.append(
      titleLine(sender),
      facts(["Asked", when(from.requested_at)], ["Code expires", when(from.expires_at)]),
    );
    return item;
  }

  function pairedItem(pairing) {
    const from = objectOf(pairing);
    const sender = String(from.sender ?? "");
    const role = String(from.role ?? "");
    const item = entry("sender", sender);
    item.dataset.role = role;
    item.append(
      titleLine(sender, badge(role, role === "owner" ? "role owner" : "role")),
      facts(["Acts as", textOf(from.subject ?? "?")], ["Approved", when(from.approved_at)]),
    );
    const revoke = button("Revoke", "quiet danger");
    revoke.dataset.revokeSender = sender;
    twoStep(revoke, "Confirm revoke", () =>
      act(sections.pairing, [revoke], async () => {
        try {
          await call("DELETE", `/admin/pairing/${senderPath(sender)}`);
        } catch (error) {
          if (error instanceof Refused && error.status === 404) {
            return `${sender} was no longer paired.`;
          }
          throw error;
        }
        return `Revoked ${sender}: its next message is a stranger's.`;
      }));
    item.append(revoke);
    return item;
  }

  function approve() {
    const code = ui.code.value.trim();
    const role = ui.role.value;
    act(sections.pairing, [ui.code, ui.role, ui.approve], async () => {
      const paired = objectOf(await call("POST", "/admin/pairing/approve", { code, role }));
      ui.code.value = "";
      return `Paired ${textOf(paired.sender ?? "?")} as ${textOf(paired.role ?? role)}.`;
    });
  }

  function wire() {
    ui.form.addEventListener("submit", (event) => {
      event.preventDefault();
      approve();
    });
  }

  globalThis.hardshellAdminPairing = Object.freeze({ sections, wire });
})();
