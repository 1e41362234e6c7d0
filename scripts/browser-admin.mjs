// Drives the admin page (/admin) in a real headless Chromium, as its owner
// would: the page, its scripts, its policy and every answer come from the real
// edge. Run by hardshell-edge's admin page test; not for anything else.
//
//   PLAYWRIGHT_HOME=$INFRA/node node scripts/browser-admin.mjs \
//     --edge http://localhost:PORT --session <a session cookie from a fresh login> \
//     --stale-session <a session cookie whose login is an hour old> \
//     --screenshot-dir DIR [--cookie-name NAME] \
//     [--approve <approval id>]... [--deny <approval id>]... \
//     [--pairing-code CODE [--pairing-sender platform:id]]
//
// The session cookie is `hs_session` on http and `__Host-hs_session` on https
// (the edge's cookies.rs); --cookie-name overrides that.
//
// Steps: (a) without a cookie, /admin ends at /login?next=/admin; (b) with the
// fresh session every section loads, and what the page shows is recorded (the
// subject, the audit verification, the first audit page, the spend bars, the
// waiting approvals, the requests chart's summary and bars from their data-*
// attributes, the rows of where shells connected and of the shells running,
// the browser sessions, the workload, the modules and the other parts; no
// server text may have become an element or kept a raw hidden character in
// those four sections), with DIR/admin-desktop.png (1280x800) and
// DIR/admin-phone.png (390x844), taken after every section rendered, where
// the page must not be wider than the phone; (c) a chat token
// `page-token` is created: its secret is shown once, copied, and gone after
// Done and after a reload; (d) it is revoked with the two-step button; (e) a
// passkey setup link is made; (f)
// each --approve id gets "Run it", each --deny id "Don't run", and leaves the
// list; (g) the audit filter by type token_created, then also by the principal
// nobody-at-all; (h) with the stale session, creating a token is refused with
// a "Sign in again" link, and the token list does not grow; (i) the requests
// chart switched to the last hour, and its bars counted; (j) only with
// --pairing-code: the chat platforms' requests waiting are recorded (the page
// must not show the code anywhere; with --pairing-sender, that sender must be
// among them), CODE is approved as a guest, the sender (--pairing-sender, or
// the one the edge paired) must show in the paired list, and is then revoked
// with the two-step button.
//
// The JSON's `requests` is every request the page made ("METHOD /path"); the
// requests chart is `requests_chart` ({summary, bars: [{at, served, refused,
// client_errors, server_errors}]}), with `egress` ([{host, shell, decision,
// count, reason}]) and `shells` ([{cgroup, processes, memory, cpu}]) as the
// cells show them, and `requests_hour_bars` from (i). `hidden_sections` names
// the sections hidden on their API's 404 (`pairing` without a chat platform,
// `browser` without a browser) or for want of their part (`workload`,
// `modules`, and `parts` when every part has a section of its own).
//
// What hardshell is made of, as shown (text as the page shows it, so a hidden
// character reads \u{XXXX}; a hidden section is null):
// `browser_hidden` (true when the section is hidden); `browser` ({limit,
// empty, sessions: [{id, client, title, running, conversation}]});
// `workload` ({error, reference, digest, pinned, unpinned_warning (the
// Pinned line is marked as a warning), health, state ({generation, at, files,
// size, by, lease, snapshots} or {current, lease, snapshots} before a first
// sync, as shown; null when the state is not synced, with `state_text`
// saying so)}); `modules` ({error, empty, list: [{name, version, publisher,
// official, key, package (shortened), package_title (the whole digest),
// public_web (null, or {text, widest: marked as the widest grant, first: the
// first grant}), hosts: [text], secrets: [{name, host, text}], workspace,
// limits, tools: [{name, description}]}]}); `other_parts` ([{name, error}]:
// the parts with no section of their own); `raw_hidden_characters` (the
// sections of those four still holding one: always [], else the run fails);
// `img_elements` (always 0, else the run fails). `error` and `empty` are
// their line's text while it is shown, else null.
// Only with (j): `pairing_pending` (the senders waiting, as shown),
// `pairing_paired` and `pairing_after_revoke` (the paired list, [{sender,
// role}], after approving and after revoking) and `pairing_messages`
// ({approved, confirm, revoked}: the status line after each, the armed
// Revoke button's label).
//
// Throughout, a console error, a policy (CSP or Trusted Types) violation, a
// script error, a dialog, a failed request, a request to any other origin, or
// an error status the step does not expect is a failure. Prints one line of
// JSON with what was recorded; the test judges it. On failure prints
// `browser-admin: <what failed>` on stderr, saves DIR/admin-failure.png and
// exits 1.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

