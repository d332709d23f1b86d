"""Independent checks of credbatch credentials, sharing no code with the Go signer.

    python pyverify.py jwt [--http] < credential.jwt
        Verifies an OB 3.0 VC-JWT with jwcrypto: the key is found by dereferencing the
        header's kid (a DID URL) through the issuer's did:web document (resolved as the
        did:web method says; --http for a local server), and every rule of OB 3.0
        "JSON Web Token Proof Format" is checked: alg RS256 or ES256, no header other than
        alg, kid and typ, typ (if present) "JWT", iss = issuer id, jti = id, nbf = validFrom,
        sub = credentialSubject.id, exp = validUntil when present.
    python pyverify.py schema < credential.json
        Validates a credential against the official OB 3.0 AchievementCredential JSON Schema
        (Draft 2019-09) with format checks on; the schema is the pinned copy next to this
        file, checked by its SHA-256.

Each prints a JSON result and exits 0 when the credential passes, 1 when it does not, 2 on
usage errors.
"""

import base64
import datetime
import hashlib
import json
import pathlib
import sys
import urllib.parse
import urllib.request

SCHEMA = pathlib.Path(__file__).with_name("ob_v3p0_achievementcredential_schema.json")
# sha256 of https://purl.imsglobal.org/spec/ob/v3p0/schema/json-ld/ob_v3p0_achievementcredential_schema.json
SCHEMA_SHA256 = "859e405b592d93c3261fe899362f4128801140d4d20c01502a066b3540483d95"


class Failure(Exception):
    pass


def did_web_url(did, scheme):
    """The URL of a did:web DID document (W3C did:web method, "Read (Resolve)")."""
    parts = [urllib.parse.unquote(p) for p in did[len("did:web:"):].split(":")]
    host, path = parts[0], parts[1:]
    if path:
        return f"{scheme}://{host}/{'/'.join(path)}/did.json"
    return f"{scheme}://{host}/.well-known/did.json"


def fetch_json(url):
    req = urllib.request.Request(url, headers={"Accept": "application/did+json, application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.load(resp)


def b64json(seg):
    return json.loads(base64.urlsafe_b64decode(seg + "=" * (-len(seg) % 4)))


def rfc3339_epoch(value):
    return int(datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())


def check_jwt(token, scheme):
    from jwcrypto import jwk, jws

    parts = token.split(".")
    if len(parts) != 3:
        raise Failure("not a compact JWS")
    header = b64json(parts[0])
    extra = sorted(set(header) - {"alg", "kid", "typ"})
    if extra:
        raise Failure(f"header members other than alg, kid, typ: {extra}")
    if header.get("alg") not in ("RS256", "ES256"):
        raise Failure(f"alg must be RS256 or ES256, not {header.get('alg')!r}")
    if "typ" in header and header["typ"] != "JWT":
        raise Failure(f"typ must be JWT, not {header['typ']!r}")
    kid = header.get("kid", "")
    if not kid.startswith("did:web:") or "#" not in kid:
        raise Failure(f"kid {kid!r} is not a did:web DID URL")
    did = kid.split("#", 1)[0]
    url = did_web_url(did, scheme)
    doc = fetch_json(url)
    if doc.get("id") != did:
        raise Failure(f"{url} is the document of {doc.get('id')!r}, not {did}")
    if kid not in doc.get("assertionMethod", []):
        raise Failure(f"{kid} is not in the DID document's assertionMethod")
    methods = [m for m in doc.get("verificationMethod", []) if m.get("id") == kid]
    if len(methods) != 1 or "publicKeyJwk" not in methods[0]:
        raise Failure(f"{kid} does not dereference to exactly one JWK")
    key = jwk.JWK(**methods[0]["publicKeyJwk"])
    verifier = jws.JWS()
    verifier.deserialize(token)
    try:
        verifier.verify(key, alg=header["alg"])
    except jws.InvalidJWSSignature as err:
        raise Failure(f"signature: {err}") from err
    claims = json.loads(verifier.payload)
    issuer = claims.get("issuer")
    issuer_id = issuer.get("id") if isinstance(issuer, dict) else issuer
    want = {
        "iss": issuer_id,
        "jti": claims.get("id"),
        "nbf": rfc3339_epoch(claims["validFrom"]),
        "sub": (claims.get("credentialSubject") or {}).get("id"),
    }
    if claims.get("validUntil"):
        want["exp"] = rfc3339_epoch(claims["validUntil"])
    elif "exp" in claims:
        raise Failure("exp without validUntil")
    for name, value in want.items():
        if value is None or claims.get(name) != value:
            raise Failure(f"claim {name} = {claims.get(name)!r}, want {value!r}")
    if did != issuer_id and not (isinstance(issuer_id, str) and issuer_id.startswith("http")):
        raise Failure(f"kid's DID {did} is not the issuer {issuer_id}")
    return {"valid": True, "kid": kid, "alg": header["alg"], "iss": claims["iss"], "sub": claims["sub"]}


def check_schema(credential):
    import jsonschema

    raw = SCHEMA.read_bytes()
    if hashlib.sha256(raw).hexdigest() != SCHEMA_SHA256:
        raise Failure(f"{SCHEMA.name} is not the pinned official schema")
    schema = json.loads(raw)
    validator = jsonschema.Draft201909Validator(schema, format_checker=jsonschema.Draft201909Validator.FORMAT_CHECKER)
    if "date-time" not in validator.format_checker.checkers:
        raise Failure("the date-time format checker is missing (install rfc3339-validator)")
    errors = sorted(validator.iter_errors(credential), key=lambda e: list(e.absolute_path))
    if errors:
        raise Failure("; ".join(f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in errors[:20]))
    return {"valid": True, "schema": schema.get("$id")}


def main(argv):
    if len(argv) < 1 or argv[0] not in ("jwt", "schema") or any(a != "--http" for a in argv[1:]):
        print(__doc__, file=sys.stderr)
        return 2
    data = sys.stdin.read()
    try:
        if argv[0] == "jwt":
            out = check_jwt(data.strip(), "http" if "--http" in argv[1:] else "https")
        else:
            out = check_schema(json.loads(data))
    except Failure as err:
        print(json.dumps({"valid": False, "error": str(err)}))
        return 1
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
