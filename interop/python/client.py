"""Sapient interoperability check for Python.

Unmodified Authlib, requests-oauthlib and PyJWT talk to a running Sapient
at SAPIENT_ISSUER: RFC 8414 and OpenID Connect Discovery metadata checked by Authlib's
own validators,
tokens by the client credentials grant (RFC 6749 section 4.4) with
client_secret_basic and client_secret_post through both client libraries,
the token verified as an RFC 9068 JWT by PyJWT against the published JWKS,
GET /api/v1/me with the token, introspection (RFC 7662), revocation
(RFC 7009), and /api/v1/me refusing the revoked token (RFC 6750 section 3).

It prints one JSON summary on stdout and exits non-zero when a step fails;
the Go test in internal/oauth (interop_test.go) asserts on the summary.

Environment: SAPIENT_ISSUER, CLIENT_ID, CLIENT_SECRET, INTROSPECT_ID,
INTROSPECT_SECRET.
"""

import json
import os
import sys
import traceback

# The test server is plain HTTP on loopback. Both libraries refuse plain
# HTTP unless told otherwise, and these variables are how they are told.
os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")
os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")

import authlib  # noqa: E402
import jwt  # noqa: E402
import oauthlib  # noqa: E402
import requests  # noqa: E402
import requests_oauthlib  # noqa: E402
from authlib.integrations.requests_client import OAuth2Session  # noqa: E402
from authlib.integrations.base_client import OAuthError  # noqa: E402
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata  # noqa: E402
from authlib.oidc.discovery import OpenIDProviderMetadata  # noqa: E402
from oauthlib.oauth2 import BackendApplicationClient  # noqa: E402

TIMEOUT = 10  # seconds, for every HTTP request

summary = {
    "runtime": "python " + sys.version.split()[0],
    "libraries": {
        "authlib": authlib.__version__,
        "requests-oauthlib": requests_oauthlib.__version__,
        "oauthlib": oauthlib.__version__,
        "pyjwt": jwt.__version__,
        "requests": requests.__version__,
    },
    "steps": [],
}


class StepFailed(Exception):
    """StepFailed stops the run after a step recorded its failure."""


def step(name, fn):
    """Run one named check, record its outcome, and stop on failure."""
    try:
        result = fn()
    except Exception as err:  # recorded in the summary, then re-raised
        summary["steps"].append({"name": name, "ok": False})
        summary["failed"] = name
        summary["error"] = {
            "type": type(err).__name__,
            "message": str(err),
            "traceback": traceback.format_exc(limit=6),
        }
        raise StepFailed(name) from err
    summary["steps"].append({"name": name, "ok": True})
    summary[name] = result
    return result


def env(name):
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(name + " is not set")
    return value


def token_summary(token):
    """Keep what the Go test asserts on; the token itself stays out.
    oauthlib hands the scope back as a list; it is joined as on the wire."""
    scope = token.get("scope")
    if isinstance(scope, list):
        scope = " ".join(scope)
    return {
        "token_type": token.get("token_type"),
        "expires_in": token.get("expires_in"),
        "expires_at": token.get("expires_at"),
        "scope": scope,
        "has_access_token": bool(token.get("access_token")),
    }


def invalid_fields(metadata):
    """Run each of Authlib's registered field validators (what validate()
    runs, without stopping at the first) and map each failing field to
    Authlib's message."""
    invalid = {}
    for key in metadata.REGISTRY_KEYS:
        try:
            getattr(metadata, "validate_" + key)()
        except ValueError as err:
            invalid[key] = str(err)
    return invalid


def require(cond, message):
    if not cond:
        raise AssertionError(message)


