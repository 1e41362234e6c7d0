// Drives the web chat page in a real headless Chromium, as its owner would: the
// page refuses a visitor without a session, the owner creates a passkey from the
// one-time setup link and signs in with it, starts a chat, sends a message and
// waits for the streamed reply. Run by hardshell's browser test
// (crates/hardshell/tests/browser); not for anything else.
//
//   PLAYWRIGHT_HOME=$INFRA/node node scripts/browser-chat.mjs \
//     --edge http://localhost:PORT --setup-link URL --message TEXT \
//     --screenshot desktop.png --phone-screenshot phone.png \
//     [--control-socket data/run/agent/edge.sock]
//
// With --control-socket, it also plays the agent's part of the `exec` tool on
// that socket (as `hardshell agent` does): it asks to run two commands that
// [exec] allow does not cover, and the owner answers them on the page, once
// "Run it" and once "Don't run".
//
// PLAYWRIGHT_HOME is where npm installed playwright-core (scripts/install.sh); ESM
// imports ignore NODE_PATH, so the module is resolved from there explicitly. The
// browser is Debian's /usr/bin/chromium: playwright-core never downloads one.
// The edge URL must use the host `localhost` and equal [edge] public_url: WebAuthn
// binds the passkey to that origin, and the browser treats localhost as secure.
// The passkey lives in a virtual WebAuthn authenticator (Chrome DevTools Protocol),
// so the real login.js runs the real ceremonies with no person to tap a key.
//
// Prints one line of JSON on success (the reply, the stored history, timings,
// the screenshots); on any failure prints `browser-chat: <what failed>` on stderr,
// saves <screenshot>-failure.png and exits 1.
import { mkdirSync } from 'node:fs';
import http from 'node:http';
import { dirname } from 'node:path';

import {
  DESKTOP, PHONE, commandLine, failFor, launch, loadPlaywright, must, registerPasskey,
} from './browser-common.mjs';

// Time for the whole reply: a small local model on two busy cores, under the
// agent's own turn timeout (120 s by default).
const REPLY_TIMEOUT_MS = 150_000;
const STEP_TIMEOUT_MS = 20_000;

const fail = failFor('browser-chat');
const args = commandLine(fail, ['edge', 'setup-link', 'message', 'screenshot', 'phone-screenshot'], {
  'control-socket': { type: 'string' },
});
const edge = new URL(args.edge);
if (edge.hostname !== 'localhost') {
  fail(`--edge must be a localhost URL (WebAuthn needs a secure origin), not ${edge}`);
}

const at = (path) => new URL(path, edge).href;
const started = Date.now();
const timings = {};
const mark = (name, since) => {
  timings[name] = Date.now() - since;
};

// What the page itself reported: a CSP violation or a script error is a failure.
const problems = [];
function watch(page, label) {
  page.on('console', (message) => {
    // Failed loads are judged by their responses below, which name the URL.
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) {
      problems.push(`${label} console: ${message.text()}`);
    }
  });
  page.on('response', (response) => {
    // A 401 is expected where there is no session; anything else is not.
    if (response.status() >= 400 && response.status() !== 401) {
      problems.push(`${label}: ${response.request().method()} ${response.url()} answered ${response.status()}`);
    }
  });
  page.on('pageerror', (error) => problems.push(`${label} script error: ${error.message}`));
}

// Step 1 (deny): a visitor without a session gets 401 from the page's APIs and
// is sent to the login page.
async function visitorIsSentToLogin(page) {
  await page.goto(at('/'));
  await must('a visitor without a session was not sent to /login', () =>
    page.waitForURL(at('/login'), { timeout: STEP_TIMEOUT_MS }));
  const statuses = await page.evaluate(async () => {
    const status = async (method, path) =>
      (await fetch(path, { method, headers: { 'Content-Type': 'application/json' } })).status;
    return {
      whoami: await status('GET', '/auth/whoami'),
      list: await status('GET', '/api/sessions'),
      create: await status('POST', '/api/sessions'),
    };
  });
  for (const [call, status] of Object.entries(statuses)) {
    if (status !== 401) {
      throw new Error(`without a session, ${call} answered ${status}, not 401`);
    }
  }
  return statuses;
}

// Step 2: a passkey in a virtual authenticator, created through the real login
// page. `page` is a new tab, as the owner would open the link.
async function registerAndSignIn(context, page) {
  const since = Date.now();
  await registerPasskey(context, page, args['setup-link'], edge.hostname, STEP_TIMEOUT_MS);
  mark('register_ms', since);
  const signIn = Date.now();
  await page.click('#sign-in');
  await must('signing in did not reach the chat page', () =>
    page.waitForURL(at('/'), { timeout: STEP_TIMEOUT_MS }));
  await page.waitForSelector('body.ready');
  mark('sign_in_ms', signIn);
}

