"""Cross-checks with PyJWT, an implementation independent of Tessera's.

  python pyjwt_check.py verify JWKS_URL ISSUER AUDIENCE TOKEN  -> {"ok": true, "header": …, "claims": …} or {"ok": false, …}
  python pyjwt_check.py forge CLAIMS_JSON KID                  -> tokens PyJWT signs with keys of its own, one per line
"""
import json
import sys

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

REQUIRED = ["iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope"]


def verify(jwks_url, issuer, audience, token):
    try:
        key = jwt.PyJWKClient(jwks_url).get_signing_key_from_jwt(token)
        header = jwt.get_unverified_header(token)
        if header.get("typ") != "at+jwt":
            raise jwt.InvalidTokenError(f"typ {header.get('typ')!r}")
        claims = jwt.decode(token, key, algorithms=["ES256"], audience=audience, issuer=issuer,
                            options={"require": REQUIRED})
        return {"ok": True, "header": header, "claims": claims}
    except Exception as e:  # noqa: BLE001 - any failure is a refusal to report
        return {"ok": False, "error": f"{type(e).__name__}: {e}"}


def forge(claims, kid):
    own_ec = ec.generate_private_key(ec.SECP256R1())
    own_rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return [
        jwt.encode(claims, own_ec, algorithm="ES256", headers={"kid": kid, "typ": "at+jwt"}),
        jwt.encode(claims, own_rsa, algorithm="RS256", headers={"kid": kid, "typ": "at+jwt"}),
        jwt.encode(claims, "a-guessed-secret-of-32-bytes-len", algorithm="HS256", headers={"kid": kid, "typ": "at+jwt"}),
    ]


if __name__ == "__main__":
    cmd, *args = sys.argv[1:]
    if cmd == "verify":
        print(json.dumps(verify(*args)))
    elif cmd == "forge":
        print("\n".join(forge(json.loads(args[0]), args[1])))
    else:
        sys.exit("usage: pyjwt_check.py verify JWKS_URL ISSUER AUDIENCE TOKEN | forge CLAIMS_JSON KID")