def main():
    issuer = env("SAPIENT_ISSUER")
    client_id = env("CLIENT_ID")
    client_secret = env("CLIENT_SECRET")
    introspect_id = env("INTROSPECT_ID")
    introspect_secret = env("INTROSPECT_SECRET")
    meta = {}

    def discovery():
        # RFC 8414 section 3: the metadata document, checked field by field
        # with Authlib's validators for RFC 8414 section 2 and for OpenID
        # Connect Discovery 1.0 section 3. Each failing field is reported
        # with Authlib's own message; the Go test decides which are errors.
        r = requests.get(issuer + "/.well-known/oauth-authorization-server", timeout=TIMEOUT)
        r.raise_for_status()
        doc = r.json()
        require(doc.get("issuer") == issuer, "issuer %r differs from %r (RFC 8414 section 3.3)" % (doc.get("issuer"), issuer))
        meta.update(doc)
        oidc = requests.get(issuer + "/.well-known/openid-configuration", timeout=TIMEOUT)
        oidc.raise_for_status()
        return {
            "issuer": doc["issuer"],
            "token_endpoint": doc["token_endpoint"],
            "jwks_uri": doc["jwks_uri"],
            "introspection_endpoint": doc["introspection_endpoint"],
            "revocation_endpoint": doc["revocation_endpoint"],
            "rfc8414_invalid": invalid_fields(AuthorizationServerMetadata(doc)),
            "openid_configuration_issuer": oidc.json().get("issuer"),
            "openid_invalid": invalid_fields(OpenIDProviderMetadata(oidc.json())),
        }

    step("discovery", discovery)

    # Authlib with client_secret_basic (its default), with and without scope.
    basic = OAuth2Session(client_id, client_secret, token_endpoint_auth_method="client_secret_basic")
    basic.timeout = TIMEOUT
    step("authlib_basic", lambda: token_summary(
        basic.fetch_token(meta["token_endpoint"], grant_type="client_credentials")))
    scoped = OAuth2Session(client_id, client_secret, token_endpoint_auth_method="client_secret_basic", scope="usage:read")
    step("authlib_basic_scope", lambda: token_summary(
        scoped.fetch_token(meta["token_endpoint"], grant_type="client_credentials", timeout=TIMEOUT)))

    # Authlib with client_secret_post; this session's token is the one the
    # rest of the run uses. It also revokes by client_secret_post.
    session = OAuth2Session(
        client_id,
        client_secret,
        token_endpoint_auth_method="client_secret_post",
        revocation_endpoint_auth_method="client_secret_post",
        scope="credentials:read usage:read",
    )
    step("authlib_post", lambda: token_summary(session.fetch_token(
        meta["token_endpoint"], grant_type="client_credentials", timeout=TIMEOUT)))
    access_token = session.token["access_token"]

    # requests-oauthlib's BackendApplicationClient: HTTP Basic by default,
    # the body with include_client_id=True.
    def oauthlib_fetch(include_client_id):
        s = requests_oauthlib.OAuth2Session(client=BackendApplicationClient(client_id=client_id))
        t = s.fetch_token(
            token_url=meta["token_endpoint"],
            client_id=client_id,
            client_secret=client_secret,
            include_client_id=include_client_id,
            timeout=TIMEOUT,
        )
        out = token_summary(t)
        me = s.get(issuer + "/api/v1/me", timeout=TIMEOUT)
        out["me_status"] = me.status_code
        out["me_client_id"] = me.json().get("client_id") if me.ok else None
        return out

    step("requests_oauthlib_basic", lambda: oauthlib_fetch(False))
    step("requests_oauthlib_post", lambda: oauthlib_fetch(True))

    def verify():
        # RFC 9068 section 4: typ at+jwt, signature by a key of the JWKS,
        # iss, aud, exp and the required claims. PyJWT does not check typ,
        # so the header is read for it.
        header = jwt.get_unverified_header(access_token)
        require(header.get("typ", "").lower() in ("at+jwt", "application/at+jwt"),
                "typ is %r, want at+jwt (RFC 9068 section 2.1)" % header.get("typ"))
        key = jwt.PyJWKClient(meta["jwks_uri"]).get_signing_key_from_jwt(access_token)
        claims = jwt.decode(
            access_token,
            key.key,
            algorithms=["ES256"],
            audience=issuer,
            issuer=issuer,
            options={"require": ["iss", "sub", "aud", "exp", "iat", "jti"]},
        )
        require("client_id" in claims, "client_id claim missing (RFC 9068 section 2.2)")
        return {"verified": True, "header": header, "kid_found": key.key_id, "claims": claims}

    step("jwt", verify)

    def me():
        # Authlib's session attaches the bearer token it holds (RFC 6750
        # section 2.1).
        r = session.get(issuer + "/api/v1/me", timeout=TIMEOUT)
        return {"status": r.status_code, "body": r.json()}

    step("me", me)

    introspector = OAuth2Session(
        introspect_id,
        introspect_secret,
        token_endpoint_auth_method="client_secret_basic",
        revocation_endpoint_auth_method="client_secret_basic",
    )

    def introspect():
        r = introspector.introspect_token(meta["introspection_endpoint"], token=access_token,
                                          token_type_hint="access_token", timeout=TIMEOUT)
        r.raise_for_status()
        return r.json()

    step("introspection", introspect)

    def revoke():
        r = session.revoke_token(meta["revocation_endpoint"], token=access_token,
                                 token_type_hint="access_token", timeout=TIMEOUT)
        r.raise_for_status()
        return {"status": r.status_code}

    step("revocation", revoke)

    def me_after_revocation():
        r = session.get(issuer + "/api/v1/me", timeout=TIMEOUT)
        return {"status": r.status_code, "www_authenticate": r.headers.get("WWW-Authenticate")}

    step("me_after_revocation", me_after_revocation)
    step("introspection_after_revocation", introspect)

    def wrong_secret():
        s = OAuth2Session(client_id, "not-the-secret", token_endpoint_auth_method="client_secret_basic")
        try:
            s.fetch_token(meta["token_endpoint"], grant_type="client_credentials", timeout=TIMEOUT)
        except OAuthError as err:
            return {"error": err.error}
        raise AssertionError("a wrong secret obtained a token")

    step("wrong_secret", wrong_secret)


def run():
    code = 0
    try:
        main()
        summary["ok"] = True
    except StepFailed:
        summary["ok"] = False
        code = 1
    except Exception as err:
        summary["ok"] = False
        summary.setdefault("error", {"type": type(err).__name__, "message": str(err)})
        code = 1
    json.dump(summary, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
    return code


if __name__ == "__main__":
    sys.exit(run())
