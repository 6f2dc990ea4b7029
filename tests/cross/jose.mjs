// Cross-checks with `jose` (npm), an implementation independent of Tessera's.
//   node jose.mjs verify JWKS_URL ISSUER AUDIENCE TOKEN  -> {"ok": true, "header": …, "claims": …} or {"ok": false, "error": …}
//   node jose.mjs forge CLAIMS_JSON KID                  -> tokens jose signs with keys of its own, one per line
import * as jose from 'jose';

const [cmd, ...args] = process.argv.slice(2);
if (cmd === 'verify') {
  const [jwksUrl, issuer, audience, token] = args;
  const jwks = jose.createRemoteJWKSet(new URL(jwksUrl));
  try {
    const { payload, protectedHeader } = await jose.jwtVerify(token, jwks, {
      issuer, audience, typ: 'at+jwt', algorithms: ['ES256'],
      requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat', 'jti', 'client_id', 'scope'],
    });
    console.log(JSON.stringify({ ok: true, header: protectedHeader, claims: payload }));
  } catch (e) {
    console.log(JSON.stringify({ ok: false, error: `${e.code}: ${e.message}` }));
  }
} else if (cmd === 'forge') {
  const [claimsJson, kid] = args;
  const claims = JSON.parse(claimsJson);
  const out = [];
  // Its own P-256 key, claiming the real kid; then its own kid; then RSA and HMAC.
  const ec = await jose.generateKeyPair('ES256');
  out.push(await new jose.SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid }).sign(ec.privateKey));
  const ownKid = await jose.calculateJwkThumbprint(await jose.exportJWK(ec.publicKey));
  out.push(await new jose.SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: ownKid }).sign(ec.privateKey));
  const rsa = await jose.generateKeyPair('RS256');
  out.push(await new jose.SignJWT(claims).setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid }).sign(rsa.privateKey));
  out.push(await new jose.SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid }).sign(new TextEncoder().encode('a-guessed-secret-of-32-bytes-len')));
  console.log(out.join('\n'));
} else {
  console.error('usage: jose.mjs verify JWKS_URL ISSUER AUDIENCE TOKEN | forge CLAIMS_JSON KID');
  process.exit(2);
}
