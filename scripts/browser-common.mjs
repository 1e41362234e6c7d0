// What the browser scripts share (scripts/browser-*.mjs): their command line,
// Debian's Chromium as playwright-core drives it, the owner's passkey made
// through the real login page in a virtual WebAuthn authenticator, and a run
// on the admin page (/admin) with its traps. Not run on its own.
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_FLAGS = [
  '--no-sandbox', // the test runs as root in a container, where the sandbox cannot start
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
];
export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

// --- the command line ---------------------------------------------------------------

// How `script` stops before its steps run: `<script>: <message>` on stderr,
// exit status 1.
export function failFor(script) {
  return (message) => {
    console.error(`${script}: ${message}`);
    process.exit(1);
  };
}

// The command line's options: each of `required` is a string that must be
// given (else `fail` names it); `optional` is parseArgs's options for the
// rest. An option not named in either is refused, as parseArgs does.
export function commandLine(fail, required, optional = {}) {
  const options = { ...optional };
  for (const name of required) {
    options[name] = { type: 'string' };
  }
  const { values } = parseArgs({ options });
  for (const name of required) {
    if (!values[name]) {
      fail(`--${name} is required`);
    }
  }
  return values;
}

// --- Chromium -----------------------------------------------------------------------

// playwright-core's chromium, resolved from PLAYWRIGHT_HOME (where npm
// installed it: ESM imports ignore NODE_PATH); `fail` reports a missing one.
export async function loadPlaywright(fail) {
  if (!process.env.PLAYWRIGHT_HOME) {
    fail('PLAYWRIGHT_HOME is not set: it names the directory npm installed playwright-core into ($INFRA/node)');
  }
  let path;
  try {
    path = createRequire(`${process.env.PLAYWRIGHT_HOME}/`).resolve('playwright-core');
  } catch {
    fail(`playwright-core is not installed under ${process.env.PLAYWRIGHT_HOME}; scripts/test installs it`);
  }
  const module = await import(pathToFileURL(path).href);
  return (module.default ?? module).chromium;
}

// Debian's Chromium, headless, in a fresh user-data-dir that playwright-core
// makes and removes; `fail` reports one that does not start.
export async function launch(chromium, fail) {
  try {
    return await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS });
  } catch (error) {
    fail(`cannot start ${CHROMIUM}: ${error.message.split('\n')[0]} (scripts/test installs Debian's chromium)`);
  }
}

// Runs `check`; its failure says `what` was not so, with the first line of
// playwright's own message.
export async function must(what, check) {
  try {
    return await check();
  } catch (error) {
    throw new Error(`${what}: ${error.message.split('\n')[0]}`);
  }
}

// An attribute value in a selector (ids are hex or names; JSON's escapes are CSS's for those).
export const quoted = (value) => JSON.stringify(String(value));

// Opens the one-time setup link in `page` and creates the owner's passkey for
// `rpId` in a virtual authenticator (Chrome DevTools Protocol), so the real
// login.js runs the real ceremony with no person to tap a key. Leaves the
// page showing its "Sign in" button; throws when the passkey was not made.
export async function registerPasskey(context, page, setupLink, rpId, timeout) {
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  await page.goto(setupLink);
  await page.click('#register');
  try {
    await page.waitForSelector('#sign-in:visible', { timeout });
  } catch (error) {
    throw new Error(`the passkey was not registered: ${error.message.split('\n')[0]}`);
  }
  const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
  if (credentials.length !== 1 || credentials[0].rpId !== rpId) {
    throw new Error(`expected one passkey for ${rpId}, the authenticator holds ${JSON.stringify(credentials.map((c) => c.rpId))}`);
  }
}

// --- the admin page -----------------------------------------------------------------

// Where the admin page sends a visitor without a session.
export const LOGIN = '/login?next=/admin';
const STEP_TIMEOUT_MS = 20_000;

// One script's run on the admin page at `edge` (a URL): the traps on its
// pages, what they reported (`problems`) and asked the edge for, and the page
// a failure screenshot shows (`current`).
//
// A console error, a policy (CSP or Trusted Types) violation, a script error,
// a dialog, a failed request, a request to any other origin, or an error
// status the run does not expect is a problem. Expected are a visitor's 401,
// a 404 on a GET of one of `optional` (the list of a section that may be
// off), and a 403 on `refusedWhenStale` ("METHOD /path") for the page
// labelled `stale`. `cookie` names the session cookie; `context` adds to the
// browser contexts' options, and `permissions` are granted to the edge.
export class AdminRun {
  constructor({ script, edge, cookie, optional, refusedWhenStale, context = {}, permissions = [] }) {
    Object.assign(this, { script, edge, cookie, optional, refusedWhenStale, context, permissions });
    this.problems = [];
    this.requests = new Set();
    this.current = null;
  }

  at(path) {
    return new URL(path, this.edge).href;
  }

  expected(label, method, path, status) {
    if (path === '/favicon.ico') {
      return true; // a browser may ask on its own; the page never does
    }
    if (label === 'visitor') {
      return status === 401;
    }
    if (status === 404 && method === 'GET' && this.optional.includes(path)) {
      return true;
    }
    return label === 'stale' && status === 403 && `${method} ${path}` === this.refusedWhenStale;
  }

