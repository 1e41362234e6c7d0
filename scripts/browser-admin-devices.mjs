// Drives the admin page's devices section (/admin) in a real headless
// Chromium over HTTPS, as its owner would: a device certificate issued, its
// files downloaded, then revoked. Device certificates need the edge's TLS, so
// this runs against an https edge whose certificate Chromium is told to accept
// (a test's self-signed one). Run by hardshell-edge's admin devices page test;
// not for anything else.
//
//   PLAYWRIGHT_HOME=$INFRA/node node scripts/browser-admin-devices.mjs \
//     --edge https://localhost:PORT --phase issue|revoke|stale \
//     --session <a session cookie> --device NAME --screenshot-dir DIR \
//     [--days N] [--download-dir DIR]
//
// The session cookie is `__Host-hs_session` (the edge's cookies.rs, on https).
//
// Phases, one per run, so the test can judge the edge between them:
//   issue   (a) without a cookie, /admin ends at /login?next=/admin; (b) with
//           --session (a fresh login) the devices section is shown, NAME is
//           issued for --days days, the page's three files are downloaded
//           (the "download" events, saved under --download-dir with the names
//           the page gave), the list shows NAME as active, and
//           DIR/admin-devices.png shows the section with its downloads; then
//           Done takes the links away.
//   revoke  with --session, NAME's Revoke button: the first click only asks,
//           the second revokes; the list shows NAME as revoked;
//           DIR/admin-devices-revoked.png.
//   stale   with --session (a login an hour old), issuing NAME is refused
//           with a "Sign in again" link, no file is offered, and after a
//           reload the list has as many devices as before.
//
// Throughout, a console error, a policy (CSP or Trusted Types) violation, a
// script error, a dialog, a failed request, a request to any other origin, or
// an error status the phase does not expect is a failure. Prints one line of
// JSON with what was recorded; the test judges it. On failure prints
// `browser-admin-devices: <what failed>` on stderr, saves
// DIR/admin-devices-failure.png and exits 1.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { CHROMIUM, CHROMIUM_FLAGS, loadPlaywright } from './browser-common.mjs';

const DESKTOP = { width: 1280, height: 800 };
const STEP_TIMEOUT_MS = 20_000;
const LOGIN = '/login?next=/admin';
const COOKIE = '__Host-hs_session';
// The files the page offers for a new device, by the id of their link.
const DOWNLOADS = ['device-download-certificate', 'device-download-key', 'device-download-ca'];

const { values: args } = parseArgs({
  options: {
    edge: { type: 'string' },
    phase: { type: 'string' },
    session: { type: 'string' },
    device: { type: 'string' },
    days: { type: 'string', default: '30' },
    'screenshot-dir': { type: 'string' },
    'download-dir': { type: 'string' },
  },
});
for (const name of ['edge', 'phase', 'session', 'device', 'screenshot-dir']) {
  if (!args[name]) {
    fail(`--${name} is required`);
  }
}
if (!['issue', 'revoke', 'stale'].includes(args.phase)) {
  fail(`--phase is issue, revoke or stale, not ${args.phase}`);
}
if (args.phase === 'issue' && !args['download-dir']) {
  fail('--phase issue needs --download-dir');
}
const edge = new URL(args.edge);
if (edge.protocol !== 'https:') {
  fail(`${edge} is not https: the edge hides its devices section without TLS`);
}
const dir = args['screenshot-dir'];
const device = args.device;

function fail(message) {
  console.error(`browser-admin-devices: ${message}`);
  process.exit(1);
}

const at = (path) => new URL(path, edge).href;
// An attribute value in a selector (device names are a-z, 0-9 and -).
const quoted = (value) => JSON.stringify(String(value));

// --- watching the page -------------------------------------------------------------

const problems = [];
const requests = new Set();
let current = null; // the page a failure screenshot shows

// The error statuses a phase expects: a visitor is refused (401), an optional
// feature may be off (404 on its list), and the stale login's issue is
// refused (403). Anything else at or above 400 is a failure.
function expected(label, method, path, status) {
  if (path === '/favicon.ico') {
    return true; // a browser may ask on its own; the page never does
  }
  if (label === 'visitor') {
    return status === 401;
  }
  const optional = ['/admin/approvals', '/admin/passkeys', '/admin/pairing', '/admin/browser'];
  if (status === 404 && method === 'GET' && optional.includes(path)) {
    return true;
  }
  return label === 'stale' && status === 403 && method === 'POST' && path === '/admin/devices';
}

function watch(page, label) {
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
    if (response.status() >= 400 && !expected(label, method, url.pathname, response.status())) {
      problems.push(`${label}: ${method} ${url.pathname}${url.search} answered ${response.status()}`);
    }
  });
}