import {
  AdminRun, DESKTOP, LOGIN, PHONE, clickFor, clickTwice, commandLine, failFor, launch, loadPlaywright, must, quoted,
  ready, settled, statusSaid,
} from './browser-common.mjs';

const TOKEN_NAME = 'page-token';

const fail = failFor('browser-admin');
const args = commandLine(fail, ['edge', 'session', 'stale-session', 'screenshot-dir'], {
  'cookie-name': { type: 'string' },
  approve: { type: 'string', multiple: true, default: [] },
  deny: { type: 'string', multiple: true, default: [] },
  'pairing-code': { type: 'string' },
  'pairing-sender': { type: 'string' },
});
if (args['pairing-sender'] && !args['pairing-code']) {
  fail('--pairing-sender needs --pairing-code');
}
const edge = new URL(args.edge);
const cookieName = args['cookie-name'] ?? (edge.protocol === 'https:' ? '__Host-hs_session' : 'hs_session');
const dir = args['screenshot-dir'];

// The steps' traps. An optional feature may be off (404 on its list), and
// the stale login's token is refused (403). The token's secret is copied.
const run = new AdminRun({
  script: 'browser-admin',
  edge,
  cookie: cookieName,
  optional: ['/admin/approvals', '/admin/devices', '/admin/passkeys', '/admin/pairing', '/admin/browser'],
  refusedWhenStale: 'POST /admin/tokens',
  permissions: ['clipboard-read', 'clipboard-write'],
});

// --- what the page shows ------------------------------------------------------------------

function auditRows() {
  return [...document.querySelectorAll('#audit-rows tr')].map((row) => ({
    seq: row.querySelector('td.seq')?.textContent ?? null,
    type: row.querySelector('td.type')?.textContent ?? null,
    principal: row.querySelector('td.principal')?.textContent ?? null,
    details: row.querySelector('td.details')?.textContent ?? null,
  }));
}

function shownApprovals() {
  return [...document.querySelectorAll('#approval-list [data-approval]')].map((item) => ({
    approval: item.dataset.approval,
    session: item.dataset.session,
    command: item.querySelector('.approval-command')?.textContent ?? null,
  }));
}

// The requests chart: its bars as their data-* attributes say (numbers), oldest first.
function requestsChart() {
  return {
    summary: document.getElementById('requests-summary').textContent,
    bars: [...document.querySelectorAll('#requests-chart g.requests-bar')].map((bar) => ({
      at: bar.dataset.at,
      served: Number(bar.dataset.served),
      refused: Number(bar.dataset.refused),
      client_errors: Number(bar.dataset.clientErrors),
      server_errors: Number(bar.dataset.serverErrors),
    })),
  };
}

// The rows of where shells connected and of the shells running, as their cells read.
function activityRows() {
  const cells = (selector, names) => [...document.querySelectorAll(selector)].map((row) =>
    Object.fromEntries(names.map(([name, cell]) => [name, row.querySelector(`td.${cell}`)?.textContent ?? null])));
  return {
    egress: cells('#egress-rows tr', [['host', 'host'], ['shell', 'shell'], ['decision', 'decision'],
      ['count', 'count'], ['reason', 'reason']]),
    shells: cells('#shell-rows tr', [['cgroup', 'cgroup'], ['processes', 'processes'], ['memory', 'memory'],
      ['cpu', 'cpu']]),
  };
}

