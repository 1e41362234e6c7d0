// Opens the workload's own web UI (OpenClaw's Control UI) in a real headless
// Chromium through the edge, as its owner would: not before signing in, and
// after. Run by hardshell's OpenClaw workload test
// (crates/hardshell/tests/workload/openclaw.rs); not for anything else.
//
//   PLAYWRIGHT_HOME=$INFRA/node node scripts/browser-workload.mjs \
//     --edge https://hs.test:PORT --app https://claw.hs.test:PORT \
//     --setup-link URL --forwarded-for 203.0.113.7
//
// As deployed: https, the edge and the workload on sibling hosts of one site.
// Chromium resolves both names to 127.0.0.1 and accepts the test's certificate
// (WebAuthn still runs: checked with Debian's Chromium 156). Every request
// carries --forwarded-for as X-Forwarded-For, as a proxy in front of the edge
// that it trusts would add: OpenClaw refuses a client it cannot tell from
// local traffic, and the browser here is on the edge's loopback.
//
// Steps: (1) a visitor opening the workload's page lands on the edge's login
// page, and no WebSocket reaches the gateway; (2) the owner creates a passkey
// from the one-time setup link and signs in; (3) the workload's page, opened
// again, is the Control UI, whose WebSocket reaches the gateway through the
// edge and is let in (the gateway's `hello-ok`). Prints one line of JSON on
// success; on failure prints `browser-workload: <what failed>` on stderr and
// exits 1.
import { parseArgs } from 'node:util';

import { CHROMIUM, CHROMIUM_FLAGS, loadPlaywright, registerPasskey } from './browser-common.mjs';

// OpenClaw's Control UI connects once its scripts have loaded; on two busy
// cores with the gateway just started that can take a while.
const CONNECT_TIMEOUT_MS = 90_000;
const STEP_TIMEOUT_MS = 30_000;

const { values: args } = parseArgs({
  options: {
    edge: { type: 'string' },
    app: { type: 'string' },
    'setup-link': { type: 'string' },
    'forwarded-for': { type: 'string' },
  },
});
for (const name of ['edge', 'app', 'setup-link', 'forwarded-for']) {
  if (!args[name]) fail(`--${name} is required`);
}
const edge = new URL(args.edge);
const app = new URL(args.app);

function fail(message) {
  console.error(`browser-workload: ${message}`);
  process.exit(1);
}

async function step(what, run) {
  try {
    return await run();
  } catch (error) {
    throw new Error(`${what}: ${error.message.split('\n')[0]}`);
  }
}

function expect(what, ok) {
  if (!ok) throw new Error(what);
}

// Every WebSocket the page opens, and whether the gateway let it in.
function watchSockets(page, sockets) {
  page.on('websocket', (socket) => {
    const seen = { url: socket.url(), hello: false, closed: false };
    sockets.push(seen);
    socket.on('framereceived', ({ payload }) => {
      if (typeof payload === 'string' && payload.includes('"hello-ok"')) seen.hello = true;
    });
    socket.on('close', () => { seen.closed = true; });
  });
}

async function main() {
  const chromium = await loadPlaywright(fail);
  const resolve = `--host-resolver-rules=MAP ${edge.hostname} 127.0.0.1,MAP ${app.hostname} 127.0.0.1`;
  const browser = await chromium.launch({
    executablePath: CHROMIUM, headless: true, args: [...CHROMIUM_FLAGS, '--ignore-certificate-errors', resolve],
  });
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  context.setDefaultTimeout(STEP_TIMEOUT_MS);
  await context.setExtraHTTPHeaders({ 'X-Forwarded-For': args['forwarded-for'] });
  let page = await context.newPage();
  try {
    // (1) No session: the workload's page is the edge's login, and nothing
    // of the workload ran in the browser.
    const visitorSockets = [];
    watchSockets(page, visitorSockets);
    await page.goto(app.href);
    const login = new URL(page.url());
    expect(`a visitor landed on ${page.url()}, not the edge's login`,
      login.origin === edge.origin && login.pathname === '/login'
        && (login.searchParams.get('next') || '').startsWith('/auth/handoff?'));
    const visitorBuild = await page.evaluate(() => document.documentElement.dataset.openclawControlUiBuildId || '');
    const visitorTitle = await page.title();
    expect(`a visitor was shown ${JSON.stringify(visitorTitle)}`, visitorBuild === '' && !visitorTitle.includes('OpenClaw'));
    expect(`a visitor's page opened WebSockets to ${visitorSockets.map((s) => s.url)}`, visitorSockets.length === 0);
    await page.close();

    // (2) The owner's passkey, then signed in on the edge.
    page = await context.newPage();
    await registerPasskey(context, page, args['setup-link'], edge.hostname, STEP_TIMEOUT_MS);
    await page.click('#sign-in');
    // Where signing in lands is the edge's business (with a workload, its
    // home hands over to it); it is no longer the login page.
    await step('signing in did not leave the login page', () =>
      page.waitForURL((url) => url.pathname !== '/login', { waitUntil: 'commit' }));

    // (3) The workload's page again: handed over to its host, the Control UI,
    // its WebSocket through the edge let in by the gateway.
    const sockets = [];
    watchSockets(page, sockets);
    await page.goto(app.href);
    // The Control UI routes itself (history.pushState) once it runs: wait
    // for the URL, not for a load event.
    await step('the hand-over did not reach the workload\'s host', () =>
      page.waitForURL((url) => url.origin === app.origin && !url.pathname.startsWith('/.hardshell/'),
        { waitUntil: 'commit' }));
    // OpenClaw's Control UI marks its page with its build; its title follows
    // the view it shows ("OpenClaw Control", then "main — OpenClaw").
    await step('the workload\'s page is not OpenClaw\'s Control UI', () =>
      page.waitForFunction(() => document.documentElement.dataset.openclawControlUiBuildId
        && document.title.includes('OpenClaw')));
    const build = await page.evaluate(() => document.documentElement.dataset.openclawControlUiBuildId);
    const title = await page.title();
    const deadline = Date.now() + CONNECT_TIMEOUT_MS;
    while (!sockets.some((s) => s.hello) && Date.now() < deadline) {
      await page.waitForTimeout(250);
    }
    const connected = sockets.find((s) => s.hello);
    expect(`the Control UI's WebSockets (${JSON.stringify(sockets)}) were not let in by the gateway`, connected);
    const socketUrl = new URL(connected.url);
    const cookies = await context.cookies(app.href);
    console.log(JSON.stringify({
      ok: true,
      visitor_landed: `${login.origin}${login.pathname}`,
      title,
      build,
      page: `${new URL(page.url()).origin}`,
      socket: `${socketUrl.protocol}//${socketUrl.host}`,
      cookies_on_app: cookies.map((c) => c.name).sort(),
    }));
  } catch (error) {
    console.error(`browser-workload: ${error.message.split('\n')[0]} (at ${page.url()})`);
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
}

await main();