// A context that takes the test's self-signed certificate, with the session
// cookie (or none), its traps set before the page's own scripts run, and one
// page in it.
async function open(browser, label, session) {
  const context = await browser.newContext({ viewport: DESKTOP, ignoreHTTPSErrors: true, acceptDownloads: true });
  context.setDefaultTimeout(STEP_TIMEOUT_MS);
  if (session) {
    await context.addCookies([{
      name: COOKIE, value: session, url: edge.origin, httpOnly: true, sameSite: 'Strict', secure: true,
    }]);
  }
  // A policy violation means the page tried something its policy refuses;
  // reported through a binding, so a reload does not lose it.
  await context.exposeFunction('hardshellViolation', (text) => problems.push(`${label} policy violation: ${text}`));
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (event) => {
      window.hardshellViolation(`${event.violatedDirective}: ${event.blockedURI || '(inline)'} `
        + `at ${event.sourceFile}:${event.lineNumber}`);
    });
  });
  const page = await context.newPage();
  watch(page, label);
  current = page;
  return { context, page };
}

async function must(what, check) {
  try {
    return await check();
  } catch (error) {
    throw new Error(`${what}: ${error.message.split('\n')[0]}`);
  }
}

// The page has loaded and its devices section has finished its first load
// (admin.js marks a loading section aria-busy).
async function ready(page) {
  await must('the admin page did not finish loading (body[data-state=ready])', () =>
    page.waitForSelector('body[data-state="ready"]'));
  await settled(page);
}

async function settled(page) {
  await page.waitForFunction(() => !document.getElementById('devices').hasAttribute('aria-busy'));
}

// Clicks `selector` and returns the response to `method path` it caused.
async function clickFor(page, selector, method, path) {
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === method && new URL(r.url()).pathname === path),
    page.click(selector),
  ]);
  return response;
}

// The devices as the list shows them.
function shownDevices() {
  return [...document.querySelectorAll('#device-list [data-device]')].map((item) => ({
    name: item.dataset.device,
    status: item.dataset.status ?? null,
    title: item.querySelector('.item-title')?.textContent ?? null,
    revoke_button: item.querySelector('button[data-revoke-device]') !== null,
  }));
}

async function sectionShown(page) {
  return {
    hidden: await page.isHidden('#devices'),
    nav_hidden: await page.isHidden('[data-nav="devices"]'),
    access: await page.evaluate(() => {
      const terms = [...document.querySelectorAll('#overview-access dt')];
      const term = terms.find((dt) => dt.textContent === 'Device certificates');
      return term?.nextElementSibling?.textContent ?? null;
    }),
  };
}

// --- the phases ---------------------------------------------------------------------

// (a) No cookie: the page's first API answer is 401, and it goes to the login page.
async function visitorIsSentToLogin(browser) {
  const { context, page } = await open(browser, 'visitor', null);
  await page.goto(at('/admin'));
  await must(`a visitor without a session did not end at ${LOGIN}`, () =>
    page.waitForURL((url) => url.pathname === '/login' && url.searchParams.get('next') === '/admin'));
  const url = new URL(page.url());
  await context.close();
  return url.pathname + url.search;
}

// (b) A device issued from the form; its three files downloaded as the owner
// would, by clicking their links.
async function issue(browser) {
  const denied = await visitorIsSentToLogin(browser);
  const { page } = await open(browser, 'owner', args.session);
  await page.goto(at('/admin'));
  await ready(page);
  const section = await sectionShown(page);
  if (section.hidden) {
    throw new Error('the devices section is hidden on an https edge with the device CA on');
  }
  const before = await page.evaluate(shownDevices);

  await page.fill('#device-name', device);
  await page.fill('#device-days', args.days);
  const response = await clickFor(page, '#device-issue', 'POST', '/admin/devices');
  if (response.status() !== 201) {
    throw new Error(`issuing ${device} answered ${response.status()}: ${await response.text()}`);
  }
  const created = await response.json();
  await must('the new device\'s files are not offered', () => page.waitForSelector('#device-download-key'));
  const intro = await page.textContent('#device-download-slot .once-intro');

  const downloads = args['download-dir'];
  mkdirSync(downloads, { recursive: true });
  const files = [];
  for (const id of DOWNLOADS) {
    const link = page.locator(`#${id}`);
    const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
    const failure = await download.failure();
    if (failure) {
      throw new Error(`downloading #${id} failed: ${failure}`);
    }
    const name = download.suggestedFilename();
    const path = join(downloads, name);
    await download.saveAs(path);
    files.push({ link: id, label: await link.textContent(), file: name, path });
  }

  await must(`${device} is not listed as active`, () =>
    page.waitForSelector(`#device-list [data-device=${quoted(device)}][data-status="active"]`));
  await must('issuing said nothing', () =>
    page.waitForFunction(() => document.getElementById('devices-status').textContent.trim() !== ''));
  const status = await page.textContent('#devices-status');
  const listed = await page.evaluate(shownDevices);
  await page.locator('#devices').screenshot({ path: join(dir, 'admin-devices.png') });

  // Done: the links, and the blobs behind them, are gone.
  await page.click('#device-done');
  const linksAfterDone = await page.locator(DOWNLOADS.map((id) => `#${id}`).join(', ')).count();
  const nameAfter = await page.inputValue('#device-name');
  return {
    denied_without_session: denied,
    section,
    before,
    response: {
      name: created.name,
      serial: created.serial,
      not_after: created.not_after,
      has_certificate: typeof created.certificate_pem === 'string',
      has_key: typeof created.key_pem === 'string',
      has_ca: typeof created.ca_pem === 'string',
    },
    intro,
    files,
    status,
    listed,
    links_after_done: linksAfterDone,
    name_field_after: nameAfter,
    screenshot: join(dir, 'admin-devices.png'),
  };
}