// Step 3: a new chat, a message, and its reply as it streams in.
async function chat(page) {
  await page.click('#new-chat');
  await page.waitForSelector('#session-list button[aria-current="true"]');
  // Counts the changes to the reply's text: more than one means it streamed.
  await page.evaluate(() => {
    window.replyUpdates = 0;
    new MutationObserver((changes) => {
      for (const change of changes) {
        if (change.target.closest && change.target.closest('.message.assistant .text')) {
          window.replyUpdates += 1;
        }
      }
    }).observe(document.getElementById('messages'), { subtree: true, childList: true, characterData: true });
  });
  await page.fill('#message', args.message);
  const sent = Date.now();
  await page.press('#message', 'Enter');
  await must('the composer was not disabled while the turn ran', () =>
    page.waitForSelector('#message:disabled', { timeout: STEP_TIMEOUT_MS }));
  await must('no words of the reply arrived', () =>
    page.waitForSelector('.message.assistant .text:not(.pending), .message.assistant .error', {
      timeout: REPLY_TIMEOUT_MS,
    }));
  mark('first_words_ms', sent);
  await must('the turn did not end (the composer stayed disabled)', () =>
    page.waitForSelector('#message:enabled', { timeout: REPLY_TIMEOUT_MS }));
  mark('reply_ms', sent);
  const shown = await page.evaluate(() => {
    const last = (selector) => [...document.querySelectorAll(selector)].pop();
    const reply = last('.message.assistant');
    return {
      user: last('.message.user .text')?.textContent ?? null,
      // The agent's words as they came, kept beside their Markdown rendering.
      reply: reply?.querySelector('.text')?.dataset.source ?? '',
      error: reply?.querySelector('.error')?.textContent ?? null,
      live: reply?.querySelector('.text')?.getAttribute('aria-live') ?? null,
      busy: reply?.querySelector('.text')?.getAttribute('aria-busy') ?? null,
      // Message text is untrusted: no element may come from the owner's, and
      // the agent's become only Markdown's own elements, with no handlers
      // (hostile Markdown has its own test: hardshell-edge's markdown_page).
      elementsFromText: document.querySelectorAll('#messages .message.user .text *').length
        + [...document.querySelectorAll('#messages .text.markdown *')].filter((node) =>
          !hardshellMarkdown.ELEMENTS.includes(node.localName)
          || [...node.attributes].some((attribute) => attribute.name.startsWith('on'))).length,
      updates: window.replyUpdates,
      session: new URLSearchParams(location.hash.slice(1)).get('chat'),
    };
  });
  if (shown.error) {
    throw new Error(`the reply failed on the page: ${shown.error}`);
  }
  if (!shown.reply.trim()) {
    throw new Error('the reply is empty');
  }
  if (shown.user !== args.message) {
    throw new Error(`the sent message is shown as ${JSON.stringify(shown.user)}`);
  }
  if (shown.elementsFromText !== 0) {
    throw new Error('message text was rendered as HTML');
  }
  if (shown.live !== 'polite' || shown.busy !== 'false') {
    throw new Error(`the reply's live region is aria-live=${shown.live} aria-busy=${shown.busy}`);
  }
  return shown;
}

// Step 4: what the server stored, as the page loads it after a reload.
async function storedHistory(page, session) {
  await page.reload();
  await page.waitForSelector('body.ready');
  await must('the chat is not listed after a reload', () =>
    page.waitForSelector(`#session-list button[aria-current="true"] .session-title`, { timeout: STEP_TIMEOUT_MS }));
  const title = await page.textContent('#session-list button[aria-current="true"] .session-title');
  const history = await page.evaluate(async (id) => {
    const response = await fetch(`/api/sessions/${encodeURIComponent(id)}`);
    const body = await response.json();
    return body.messages.map((stored) => ({
      role: stored.message.role,
      text: stored.message.content.filter((part) => part.type === 'text').map((part) => part.text).join(''),
    }));
  }, session);
  const shownMessages = await page.locator('#messages > li').count();
  return { title, history, shownMessages };
}

async function phone(browser, context, session) {
  const phoneContext = await browser.newContext({
    viewport: PHONE,
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
    storageState: await context.storageState(),
  });
  const page = await phoneContext.newPage();
  watch(page, 'phone');
  await page.goto(at(`/#chat=${encodeURIComponent(session)}`));
  await page.waitForSelector('body.ready');
  await page.waitForSelector('.message.assistant');
  const layout = await page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    drawerVisible: getComputedStyle(document.getElementById('chats')).visibility === 'visible',
    toggleShown: getComputedStyle(document.getElementById('drawer-toggle')).display !== 'none',
  }));
  if (layout.scrollWidth > PHONE.width || layout.drawerVisible || !layout.toggleShown) {
    throw new Error(`the phone layout is wrong: ${JSON.stringify(layout)}`);
  }
  await page.screenshot({ path: args['phone-screenshot'], fullPage: true });
  // The chat list opens as a drawer.
  await page.click('#drawer-toggle');
  await page.waitForSelector('#chats button[aria-current="true"]:visible');
  const drawer = args['phone-screenshot'].replace(/\.png$/, '') + '-drawer.png';
  await page.waitForTimeout(300); // the drawer slides in
  await page.screenshot({ path: drawer });
  await phoneContext.close();
  return drawer;
}

