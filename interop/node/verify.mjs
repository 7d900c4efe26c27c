// verify.mjs verifies one caddy-oauth2 access token with jose, set up the way
// a Node.js resource server usually is: a remote JWK set fetched from the
// authorization server's jwks_uri, and the issuer, audience and RFC 9068
// token type pinned.
//
// Usage: node verify.mjs <jwks-url> <issuer> <audience> <token>
// Each argument may instead come from JWKS_URL, ISSUER, AUDIENCE or TOKEN.
//
// On success it prints the token's payload as JSON on stdout and exits 0. On
// refusal it prints {"code", "claim", "message"} as JSON on stderr and exits
// 1, so that a caller can tell a bad signature from a wrong issuer; on a usage
// error it exits 2.
import { createRemoteJWKSet, jwtVerify } from 'jose';

const [jwksURL, issuer, audience, token] = [
  ['JWKS_URL', 2],
  ['ISSUER', 3],
  ['AUDIENCE', 4],
  ['TOKEN', 5],
].map(([env, i]) => process.argv[i] ?? process.env[env]);

if (!jwksURL || !issuer || !audience || !token) {
  console.error('usage: node verify.mjs <jwks-url> <issuer> <audience> <token> (or JWKS_URL, ISSUER, AUDIENCE, TOKEN)');
  process.exit(2);
}

// One key set per process: a long-lived server keeps it, and jose refetches
// it when a token names a kid it has not seen (at most every 30 s by default).
const jwks = createRemoteJWKSet(new URL(jwksURL));

try {
  const { payload } = await jwtVerify(token, jwks, { issuer, audience, typ: 'at+jwt' });
  console.log(JSON.stringify(payload));
} catch (err) {
  console.error(JSON.stringify({ code: err.code ?? err.name, claim: err.claim, message: err.message }));
  process.exit(1);
}