// Revoked with the two-step button: the first click only asks.
async function revoke(browser) {
  const { page } = await open(browser, 'owner', args.session);
  await page.goto(at('/admin'));
  await ready(page);
  const before = await page.evaluate(shownDevices);
  const button = page.locator(`button[data-revoke-device=${quoted(device)}]`);
  await must(`${device} has no Revoke button`, () => button.waitFor());
  const path = `/admin/devices/${device}`;
  let deletes = 0;
  const count = (request) => {
    if (request.method() === 'DELETE' && new URL(request.url()).pathname === path) {
      deletes += 1;
    }
  };
  page.on('request', count);
  await button.click();
  const confirmLabel = await button.textContent();
  await page.waitForTimeout(300); // long enough for a request the first click should not have made
  const deletesAfterFirstClick = deletes;
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'DELETE' && new URL(r.url()).pathname === path),
    button.click(),
  ]);
  page.off('request', count);
  if (deletesAfterFirstClick !== 0) {
    throw new Error('the first click on Revoke revoked the device');
  }
  if (response.status() !== 204) {
    throw new Error(`revoking ${device} answered ${response.status()}`);
  }
  const item = `#device-list [data-device=${quoted(device)}]`;
  await must(`${device} is not shown as revoked`, () =>
    page.waitForSelector(`${item}[data-status="revoked"]`));
  await must('revoking said nothing', () =>
    page.waitForFunction(() => document.getElementById('devices-status').textContent.trim() !== ''));
  const shown = {
    before,
    confirm_label: confirmLabel,
    deletes,
    status: await page.textContent('#devices-status'),
    listed: await page.evaluate(shownDevices),
    badge: await page.textContent(`${item} .badge`),
  };
  await page.locator('#devices').screenshot({ path: join(dir, 'admin-devices-revoked.png') });
  return shown;
}

// A login an hour old may look, but not add a way in.
async function stale(browser) {
  const { page } = await open(browser, 'stale', args.session);
  await page.goto(at('/admin'));
  await ready(page);
  const before = await page.evaluate(shownDevices);
  await page.fill('#device-name', device);
  await page.fill('#device-days', args.days);
  const response = await clickFor(page, '#device-issue', 'POST', '/admin/devices');
  await settled(page);
  await must('no reason is shown for the refused device', () =>
    page.waitForFunction(() => document.getElementById('devices-status').textContent.trim() !== ''));
  const shown = {
    status: response.status(),
    message: await page.textContent('#devices-status'),
    sign_in_again: await page.locator(`#devices-status a[href=${quoted(LOGIN)}]`).count() > 0,
    files_offered: await page.locator(DOWNLOADS.map((id) => `#${id}`).join(', ')).count(),
    before,
  };
  await page.reload();
  await ready(page);
  shown.after = await page.evaluate(shownDevices);
  return shown;
}

async function main() {
  const chromium = await loadPlaywright(fail);
  mkdirSync(dir, { recursive: true });
  let browser;
  try {
    // Headless; a fresh user-data-dir that playwright-core makes and removes.
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS });
  } catch (error) {
    fail(`cannot start ${CHROMIUM}: ${error.message.split('\n')[0]} (scripts/test installs Debian's chromium)`);
  }
  try {
    const phases = { issue, revoke, stale };
    const shown = await phases[args.phase](browser);
    if (problems.length) {
      throw new Error('the page reported problems');
    }
    console.log(JSON.stringify({ ok: true, phase: args.phase, ...shown, requests: [...requests].sort() }));
  } catch (error) {
    const failure = join(dir, 'admin-devices-failure.png');
    await current?.screenshot({ path: failure, fullPage: true }).catch(() => {});
    const seen = problems.length ? `\n  the page reported:\n  ${problems.join('\n  ')}` : '';
    console.error(`browser-admin-devices: ${error.message} (at ${current?.url() ?? 'no page'}; screenshot ${failure})${seen}`);
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
}

await main();