// The browser sessions, the workload, the modules and the other parts as the
// page shows them (null for a section that is hidden), with where server text
// could have escaped visible(): the sections whose text or titles hold a raw
// control, zero-width or direction character, and the <img> elements in the
// document (the page has none of its own, so one is server text made markup).
function shownParts() {
  const HIDDEN = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F\u061C\u200B-\u200F\u202A-\u202E\u2060-\u2069\uFEFF]/;
  const shown = (id) => {
    const section = document.getElementById(id);
    return section.hidden ? null : section;
  };
  const text = (root, selector) => root.querySelector(selector)?.textContent ?? null;
  // An element's text only while it is shown.
  const said = (root, selector) => {
    const node = root.querySelector(selector);
    return node && !node.hidden ? node.textContent : null;
  };
  const facts = (root) => Object.fromEntries([...root.querySelectorAll('dd[data-fact]')].map((fact) =>
    [fact.dataset.fact, fact.textContent]));

  const browser = shown('browser');
  const workload = shown('workload');
  const modules = shown('modules');
  const parts = shown('parts');
  const state = workload?.querySelector('#workload-state') ?? null;
  return {
    browser_hidden: browser === null,
    browser: browser && {
      limit: said(browser, '#browser-limit'),
      empty: said(browser, '#browser-empty'),
      sessions: [...browser.querySelectorAll('#browser-list li[data-browser-session]')].map((item) => ({
        id: item.dataset.browserSession,
        client: item.dataset.client,
        title: text(item, '.item-name'),
        running: text(item, '.running'),
        conversation: text(item, '.conversation'),
      })),
    },
    workload: workload && {
      error: said(workload, '#workload-error'),
      reference: text(workload, '#workload-reference'),
      digest: text(workload, '#workload-digest'),
      pinned: text(workload, '#workload-pinned'),
      unpinned_warning: workload.querySelector('#workload-pinned').classList.contains('warning'),
      health: text(workload, '#workload-health'),
      state: state.querySelector('dl') ? facts(state) : null,
      state_text: state.textContent,
    },
    modules: modules && {
      error: said(modules, '#modules-error'),
      empty: said(modules, '#modules-empty'),
      list: [...modules.querySelectorAll('#module-list li[data-module]')].map((item) => {
        const widest = item.querySelector('.grants > [data-grant="public-web"]');
        return {
          name: text(item, '.item-name'),
          version: text(item, '.module-version'),
          publisher: text(item, '.publisher'),
          official: item.querySelector('.publisher-fact .badge.official') !== null,
          key: text(item, '.module-key'),
          package: text(item, '.digest'),
          package_title: item.querySelector('.digest')?.getAttribute('title') ?? null,
          public_web: widest && {
            text: widest.textContent,
            widest: widest.classList.contains('widest'),
            first: widest === item.querySelector('.grants > li'),
          },
          hosts: [...item.querySelectorAll('[data-grant="host"]')].map((grant) => grant.textContent),
          secrets: [...item.querySelectorAll('[data-grant="secret"]')].map((grant) => ({
            name: text(grant, '.secret-name'),
            host: text(grant, '.host'),
            text: grant.textContent,
          })),
          workspace: text(item, '[data-grant="workspace"]'),
          limits: text(item, '[data-grant="limits"]'),
          tools: [...item.querySelectorAll('.tools > li')].map((tool) => ({
            name: text(tool, '.tool-name'),
            description: text(tool, '.tool-description'),
          })),
        };
      }),
    },
    other_parts: parts
      ? [...parts.querySelectorAll('#part-list li[data-part]')].map((item) => ({
        name: text(item, '.item-name'),
        error: text(item, '.part-error'),
      }))
      : [],
    raw_hidden_characters: ['browser', 'workload', 'modules', 'parts'].filter((id) => {
      const section = document.getElementById(id);
      const titles = [...section.querySelectorAll('[title]')].map((node) => node.getAttribute('title'));
      return HIDDEN.test(section.textContent) || titles.some((title) => HIDDEN.test(title));
    }),
    img_elements: document.querySelectorAll('img').length,
  };
}

