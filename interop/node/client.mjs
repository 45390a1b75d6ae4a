// Sapient interoperability check for Node: the unmodified openid-client and
// jose libraries talk to a running Sapient at SAPIENT_ISSUER.
//
// It discovers the server (OpenID Connect Discovery and RFC 8414), obtains
// tokens by the client credentials grant (RFC 6749 §4.4) with
// client_secret_basic and client_secret_post, verifies a token as an
// RFC 9068 JWT against the published JWKS, calls GET /api/v1/me with it,
// introspects it (RFC 7662), revokes it (RFC 7009) and checks that
// /api/v1/me then refuses it with an RFC 6750 challenge.
//
// It prints one JSON summary on stdout and exits non-zero when a step
// fails; the Go test in internal/oauth (interop_test.go) asserts on the summary.
//
// Environment: SAPIENT_ISSUER, CLIENT_ID, CLIENT_SECRET, INTROSPECT_ID,
// INTROSPECT_SECRET.

import { readFileSync } from 'node:fs';
import * as client from 'openid-client';
import * as jose from 'jose';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};

const version = (pkg) =>
  JSON.parse(readFileSync(new URL(`./node_modules/${pkg}/package.json`, import.meta.url), 'utf8')).version;

const summary = {
  runtime: `node ${process.version}`,
  libraries: { 'openid-client': version('openid-client'), jose: version('jose') },
  steps: [],
};

// step runs one named check and records its outcome; the first failure
// stops the run.
async function step(name, fn) {
  try {
    const result = await fn();
    summary.steps.push({ name, ok: true });
    summary[name] = result;
    return result;
  } catch (err) {
    summary.steps.push({ name, ok: false });
    summary.failed = name;
    summary.error = describe(err);
    throw err;
  }
}

function describe(err) {
  const out = { name: err?.name, message: String(err?.message ?? err) };
  if (err?.code) out.code = err.code;
  if (err?.error) out.error = err.error;
  if (err?.error_description) out.error_description = err.error_description;
  if (err?.status) out.status = err.status;
  if (err?.cause && typeof err.cause === 'object' && !(err.cause instanceof Response)) {
    try {
      out.cause = JSON.parse(JSON.stringify(err.cause));
    } catch {
      out.cause = String(err.cause);
    }
  }
  return out;
}

// tokenSummary keeps what the Go test asserts on; the token itself stays
// out of the summary.
const tokenSummary = (t) => ({
  token_type: t.token_type,
  expires_in: t.expiresIn(),
  scope: t.scope,
  has_access_token: typeof t.access_token === 'string' && t.access_token.length > 0,
});

