// A real OpenID Connect provider for hardshell's tests (panva's oidc-provider with its
// development login and consent pages), on 127.0.0.1 only. Not for anything else.
//
//   OIDC_PROVIDER_HOME=$INFRA/node node scripts/oidc-provider.mjs PORT
//
// OIDC_PROVIDER_HOME is where npm installed oidc-provider (scripts/install.sh); ESM
// imports ignore NODE_PATH, so the module is resolved from there explicitly.
// Also from the environment: OIDC_REDIRECT_URI (the redirect URIs of both clients,
// comma-separated),
// OIDC_CLIENT_SECRET (client `hardshell`), OIDC_OTHER_CLIENT_SECRET (client
// `hardshell-other`, used to show that one client's codes and tokens do not
// work for another). Any login name and password sign in; the account is
// `<login>@Example.COM` (mixed case on purpose), with `email_verified` false only
// for the login `unverified`, and groups `hardshell-admins` and `<login>-group`.
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const port = Number(process.argv[2]);
const {
  OIDC_PROVIDER_HOME, OIDC_REDIRECT_URI, OIDC_CLIENT_SECRET, OIDC_OTHER_CLIENT_SECRET,
} = process.env;
if (!port || !OIDC_PROVIDER_HOME || !OIDC_REDIRECT_URI || !OIDC_CLIENT_SECRET || !OIDC_OTHER_CLIENT_SECRET) {
  console.error('oidc-provider.mjs: need PORT and OIDC_PROVIDER_HOME, OIDC_REDIRECT_URI, OIDC_CLIENT_SECRET, OIDC_OTHER_CLIENT_SECRET');
  process.exit(2);
}
const resolve = createRequire(`${OIDC_PROVIDER_HOME}/`).resolve;
const { default: Provider } = await import(pathToFileURL(resolve('oidc-provider')).href);

const client = (client_id, client_secret) => ({
  client_id,
  client_secret,
  redirect_uris: OIDC_REDIRECT_URI.split(','),
  grant_types: ['authorization_code'],
  response_types: ['code'],
});

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [
    client('hardshell', OIDC_CLIENT_SECRET),
    client('hardshell-other', OIDC_OTHER_CLIENT_SECRET),
  ],
  scopes: ['openid', 'email', 'groups'],
  claims: { openid: ['sub'], email: ['email', 'email_verified'], groups: ['groups'] },
  // Put the scopes' claims in the ID token too, as most providers do.
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: true } },
  pkce: { required: () => true },
  cookies: { keys: ['hardshell-test-cookie-key-not-a-secret'] },
  async findAccount(ctx, login) {
    return {
      accountId: login,
      async claims() {
        return {
          sub: login,
          email: `${login}@Example.COM`,
          email_verified: login !== 'unverified',
          groups: ['hardshell-admins', `${login}-group`],
        };
      },
    };
  },
});

provider.listen(port, '127.0.0.1', () => console.log(`oidc-provider listening on 127.0.0.1:${port}`));