function shownTokens() {
  return [...document.querySelectorAll('#token-list [data-token]')].map((item) => ({
    id: item.dataset.token,
    name: item.querySelector('.item-name')?.textContent ?? null,
    status: item.dataset.status,
  }));
}

// The senders waiting to be paired, and those paired, as the lists show them.
function shownPairing() {
  const items = (list) => [...document.querySelectorAll(`#${list} li[data-sender]`)];
  return {
    pending: items('pairing-pending').map((item) => item.querySelector('.item-name')?.textContent ?? null),
    paired: items('pairing-list').map((item) => ({
      sender: item.querySelector('.item-name')?.textContent ?? null,
      role: item.dataset.role,
    })),
  };
}

// Whether a pairing code is anywhere on the page but the field it is typed
// in: in the text or the markup, as given or as the edge reads it.
function codeShown(code) {
  const spellings = [code, code.replace(/[\s-]/g, '').toUpperCase()];
  const text = document.body.innerText;
  const markup = document.documentElement.outerHTML;
  return spellings.some((spelling) => text.includes(spelling) || markup.includes(spelling));
}

// Where a secret could still be on the page: its text, any field's value, the markup.
function secretLeft(secret) {
  return {
    element: document.getElementById('token-secret') !== null,
    text: document.body.innerText.includes(secret),
    fields: [...document.querySelectorAll('input, textarea')].some((field) => field.value.includes(secret)),
    markup: document.documentElement.outerHTML.includes(secret),
  };
}

// --- the steps ------------------------------------------------------------------------------

// (b) What the fresh owner sees, on a desktop and on a phone.
async function ownerView(page) {
  await page.goto(run.at('/admin'));
  await ready(page);
  const shown = await page.evaluate(() => ({
    subject: document.getElementById('overview-subject').textContent,
    fresh: document.getElementById('overview-fresh').textContent,
    hidden_sections: [...document.querySelectorAll('main > section[hidden]')].map((section) => section.id),
    audit_verify: document.getElementById('audit-verify-result').innerText,
    statuses: Object.fromEntries([...document.querySelectorAll('main > section')].map((section) =>
      [section.id, section.querySelector('.status')?.textContent ?? ''])),
    spend: {
      summary: document.getElementById('spend-summary').textContent,
      bars: [...document.querySelectorAll('#spend-chart .spend-bar')].map((bar) => ({
        label: bar.querySelector('.bar-label')?.textContent ?? null,
        amount: bar.querySelector('.bar-amount')?.textContent ?? null,
      })),
      cap: document.querySelector('#spend-chart .cap-label')?.textContent ?? null,
      empty: document.querySelector('#spend-chart > p')?.textContent ?? null,
    },
  }));
  shown.audit_rows = await page.evaluate(auditRows);
  shown.approvals = await page.evaluate(shownApprovals);
  shown.requests_chart = await page.evaluate(requestsChart);
  Object.assign(shown, await page.evaluate(activityRows));
  Object.assign(shown, await page.evaluate(shownParts));
  if (shown.img_elements > 0) {
    throw new Error(`the page has ${shown.img_elements} <img> element(s): server text became markup`);
  }
  if (shown.raw_hidden_characters.length) {
    throw new Error(`raw hidden characters in ${shown.raw_hidden_characters.join(', ')}: visible() was skipped`);
  }
  await page.screenshot({ path: join(dir, 'admin-desktop.png'), fullPage: true });

  await page.setViewportSize(PHONE);
  // The spend chart is redrawn for the new width on the next frame.
  await page.evaluate(() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done))));
  const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
  await page.screenshot({ path: join(dir, 'admin-phone.png'), fullPage: true });
  await page.setViewportSize(DESKTOP);
  if (scrollWidth > PHONE.width) {
    throw new Error(`at ${PHONE.width} px the page is ${scrollWidth} px wide`);
  }
  shown.phone_scroll_width = scrollWidth;
  return shown;
}