async function main() {
  const issuer = new URL(env('SAPIENT_ISSUER'));
  const clientId = env('CLIENT_ID');
  const clientSecret = env('CLIENT_SECRET');
  const introspectId = env('INTROSPECT_ID');
  const introspectSecret = env('INTROSPECT_SECRET');
  // The test server is plain HTTP on loopback; the libraries require
  // HTTPS unless told otherwise.
  const insecure = { execute: [client.allowInsecureRequests] };

  // OpenID Connect Discovery (/.well-known/openid-configuration), with the
  // library's default client authentication for a secret: client_secret_post.
  let postConfig;
  await step('discovery_oidc', async () => {
    postConfig = await client.discovery(issuer, clientId, clientSecret, undefined, insecure);
    return pick(postConfig.serverMetadata());
  });

  // RFC 8414 (/.well-known/oauth-authorization-server), with
  // client_secret_basic.
  let basicConfig;
  await step('discovery_oauth2', async () => {
    basicConfig = await client.discovery(issuer, clientId, clientSecret, client.ClientSecretBasic(), {
      ...insecure,
      algorithm: 'oauth2',
    });
    return pick(basicConfig.serverMetadata());
  });

  // Explicit client_secret_post, to name the method rather than rely on
  // the library's default.
  const explicitPost = await client.discovery(issuer, clientId, clientSecret, client.ClientSecretPost(), insecure);

  await step('token_basic', async () => tokenSummary(await client.clientCredentialsGrant(basicConfig)));
  await step('token_basic_scope', async () =>
    tokenSummary(await client.clientCredentialsGrant(basicConfig, { scope: 'usage:read' })),
  );
  await step('token_post_default', async () => tokenSummary(await client.clientCredentialsGrant(postConfig)));

  // The token that the rest of the run uses, by client_secret_post.
  let accessToken;
  await step('token_post', async () => {
    const t = await client.clientCredentialsGrant(explicitPost, { scope: 'credentials:read usage:read' });
    accessToken = t.access_token;
    return tokenSummary(t);
  });

  // RFC 9068 §4: verify signature, issuer, audience and typ with jose
  // against the JWKS that discovery advertised.
  await step('jwt', async () => {
    const jwks = jose.createRemoteJWKSet(new URL(postConfig.serverMetadata().jwks_uri));
    const { payload, protectedHeader } = await jose.jwtVerify(accessToken, jwks, {
      issuer: postConfig.serverMetadata().issuer,
      audience: postConfig.serverMetadata().issuer,
      typ: 'at+jwt',
      algorithms: ['ES256'],
      requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat', 'jti', 'client_id'],
    });
    return { verified: true, header: protectedHeader, claims: payload };
  });

  // The smallest protected API call, through the library's protected
  // resource request (RFC 6750 §2.1 Authorization: Bearer).
  await step('me', async () => {
    const res = await client.fetchProtectedResource(
      postConfig,
      accessToken,
      new URL('/api/v1/me', issuer),
      'GET',
    );
    return { status: res.status, body: await res.json() };
  });

  // RFC 7662 introspection by a credential that holds sapient:introspect.
  const introspector = await client.discovery(issuer, introspectId, introspectSecret, client.ClientSecretBasic(), insecure);
  await step('introspection', async () => {
    const r = await client.tokenIntrospection(introspector, accessToken);
    return { ...r };
  });

  // RFC 7009 revocation by the client that owns the token.
  await step('revocation', async () => {
    await client.tokenRevocation(basicConfig, accessToken, { token_type_hint: 'access_token' });
    return { ok: true };
  });

  // After revocation /api/v1/me must answer 401 with an RFC 6750 §3
  // challenge; the library parses it into a WWWAuthenticateChallengeError.
  await step('me_after_revocation', async () => {
    try {
      const res = await client.fetchProtectedResource(
        postConfig,
        accessToken,
        new URL('/api/v1/me', issuer),
        'GET',
      );
      throw new Error(`revoked token was accepted with status ${res.status}`);
    } catch (err) {
      if (!(err instanceof client.WWWAuthenticateChallengeError)) throw err;
      return { status: err.response.status, challenges: err.cause };
    }
  });

  await step('introspection_after_revocation', async () => ({ ...(await client.tokenIntrospection(introspector, accessToken)) }));

  // A wrong secret is refused with 401 invalid_client and, because the
  // client used HTTP Basic, a Basic challenge (RFC 6749 §5.2). The library
  // reports the challenge first; the RFC 6749 error is in the body.
  await step('wrong_secret', async () => {
    const bad = await client.discovery(issuer, clientId, 'not-the-secret', client.ClientSecretBasic(), insecure);
    try {
      await client.clientCredentialsGrant(bad);
    } catch (err) {
      if (err instanceof client.WWWAuthenticateChallengeError) {
        const body = await err.response.json();
        return { kind: err.name, status: err.status, challenges: err.cause, error: body.error };
      }
      if (err instanceof client.ResponseBodyError) {
        return { kind: err.name, status: err.status, error: err.error };
      }
      throw err;
    }
    throw new Error('a wrong secret obtained a token');
  });
}

function pick(m) {
  const keys = [
    'issuer',
    'token_endpoint',
    'jwks_uri',
    'introspection_endpoint',
    'revocation_endpoint',
    'grant_types_supported',
    'token_endpoint_auth_methods_supported',
  ];
  return Object.fromEntries(keys.map((k) => [k, m[k]]));
}

let code = 0;
try {
  await main();
  summary.ok = true;
} catch (err) {
  summary.ok = false;
  summary.error ??= describe(err);
  code = 1;
}
process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
process.exitCode = code;
