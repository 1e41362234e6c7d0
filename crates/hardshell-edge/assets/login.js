// hardshell's login page: registers and uses the owner's passkey (WebAuthn).
//
// Served as /login.js next to /login (login.html) and /login.css, under
//   Content-Security-Policy: default-src 'self'; script-src 'self'
// so it uses no eval, no inline script or style, and nothing from elsewhere.
//
// Endpoints (all same-origin, JSON bodies, Content-Type: application/json):
//
//   POST /auth/passkey/register/start
//        {"setup_token": "<token>"}
//     -> 200 {"ceremony": "<id>", "options": <CreationChallengeResponse>}
//   POST /auth/passkey/register/finish
//        {"ceremony": "<id>", "credential": <RegisterPublicKeyCredential>}
//     -> 204
//   POST /auth/passkey/login/start
//        (empty body)
//     -> 200 {"ceremony": "<id>", "options": <RequestChallengeResponse>}
//   POST /auth/passkey/login/finish
//        {"ceremony": "<id>", "credential": <PublicKeyCredential>}
//     -> 204, and the server sets the session cookie
//
// Any other status is a failure; the body is not shown (the server keeps error
// bodies fixed and says nothing about which check failed).
//
// The options are webauthn-rs' JSON: binary fields (challenge, user.id,
// excludeCredentials[].id, allowCredentials[].id) are base64url without padding.
// The credentials sent back use the same encoding for rawId and every binary
// field of `response`, as webauthn-rs' RegisterPublicKeyCredential and
// PublicKeyCredential expect.
//
// The setup token arrives in the URL fragment, /login#setup=<token>, which the
// browser never sends to a server, so it stays out of server and proxy logs. The
// page takes it from location.hash and then removes it from the address bar and
// history; it keeps it in memory only, to retry if the passkey prompt is cancelled.
//
// After a login the page goes to "/", or to `?next=` when that is the login
// hand-over to the upstream's own host (/auth/handoff?...) or the admin page
// (/admin, exactly): nothing else, so the page cannot be made to send a fresh
// login anywhere. When the browser is signed
// in already (it came here on a redirect that began on another site, which a
// Strict cookie is not sent on), it goes there at once. The identity
// provider's link (shown when the edge has `[access.oidc]`) carries the same
// `next`, which the edge keeps with the pending login. After a registration it
// asks the owner to sign in with the new passkey: browsers want a fresh tap for
// each prompt.

"use strict";