// (c) A new token: shown once, copied, and gone after Done and after a reload.
async function tokenShownOnce(page) {
  await page.fill('#token-name', TOKEN_NAME);
  await page.selectOption('#token-scope', 'chat');
  await page.fill('#token-days', '7');
  const response = await clickFor(page, '#token-create', 'POST', '/admin/tokens');
  if (response.status() !== 201) {
    throw new Error(`creating ${TOKEN_NAME} answered ${response.status()}`);
  }
  const created = await response.json();
  await must('the new token is not shown', () => page.waitForSelector('#token-secret'));
  const secret = await page.textContent('#token-secret');
  if (!secret || secret !== created.token) {
    throw new Error('the token shown is not the token the edge made');
  }
  await page.click('#token-secret-copy');
  await page.waitForFunction(() => document.getElementById('token-secret-copy')?.textContent !== 'Copy');
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  if (copied !== secret) {
    throw new Error('Copy did not put the token on the clipboard');
  }
  await settled(page, 'tokens');
  const listed = await page.evaluate(shownTokens);

  await page.click('#token-secret-done');
  const afterDone = await page.evaluate(secretLeft, secret);
  await page.reload();
  await ready(page);
  const afterReload = await page.evaluate(secretLeft, secret);
  for (const [when, left] of [['after Done', afterDone], ['after a reload', afterReload]]) {
    const where = Object.entries(left).filter(([, found]) => found).map(([place]) => place);
    if (where.length) {
      throw new Error(`the token is still on the page ${when} (${where.join(', ')})`);
    }
  }
  const tokens = await page.evaluate(shownTokens);
  const mine = tokens.find((token) => token.id === created.id);
  if (!mine || mine.name !== TOKEN_NAME || mine.status !== 'active') {
    throw new Error(`after a reload the list shows the new token as ${JSON.stringify(mine ?? null)}`);
  }
  return {
    id: created.id,
    shown: secret,
    copied: copied === secret,
    listed_after_create: listed.some((token) => token.id === created.id),
    after_done: afterDone,
    after_reload: afterReload,
    listed: mine,
  };
}

// (d) Revoked with the two-step button: the first click only asks.
async function revokeToken(page, id) {
  const button = page.locator(`button[data-revoke-token=${quoted(id)}]`);
  const clicked = await clickTwice(page, button, (request) =>
    request.method() === 'DELETE' && new URL(request.url()).pathname === `/admin/tokens/${id}`, { answered: false });
  await must('the revoked token is not shown as revoked', () =>
    page.waitForSelector(`#token-list [data-token=${quoted(id)}][data-status="revoked"]`));
  if (clicked.afterFirstClick !== 0) {
    throw new Error('the first click on Revoke revoked the token');
  }
  return {
    confirm_label: clicked.confirmLabel,
    status: await page.textContent('#tokens-status'),
    listed: (await page.evaluate(shownTokens)).find((token) => token.id === id),
  };
}

// (e) "Add another passkey": the setup link, shown once. Null when passkeys are off.
async function setupLink(page) {
  if (await page.isHidden('#passkeys')) {
    return null;
  }
  const response = await clickFor(page, '#passkey-add', 'POST', '/admin/passkeys/setup-link');
  if (response.status() !== 201) {
    throw new Error(`making a setup link answered ${response.status()}`);
  }
  await must('the setup link is not shown', () => page.waitForSelector('#setup-link'));
  const link = await page.textContent('#setup-link');
  await page.click('#setup-link-done');
  if (await page.locator('#setup-link').count()) {
    throw new Error('the setup link is still shown after Done');
  }
  await settled(page, 'passkeys');
  return link;
}

