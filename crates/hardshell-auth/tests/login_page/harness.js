// Runs the gateway's login.js in a Node vm, as a browser would run it, with the
// browser's parts stubbed: the DOM elements it touches, fetch (answering with the
// server's real JSON), and navigator.credentials (answering with a software
// authenticator's real credential, turned into ArrayBuffers as a browser gives it).
//
// Usage: node harness.js <login.js> <scenario.json>
// Scenario: { mode: "register" | "login", token?, options, answer, finishStatus }
// Prints a JSON report: what the page sent, where it went, what it showed.
"use strict";

const fs = require("fs");
const vm = require("vm");

const [script, scenarioPath] = process.argv.slice(2);
const scenario = JSON.parse(fs.readFileSync(scenarioPath, "utf8"));

function buffer(base64url) {
  const bytes = Buffer.from(base64url, "base64url");
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length);
}

const elements = {};
function element(id) {
  if (!elements[id]) {
    elements[id] = {
      hidden: true,
      disabled: false,
      textContent: "",
      listeners: {},
      classes: new Set(),
      classList: {
        toggle(name, on) {
          if (on) elements[id].classes.add(name);
          else elements[id].classes.delete(name);
        },
      },
      focus() {},
      addEventListener(type, listener) {
        this.listeners[type] = listener;
      },
    };
  }
  return elements[id];
}

const report = { requests: [], navigated: null, credentialArgs: null };
const answer = scenario.answer;

const browser = {
  document: { getElementById: element },
  location: {
    hash: scenario.token ? `#setup=${scenario.token}` : "",
    pathname: "/login",
    search: "",
    assign(url) {
      report.navigated = url;
    },
  },
  history: {
    replaceState(_state, _title, url) {
      report.replacedUrl = url;
      browser.location.hash = "";
    },
  },
  window: { PublicKeyCredential: function PublicKeyCredential() {} },
  navigator: {
    credentials: {
      async create(args) {
        report.credentialArgs = args;
        return {
          id: answer.id,
          rawId: buffer(answer.rawId),
          type: answer.type,
          response: {
            attestationObject: buffer(answer.response.attestationObject),
            clientDataJSON: buffer(answer.response.clientDataJSON),
            getTransports: () => ["internal", "smart-card"],
          },
          getClientExtensionResults: () => ({ credProps: { rk: false } }),
        };
      },
      async get(args) {
        report.credentialArgs = args;
        return {
          id: answer.id,
          rawId: buffer(answer.rawId),
          type: answer.type,
          response: {
            authenticatorData: buffer(answer.response.authenticatorData),
            clientDataJSON: buffer(answer.response.clientDataJSON),
            signature: buffer(answer.response.signature),
            userHandle: null,
          },
          getClientExtensionResults: () => ({}),
        };
      },
    },
  },
  async fetch(path, init) {
    const body = init.body === undefined ? null : JSON.parse(init.body);
    report.requests.push({ path, method: init.method, credentials: init.credentials, body });
    if (path.endsWith("/start")) {
      return { ok: true, status: 200, json: async () => ({ ceremony: "ceremony-1", options: scenario.options }) };
    }
    const status = scenario.finishStatus;
    return { ok: status >= 200 && status < 300, status, json: async () => null };
  },
  URLSearchParams,
  atob,
  btoa,
};

vm.createContext(browser);
vm.runInContext(fs.readFileSync(script, "utf8"), browser, { filename: "login.js" });

(async () => {
  report.visibleAtStart = Object.keys(elements).filter((id) => !elements[id].hidden);
  const button = element(scenario.mode === "register" ? "register" : "sign-in");
  await button.listeners.click();
  const args = report.credentialArgs.publicKey;
  report.challenge = Buffer.from(args.challenge).toString("base64url");
  report.challengeIsBinary = Object.prototype.toString.call(args.challenge) === "[object ArrayBuffer]";
  report.credentialArgs = null;
  report.status = element("status").textContent;
  report.statusIsError = element("status").classes.has("error");
  report.visibleAtEnd = Object.keys(elements).filter((id) => !elements[id].hidden);
  report.hashAtEnd = browser.location.hash;
  process.stdout.write(JSON.stringify(report));
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