(() => {
  const ui = {
    unsupported: document.getElementById("unsupported"),
    setup: document.getElementById("setup"),
    login: document.getElementById("login"),
    register: document.getElementById("register"),
    signIn: document.getElementById("sign-in"),
    status: document.getElementById("status"),
  };

  // --- base64url <-> ArrayBuffer ---------------------------------------------

  function fromBase64url(text) {
    const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    const padded = base64 + "===".slice((base64.length + 3) % 4);
    const binary = atob(padded);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i += 1) {
      bytes[i] = binary.charCodeAt(i);
    }
    return bytes.buffer;
  }

  function toBase64url(buffer) {
    const bytes = new Uint8Array(buffer);
    let binary = "";
    for (let i = 0; i < bytes.length; i += 1) {
      binary += String.fromCharCode(bytes[i]);
    }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptorsFromJson(list) {
    return (list || []).map((descriptor) => ({ ...descriptor, id: fromBase64url(descriptor.id) }));
  }

  // --- options from the server -> arguments for navigator.credentials ---------

  function creationOptions(options) {
    const publicKey = options.publicKey;
    return {
      publicKey: {
        ...publicKey,
        challenge: fromBase64url(publicKey.challenge),
        user: { ...publicKey.user, id: fromBase64url(publicKey.user.id) },
        excludeCredentials: descriptorsFromJson(publicKey.excludeCredentials),
      },
    };
  }

  function requestOptions(options) {
    const publicKey = options.publicKey;
    const request = {
      publicKey: {
        ...publicKey,
        challenge: fromBase64url(publicKey.challenge),
        allowCredentials: descriptorsFromJson(publicKey.allowCredentials),
      },
    };
    if (options.mediation) {
      request.mediation = options.mediation;
    }
    return request;
  }

  // --- credentials from the browser -> JSON for the server --------------------

  // Only transports webauthn-rs knows; they are hints, so the rest are dropped.
  const KNOWN_TRANSPORTS = new Set(["usb", "nfc", "ble", "internal", "hybrid"]);

  function registrationJson(credential) {
    const response = credential.response;
    const transports =
      typeof response.getTransports === "function"
        ? response.getTransports().filter((t) => KNOWN_TRANSPORTS.has(t))
        : [];
    const results = credential.getClientExtensionResults();
    const extensions = {};
    // credProps is the one extension result requested that is plain JSON.
    if (results.credProps) {
      extensions.credProps = { rk: results.credProps.rk };
    }
    return {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      response: {
        attestationObject: toBase64url(response.attestationObject),
        clientDataJSON: toBase64url(response.clientDataJSON),
        transports: transports.length ? transports : null,
      },
      extensions,
    };
  }

  function assertionJson(credential) {
    const response = credential.response;
    return {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      response: {
        authenticatorData: toBase64url(response.authenticatorData),
        clientDataJSON: toBase64url(response.clientDataJSON),
        signature: toBase64url(response.signature),
        userHandle: response.userHandle ? toBase64url(response.userHandle) : null,
      },
      extensions: {},
    };
  }

  // --- talking to the server ---------------------------------------------------

  class ServerRefused extends Error {}

  async function post(path, body) {
    const response = await fetch(path, {
      method: "POST",
      credentials: "same-origin",
      cache: "no-store",
      headers: { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!response.ok) {
      throw new ServerRefused(`${path} answered ${response.status}`);
    }
    return response.status === 204 ? null : response.json();
  }

  // --- the page ----------------------------------------------------------------

  function say(message, isError) {
    ui.status.textContent = message;
    ui.status.classList.toggle("error", Boolean(isError));
  }

  function explain(error) {
    if (error instanceof ServerRefused) {
      return "hardshell did not accept this. If you used a setup link, it may have expired or been used already.";
    }
    if (error && error.name === "NotAllowedError") {
      return "The passkey prompt was cancelled or timed out. You can try again.";
    }
    if (error && error.name === "InvalidStateError") {
      return "This device already has a passkey for this hardshell. Sign in with it instead.";
    }
    if (error && error.name === "SecurityError") {
      return "The browser refused: this page must be opened at the address hardshell is configured for.";
    }
    return "Something went wrong. Please try again.";
  }

  async function busy(button, work) {
    button.disabled = true;
    try {
      await work();
    } catch (error) {
      say(explain(error), true);
    } finally {
      button.disabled = false;
    }
  }

  // Takes the setup token out of the fragment and out of the address bar.
  function takeSetupToken() {
    const fragment = new URLSearchParams(location.hash.slice(1));
    const token = fragment.get("setup");
    if (location.hash) {
      history.replaceState(null, "", location.pathname + location.search);
    }
    return token;
  }

  async function register(setupToken) {
    say("Waiting for your device…");
    const started = await post("/auth/passkey/register/start", { setup_token: setupToken });
    const credential = await navigator.credentials.create(creationOptions(started.options));
    await post("/auth/passkey/register/finish", {
      ceremony: started.ceremony,
      credential: registrationJson(credential),
    });
    ui.setup.hidden = true;
    ui.login.hidden = false;
    say("Your passkey is ready. Sign in with it now.");
    ui.signIn.focus();
  }

  async function signIn() {
    say("Waiting for your device…");
    const started = await post("/auth/passkey/login/start");
    const credential = await navigator.credentials.get(requestOptions(started.options));
    await post("/auth/passkey/login/finish", {
      ceremony: started.ceremony,
      credential: assertionJson(credential),
    });
    say("Signed in.");
    location.assign(next() || "/");
  }

  // `?next=`, when it is the hand-over's start on this origin or the admin
  // page; else null.
  function next() {
    const target = new URLSearchParams(location.search).get("next");
    if (target === "/admin") return target;
    return target && target.startsWith("/auth/handoff?") ? target : null;
  }

  async function continueIfSignedIn() {
    const target = next();
    // The admin page sends the owner here for a fresh login: a session that
    // exists already is why they came, not a reason to go back.
    if (!target || target === "/admin") return;
    const response = await fetch("/auth/whoami", { credentials: "same-origin" });
    if (response.ok) location.replace(target);
  }

  function linkIdentityProvider() {
    const target = next();
    const link = document.getElementById("oidc-start");
    if (target && link) {
      link.href = "/auth/oidc/start?next=" + encodeURIComponent(target);
    }
  }

  function start() {
    const setupToken = takeSetupToken();
    linkIdentityProvider();
    continueIfSignedIn().catch(() => {});
    if (!window.PublicKeyCredential || !navigator.credentials) {
      ui.unsupported.hidden = false;
      return;
    }
    ui.register.addEventListener("click", () => busy(ui.register, () => register(setupToken)));
    ui.signIn.addEventListener("click", () => busy(ui.signIn, signIn));
    if (setupToken) {
      ui.setup.hidden = false;
      ui.register.focus();
    } else {
      ui.login.hidden = false;
      ui.signIn.focus();
    }
  }

  start();
})();