// (f) Each approval the caller names is answered on the page and leaves the list.
async function answerApprovals(page) {
  const answered = [];
  const wanted = [
    ...args.approve.map((id) => ({ id, answer: 'approve', attribute: 'data-approve', clicks: 1 })),
    ...args.deny.map((id) => ({ id, answer: 'deny', attribute: 'data-deny', clicks: 2 })),
  ];
  for (const { id, answer, attribute, clicks } of wanted) {
    const item = `#approval-list [data-approval=${quoted(id)}]`;
    await must(`approval ${id} is not shown`, () => page.waitForSelector(item));
    const command = await page.textContent(`${item} .approval-command`);
    const button = page.locator(`button[${attribute}=${quoted(id)}]`);
    for (let click = 0; click < clicks; click += 1) {
      await button.click();
    }
    await must(`approval ${id} stayed in the list after "${answer}"`, () =>
      page.waitForSelector(item, { state: 'detached' }));
    answered.push({ approval: id, answer, command, status: await page.textContent('#approvals-status') });
  }
  return answered;
}

// (g) The audit filter: by type, then also by a principal that never acted.
async function filterAudit(page) {
  const apply = async () => {
    const response = await clickFor(page, '#audit-apply', 'GET', '/admin/audit');
    await settled(page, 'audit');
    return { status: response.status(), query: new URL(response.url()).search };
  };
  await page.selectOption('#audit-type', 'token_created');
  const byType = await apply();
  const typeRows = await page.evaluate(auditRows);
  await page.fill('#audit-principal', 'nobody-at-all');
  const byPrincipal = await apply();
  const principalRows = await page.locator('#audit-rows tr').count();
  return {
    type_query: byType.query,
    type_rows: typeRows,
    principal_query: byPrincipal.query,
    principal_rows: principalRows,
    principal_empty_shown: await page.isVisible('#audit-empty'),
  };
}

// (h) A login an hour old may look, but not add a way in: creating a token is
// refused with a way to sign in again, and no token appears.
async function staleLogin(browser) {
  const { context, page } = await run.open(browser, 'stale', args['stale-session']);
  await page.goto(run.at('/admin'));
  await ready(page);
  const fresh = await page.textContent('#overview-fresh');
  const before = await page.locator('#token-list [data-token]').count();
  await page.fill('#token-name', 'stale-token');
  await page.selectOption('#token-scope', 'chat');
  await page.fill('#token-days', '7');
  const response = await clickFor(page, '#token-create', 'POST', '/admin/tokens');
  await settled(page, 'tokens');
  const shown = {
    fresh,
    status: response.status(),
    message: await statusSaid(page, 'tokens', 'no reason is shown for the refused token'),
    sign_in_again: await page.locator(`#tokens-status a[href=${quoted(LOGIN)}]`).count() > 0,
    secret_shown: await page.locator('#token-secret').count() > 0,
    tokens_before: before,
  };
  await page.reload();
  await ready(page);
  shown.tokens_after = await page.locator('#token-list [data-token]').count();
  await context.close();
  if (response.status() < 400 || shown.secret_shown) {
    throw new Error(`a login an hour old created a token (answered ${response.status()})`);
  }
  return shown;
}

// (i) The requests chart for the last hour: a bar a minute.
async function requestsLastHour(page) {
  const [response] = await Promise.all([
    page.waitForResponse((r) => {
      const url = new URL(r.url());
      return url.pathname === '/admin/requests' && url.searchParams.get('hours') === '1';
    }),
    page.selectOption('#requests-hours', '1'),
  ]);
  if (response.status() !== 200) {
    throw new Error(`the last hour's requests answered ${response.status()}`);
  }
  await settled(page, 'requests');
  return page.locator('#requests-chart g.requests-bar').count();
}