  watch(page, label) {
    const { problems, requests, edge } = this;
    page.on('console', (message) => {
      // A failed load says so on the console too; its status is judged below,
      // where the URL and method are known.
      if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) {
        problems.push(`${label} console: ${message.text()}`);
      }
    });
    page.on('pageerror', (error) => problems.push(`${label} script error: ${error.message}`));
    page.on('dialog', (dialog) => {
      problems.push(`${label}: a dialog opened: ${dialog.message()}`);
      dialog.dismiss().catch(() => {});
    });
    page.on('request', (request) => {
      const url = new URL(request.url());
      // A download's blob: URL has the page's origin as its own.
      if (url.origin !== edge.origin) {
        problems.push(`${label}: a request to another origin: ${request.url()}`);
        return;
      }
      requests.add(url.protocol === 'blob:' ? `${request.method()} blob:` : `${request.method()} ${url.pathname}`);
    });
    page.on('requestfailed', (request) => {
      // ERR_ABORTED: the page navigated away (to the login page, or a reload)
      // while the request was open.
      const why = request.failure()?.errorText ?? '';
      if (!why.includes('ERR_ABORTED')) {
        problems.push(`${label}: ${request.method()} ${request.url()} failed: ${why}`);
      }
    });
    page.on('response', (response) => {
      const url = new URL(response.url());
      const method = response.request().method();
      if (response.status() >= 400 && !this.expected(label, method, url.pathname, response.status())) {
        problems.push(`${label}: ${method} ${url.pathname}${url.search} answered ${response.status()}`);
      }
    });
  }

  // A context with the session cookie (or none), its traps set before the
  // page's own scripts run, and one page in it.
  async open(browser, label, session) {
    const context = await browser.newContext({ viewport: DESKTOP, ...this.context });
    context.setDefaultTimeout(STEP_TIMEOUT_MS);
    if (this.permissions.length) {
      await context.grantPermissions(this.permissions, { origin: this.edge.origin });
    }
    if (session) {
      await context.addCookies([{
        name: this.cookie,
        value: session,
        url: this.edge.origin,
        httpOnly: true,
        sameSite: 'Strict',
        secure: this.edge.protocol === 'https:',
      }]);
    }
    // A policy violation means the page tried something its policy refuses;
    // reported through a binding, so a reload does not lose it.
    await context.exposeFunction('hardshellViolation', (text) => this.problems.push(`${label} policy violation: ${text}`));
    await context.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (event) => {
        window.hardshellViolation(`${event.violatedDirective}: ${event.blockedURI || '(inline)'} `
          + `at ${event.sourceFile}:${event.lineNumber}`);
      });
    });
    const page = await context.newPage();
    this.watch(page, label);
    this.current = page;
    return { context, page };
  }

  // No cookie: the page's first API answer is 401, and it goes to the login
  // page. Returns where it ended.
  async visitorIsSentToLogin(browser) {
    const { context, page } = await this.open(browser, 'visitor', null);
    await page.goto(this.at('/admin'));
    await must(`a visitor without a session did not end at ${LOGIN}`, () =>
      page.waitForURL((url) => url.pathname === '/login' && url.searchParams.get('next') === '/admin'));
    const url = new URL(page.url());
    await context.close();
    return url.pathname + url.search;
  }

  // Every request the pages made ("METHOD /path"), sorted.
  requestsMade() {
    return [...this.requests].sort();
  }

  // Runs `steps` with `browser`, then prints one line of JSON: `ok` and what
  // they returned. When a step fails or a page reported a problem, prints
  // `<script>: <what failed>` on stderr instead, saves `failure` (a path) of
  // the current page, and sets exit status 1. Closes `browser` either way.
  async finish(browser, failure, steps) {
    try {
      const shown = await steps();
      if (this.problems.length) {
        throw new Error('the page reported problems');
      }
      console.log(JSON.stringify({ ok: true, ...shown }));
    } catch (error) {
      await this.current?.screenshot({ path: failure, fullPage: true }).catch(() => {});
      const seen = this.problems.length ? `\n  the page reported:\n  ${this.problems.join('\n  ')}` : '';
      console.error(`${this.script}: ${error.message} (at ${this.current?.url() ?? 'no page'}; screenshot ${failure})${seen}`);
      process.exitCode = 1;
    } finally {
      await browser.close();
    }
  }
}

// The admin page has loaded.
export async function ready(page) {
  await must('the admin page did not finish loading (body[data-state=ready])', () =>
    page.waitForSelector('body[data-state="ready"]'));
}

// The section's loads have ended (admin.js marks a loading section aria-busy).
export async function settled(page, section) {
  await page.waitForFunction((id) => !document.getElementById(id).hasAttribute('aria-busy'), section);
}

// Clicks `selector` and returns the response to `method path` it caused.
export async function clickFor(page, selector, method, path) {
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === method && new URL(r.url()).pathname === path),
    page.click(selector),
  ]);
  return response;
}

// The section's status line once it says something (an action empties it
// when it starts); `what` names the action that said nothing.
export async function statusSaid(page, section, what) {
  const id = `${section}-status`;
  await must(what, () => page.waitForFunction((line) => document.getElementById(line).textContent.trim() !== '', id));
  return page.textContent(`#${id}`);
}

// Clicks a two-step button (`button`, a locator) twice: the first click only
// arms it, the second does what it says. `matches(request)` picks the
// requests it makes, counted from the first click on. Returns the armed
// button's label, how many had been made before the second click and in
// all, and the response to the second click; with `{ answered: false }` the
// response is not waited for (the caller waits for what the page shows).
export async function clickTwice(page, button, matches, { answered = true } = {}) {
  let made = 0;
  const count = (request) => {
    if (matches(request)) {
      made += 1;
    }
  };
  page.on('request', count);
  try {
    await button.click();
    const confirmLabel = await button.textContent();
    await page.waitForTimeout(300); // long enough for a request the first click should not have made
    const afterFirstClick = made;
    const [response] = await Promise.all([
      answered ? page.waitForResponse((r) => matches(r.request())) : null,
      button.click(),
    ]);
    return { confirmLabel, afterFirstClick, made, response };
  } finally {
    page.off('request', count);
  }
}
