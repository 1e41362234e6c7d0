// Drives the login hand-over to the upstream's own host in a real headless
// Chromium: what browsers do with the cookies (host-only, SameSite=Strict across
// a chain of same-site redirects) is what the edge's tests cannot show. Run by
// hardshell-edge's test `browser_origin` (crates/hardshell-edge/tests/edge/
// browser_origin.rs); not for anything else.
//
//   PLAYWRIGHT_HOME=$INFRA/node node scripts/browser-origin.mjs \
//     --edge https://hs.test:PORT --app https://app.hs.test:PORT \
//     --session <the owner's edge session id> --next /control?tab=1
//
// As deployed: https, and two sibling hosts of one registrable domain, which
// browsers treat as the same site (app.localhost and localhost would be two
// sites, and show nothing of what a sibling can do). Chromium resolves both
// names to 127.0.0.1 and accepts the test's self-signed certificate. The
// owner's edge session is given (the passkey ceremony is the chat browser
// test's); the script sets it as the login would: `__Host-`, host-only.
//
// Steps: (1) a visitor opening the upstream's page lands on the edge's login
// page; (2) signed in on the edge, the login page itself carries on to the
// hand-over and the browser lands on the upstream's page, with a session
// cookie of that host only; (3) the upstream's page posting to the edge's
// logout with credentials (a same-site request, so the Strict cookie is sent)
// is refused by the Origin check: the owner is still signed in; (4) logging
// out on the edge ends the upstream host's session: the page is the login's
// again. Prints one line of JSON on success; on failure prints
// `browser-origin: <what failed>` on stderr and exits 1.
import { CHROMIUM, CHROMIUM_FLAGS, commandLine, failFor, loadPlaywright } from './browser-common.mjs';

const STEP_TIMEOUT_MS = 20_000;

const fail = failFor('browser-origin');
const args = commandLine(fail, ['edge', 'app', 'session', 'next']);
const edge = new URL(args.edge);
const app = new URL(args.app);
for (const url of [edge, app]) {
  if (url.protocol !== 'https:') fail(`${url} is not https: the cookies under test are __Host- ones`);
}
const SESSION = '__Host-hs_session';
const ORIGIN_SESSION = '__Host-hs_origin';

function expect(what, ok) {
  if (!ok) throw new Error(what);
}

async function main() {
  const chromium = await loadPlaywright(fail);
  const resolve = `--host-resolver-rules=MAP ${edge.hostname} 127.0.0.1,MAP ${app.hostname} 127.0.0.1`;
  const browser = await chromium.launch({
    executablePath: CHROMIUM, headless: true, args: [...CHROMIUM_FLAGS, '--ignore-certificate-errors', resolve],
  });
  // CSP bypassed: the edge's CSP (connect-src 'self') is set only where the
  // upstream sets none, and a compromised upstream would set its own.
  const context = await browser.newContext({ ignoreHTTPSErrors: true, bypassCSP: true });
  context.setDefaultTimeout(STEP_TIMEOUT_MS);
  const page = await context.newPage();
  const target = new URL(args.next, app).href;
  try {
    // (1) No session anywhere: the upstream's page sends the browser to the
    // edge's login, which will come back to the hand-over.
    await page.goto(target);
    const login = new URL(page.url());
    expect(`a visitor landed on ${page.url()}, not the edge's login`,
      login.origin === edge.origin && login.pathname === '/login'
        && (login.searchParams.get('next') || '').startsWith('/auth/handoff?'));
    const loginUrl = page.url();

    // (2) Signed in on the edge (as a login would leave it), the login page
    // carries on by itself, through the hand-over, to the upstream's page.
    await context.addCookies([{
      name: SESSION, value: args.session, url: edge.origin,
      httpOnly: true, sameSite: 'Strict', secure: true,
    }]);
    await page.goto(loginUrl);
    await page.waitForURL(target);
    const shown = (await page.textContent('body')).trim();
    expect(`the upstream's page showed ${JSON.stringify(shown)}`, shown === 'hello from upstream');
    const cookies = await context.cookies();
    const origin = cookies.filter((c) => c.name === ORIGIN_SESSION);
    expect(`the upstream's host has ${origin.length} session cookies`, origin.length === 1);
    expect(`its session cookie is for ${origin[0].domain}`, origin[0].domain === app.hostname);
    expect('its session cookie is readable by script', origin[0].httpOnly);
    expect(`its session cookie is SameSite=${origin[0].sameSite}`, origin[0].sameSite === 'Strict');
    expect('its session cookie is not Secure', origin[0].secure);
    const session = cookies.filter((c) => c.name === SESSION);
    expect(`the edge's cookie went to ${session.map((c) => c.domain)}`,
      session.length === 1 && session[0].domain === edge.hostname);

    // (3) Script on the upstream's origin posts to the edge's logout with the
    // browser's credentials: same-site, so the Strict cookie goes along; the
    // edge refuses it for its Origin, and the owner is still signed in.
    const sentFromApp = await page.evaluate(async (url) => {
      try {
        await fetch(url, { method: 'POST', credentials: 'include', mode: 'no-cors' });
        return true;
      } catch {
        return false;
      }
    }, new URL('/auth/logout', edge).href);
    expect("the upstream's page could not send its request", sentFromApp);
    await page.goto(new URL('/login', edge).href);
    const still = await page.evaluate(async () => (await fetch('/auth/whoami')).status);
    expect(`after the upstream's page posted a logout, whoami answered ${still}`, still === 200);

    // (4) Logging out on the edge ends the upstream host's session too.
    const out = await page.evaluate(async () => (await fetch('/auth/logout', { method: 'POST' })).status);
    expect(`logging out answered ${out}`, out === 204);
    await page.goto(target);
    const after = new URL(page.url());
    expect(`after logging out the upstream's page is ${page.url()}`,
      after.origin === edge.origin && after.pathname === '/login');

    console.log(JSON.stringify({ ok: true, landed: target, cookie: origin[0] && { domain: origin[0].domain, sameSite: origin[0].sameSite } }));
  } catch (error) {
    console.error(`browser-origin: ${error.message.split('\n')[0]} (at ${page.url()})`);
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
}

await main();