// (j) A chat platform's request, approved by the code its sender was given and
// then revoked. The page lists who waits, never a code.
async function pairAndRevoke(page, code, wantedSender) {
  if (await page.isHidden('#pairing')) {
    throw new Error('--pairing-code was given, but the chat platforms section is hidden');
  }
  await settled(page, 'pairing');
  if (wantedSender) {
    await must(`${wantedSender} is not shown as waiting`, () =>
      page.waitForSelector(`#pairing-pending li[data-sender=${quoted(wantedSender)}]`));
  }
  const { pending } = await page.evaluate(shownPairing);
  if (await page.evaluate(codeShown, code)) {
    throw new Error('the page shows the pairing code before it is typed');
  }

  await page.fill('#pairing-code', code);
  await page.selectOption('#pairing-role', 'guest');
  const response = await clickFor(page, '#pairing-approve', 'POST', '/admin/pairing/approve');
  if (response.status() !== 201) {
    throw new Error(`approving the pairing code answered ${response.status()}: ${await response.text()}`);
  }
  const approved = await response.json();
  const sender = wantedSender ?? String(approved.sender);
  const item = `#pairing-list li[data-sender=${quoted(sender)}]`;
  await must(`${sender} is not shown as paired`, () => page.waitForSelector(item));
  const approvedMessage = await statusSaid(page, 'pairing', 'approving said nothing');
  const { paired } = await page.evaluate(shownPairing);
  if (await page.inputValue('#pairing-code') !== '') {
    throw new Error('the pairing code stayed in its field after it was approved');
  }

  const button = page.locator(`button[data-revoke-sender=${quoted(sender)}]`);
  const clicked = await clickTwice(page, button, (request) =>
    request.method() === 'DELETE' && new URL(request.url()).pathname.startsWith('/admin/pairing/'));
  if (clicked.afterFirstClick !== 0) {
    throw new Error('the first click on Revoke revoked the pairing');
  }
  if (clicked.response.status() !== 204) {
    throw new Error(`revoking ${sender} answered ${clicked.response.status()}`);
  }
  await must(`${sender} stayed in the paired list after it was revoked`, () =>
    page.waitForSelector(item, { state: 'detached' }));
  const revokedMessage = await statusSaid(page, 'pairing', 'revoking said nothing');
  return {
    pairing_pending: pending,
    pairing_paired: paired,
    pairing_after_revoke: (await page.evaluate(shownPairing)).paired,
    pairing_messages: {
      approved: approvedMessage,
      confirm: clicked.confirmLabel,
      revoked: revokedMessage,
    },
  };
}

async function main() {
  const chromium = await loadPlaywright(fail);
  mkdirSync(dir, { recursive: true });
  const browser = await launch(chromium, fail);
  await run.finish(browser, join(dir, 'admin-failure.png'), async () => {
    const deniedWithoutSession = await run.visitorIsSentToLogin(browser);
    const { page } = await run.open(browser, 'owner', args.session);
    const shown = await ownerView(page);
    const token = await tokenShownOnce(page);
    const revoked = await revokeToken(page, token.id);
    const link = await setupLink(page);
    const answered = await answerApprovals(page);
    const audit = await filterAudit(page);
    const stale = await staleLogin(browser);
    run.current = page;
    const hourBars = await requestsLastHour(page);
    const code = args['pairing-code'];
    const pairing = code ? await pairAndRevoke(page, code, args['pairing-sender']) : {};
    return {
      denied_without_session: deniedWithoutSession,
      cookie_name: cookieName,
      ...shown,
      token,
      revoked,
      setup_link: link,
      answered,
      audit_filter: audit,
      stale,
      requests_hour_bars: hourBars,
      ...pairing,
      requests: run.requestsMade(),
      screenshots: { desktop: join(dir, 'admin-desktop.png'), phone: join(dir, 'admin-phone.png') },
    };
  });
}

await main();
