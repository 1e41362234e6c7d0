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

import {
  AdminRun, LOGIN, clickFor, clickTwice, commandLine, failFor, launch, loadPlaywright, must, quoted, ready,
  settled, statusSaid,
} from './browser-common.mjs';

// The files the page offers for a new device, by the id of their link.
const DOWNLOADS = ['device-download-certificate', 'device-download-key', 'device-download-ca'];

const fail = failFor('browser-admin-devices');
const args = commandLine(fail, ['edge', 'phase', 'session', 'device', 'screenshot-dir'], {
  days: { type: 'string', default: '30' },
  'download-dir': { type: 'string' },
});
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

// The phases' traps. The stale login's issue is refused (403); the devices
// section must be on, so its list is not among the optional ones. The
// context takes the test's self-signed certificate, and downloads.
const run = new AdminRun({
  script: 'browser-admin-devices',
  edge,
  cookie: '__Host-hs_session',
  optional: ['/admin/approvals', '/admin/passkeys', '/admin/pairing', '/admin/browser'],
  refusedWhenStale: 'POST /admin/devices',
  context: { ignoreHTTPSErrors: true, acceptDownloads: true },
});

// The page has loaded and its devices section has finished its first load.
async function devicesReady(page) {
  await ready(page);
  await settled(page, 'devices');
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

// The admin page, with --session as the cookie and labelled `label`, loaded.
async function adminPage(browser, label) {
  const { page } = await run.open(browser, label, args.session);
  await page.goto(run.at('/admin'));
  await devicesReady(page);
  return page;
}

// (a) No cookie: the login page. (b) A device issued from the form; its three
// files downloaded as the owner would, by clicking their links.
async function issue(browser) {
  const denied = await run.visitorIsSentToLogin(browser);
  const page = await adminPage(browser, 'owner');
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
  const status = await statusSaid(page, 'devices', 'issuing said nothing');
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
  const page = await adminPage(browser, 'owner');
  const before = await page.evaluate(shownDevices);
  const button = page.locator(`button[data-revoke-device=${quoted(device)}]`);
  await must(`${device} has no Revoke button`, () => button.waitFor());
  const path = `/admin/devices/${device}`;
  const clicked = await clickTwice(page, button, (request) =>
    request.method() === 'DELETE' && new URL(request.url()).pathname === path);
  if (clicked.afterFirstClick !== 0) {
    throw new Error('the first click on Revoke revoked the device');
  }
  if (clicked.response.status() !== 204) {
    throw new Error(`revoking ${device} answered ${clicked.response.status()}`);
  }
  const item = `#device-list [data-device=${quoted(device)}]`;
  await must(`${device} is not shown as revoked`, () =>
    page.waitForSelector(`${item}[data-status="revoked"]`));
  const shown = {
    before,
    confirm_label: clicked.confirmLabel,
    deletes: clicked.made,
    status: await statusSaid(page, 'devices', 'revoking said nothing'),
    listed: await page.evaluate(shownDevices),
    badge: await page.textContent(`${item} .badge`),
  };
  await page.locator('#devices').screenshot({ path: join(dir, 'admin-devices-revoked.png') });
  return shown;
}

// A login an hour old may look, but not add a way in.
async function stale(browser) {
  const page = await adminPage(browser, 'stale');
  const before = await page.evaluate(shownDevices);
  await page.fill('#device-name', device);
  await page.fill('#device-days', args.days);
  const response = await clickFor(page, '#device-issue', 'POST', '/admin/devices');
  await settled(page, 'devices');
  const shown = {
    status: response.status(),
    message: await statusSaid(page, 'devices', 'no reason is shown for the refused device'),
    sign_in_again: await page.locator(`#devices-status a[href=${quoted(LOGIN)}]`).count() > 0,
    files_offered: await page.locator(DOWNLOADS.map((id) => `#${id}`).join(', ')).count(),
    before,
  };
  await page.reload();
  await devicesReady(page);
  shown.after = await page.evaluate(shownDevices);
  return shown;
}

async function main() {
  const chromium = await loadPlaywright(fail);
  mkdirSync(dir, { recursive: true });
  const browser = await launch(chromium, fail);
  const phases = { issue, revoke, stale };
  await run.finish(browser, join(dir, 'admin-devices-failure.png'), async () => ({
    phase: args.phase,
    ...await phases[args.phase](browser),
    requests: run.requestsMade(),
  }));
}

await main();