// A POST on the edge's control socket, as the agent makes it.
function control(path, body) {
  return new Promise((resolve, reject) => {
    const data = JSON.stringify(body);
    const request = http.request(
      {
        socketPath: args['control-socket'],
        path,
        method: 'POST',
        headers: { Host: 'hardshell-edge', 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) },
      },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk) => (text += chunk));
        response.on('end', () => {
          try {
            resolve(JSON.parse(text));
          } catch {
            reject(new Error(`control ${path} answered ${response.statusCode}: ${text}`));
          }
        });
      },
    );
    request.on('error', reject);
    request.end(data);
  });
}

// The agent asks to run `command`; the owner sees it on the page (it is
// waiting, so it shows on load) and presses `button`.
async function answerOnPage(page, session, command, button) {
  const asked = await control('/exec/v1/run', { session, command });
  if (asked.status !== 'pending') {
    throw new Error(`expected a question for ${command}, got ${JSON.stringify(asked)}`);
  }
  const answered = control(`/exec/v1/approvals/${asked.approval}/wait`, {});
  await page.reload();
  await page.waitForSelector('body.ready');
  const card = page.locator(`.approval[data-approval="${asked.approval}"]`);
  await card.waitFor();
  const shown = await card.locator('.approval-command').textContent();
  if (button === 'approve') {
    await page.screenshot({ path: args.screenshot.replace(/\.png$/, '') + '-approval.png', fullPage: true });
  }
  await card.locator(`button.${button}`).click();
  await page.waitForFunction(
    (id) => document.querySelector(`.approval[data-approval="${id}"] .approval-outcome`)?.textContent,
    asked.approval,
  );
  const outcome = await card.locator('.approval-outcome').textContent();
  return { shown, outcome, answer: await answered };
}

async function logOut(page) {
  await page.click('#logout');
  await must('logging out did not reach /login', () =>
    page.waitForURL(at('/login'), { timeout: STEP_TIMEOUT_MS }));
  const status = await page.evaluate(async () => (await fetch('/auth/whoami')).status);
  if (status !== 401) {
    throw new Error(`after logging out, whoami answered ${status}`);
  }
}

async function main() {
  const chromium = await loadPlaywright(fail);
  mkdirSync(dirname(args.screenshot), { recursive: true });
  mkdirSync(dirname(args['phone-screenshot']), { recursive: true });
  const launched = Date.now();
  const browser = await launch(chromium, fail);
  mark('launch_ms', launched);
  const context = await browser.newContext({ viewport: DESKTOP });
  context.setDefaultTimeout(STEP_TIMEOUT_MS);
  const visitor = await context.newPage();
  watch(visitor, 'visitor');
  let page = visitor;
  try {
    const denied = await visitorIsSentToLogin(visitor);
    await visitor.close();
    page = await context.newPage();
    watch(page, 'desktop');
    await registerAndSignIn(context, page);
    const shown = await chat(page);
    const stored = await storedHistory(page, shown.session);
    await page.screenshot({ path: args.screenshot, fullPage: true });
    const approvals = args['control-socket']
      ? {
          approved: await answerOnPage(page, shown.session, 'id -u > approved.txt && cat approved.txt', 'approve'),
          refused: await answerOnPage(page, shown.session, 'id > refused.txt', 'refuse'),
        }
      : null;
    const drawer = await phone(browser, context, shown.session);
    await logOut(page);
    if (problems.length) {
      throw new Error('the page reported problems');
    }
    mark('total_ms', started);
    console.log(JSON.stringify({
      ok: true,
      denied_without_session: denied,
      session: shown.session,
      title: stored.title,
      reply: shown.reply,
      reply_updates: shown.updates,
      history: stored.history,
      shown_messages: stored.shownMessages,
      approvals,
      timings,
      screenshots: { desktop: args.screenshot, phone: args['phone-screenshot'], phone_drawer: drawer },
    }));
  } catch (error) {
    const failure = args.screenshot.replace(/\.png$/, '') + '-failure.png';
    await page.screenshot({ path: failure, fullPage: true }).catch(() => {});
    const seen = problems.length ? `\n  the page reported:\n  ${problems.join('\n  ')}` : '';
    console.error(`browser-chat: ${error.message} (at ${page.url()}; screenshot ${failure})${seen}`);
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
}

await main();
