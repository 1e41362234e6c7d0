// What the browser scripts share (scripts/browser-*.mjs): Debian's Chromium as
// playwright-core drives it, and the owner's passkey made through the real
// login page in a virtual WebAuthn authenticator. Not run on its own.
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

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
