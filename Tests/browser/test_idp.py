"""A small OpenID Connect provider for the browser test of the web chat's sign-in: discovery,
JWKS, an authorization endpoint with a one-field login form, and a token endpoint that checks
the PKCE verifier (S256) before it signs an access token (EdDSA) for Parley.

python3 test_idp.py PORT   # prints "ready" when listening; GET /stats shows what it checked
Redirect URIs must be http://127.0.0.1:<port>/ (the web chat on loopback).
"""

import base64
import hashlib
import html
import json
import secrets
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

PORT = int(sys.argv[1])
ISSUER = f"http://127.0.0.1:{PORT}"
CLIENT_ID = "parley-web"
KEY = Ed25519PrivateKey.generate()
PUBLIC = KEY.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
KID = "test-key"
codes = {}
stats = {"authorize": 0, "tokens_issued": 0, "pkce_refused": 0}


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def send(self, status, body, content_type="application/json", extra=None):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        # The web chat calls discovery and the token endpoint from the browser.
        self.send_header("Access-Control-Allow-Origin", "*")
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        if url.path == "/.well-known/openid-configuration":
            self.send(200, {
                "issuer": ISSUER, "authorization_endpoint": ISSUER + "/authorize", "token_endpoint": ISSUER + "/token",
                "jwks_uri": ISSUER + "/jwks", "response_types_supported": ["code"], "code_challenge_methods_supported": ["S256"],
                "id_token_signing_alg_values_supported": ["EdDSA"],
            })
        elif url.path == "/jwks":
            self.send(200, {"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": KID, "alg": "EdDSA", "use": "sig", "x": b64url(PUBLIC)}]})
        elif url.path == "/stats":
            self.send(200, stats)
        elif url.path == "/authorize":
            stats["authorize"] += 1
            redirect = urllib.parse.urlsplit(query.get("redirect_uri", ""))
            if query.get("client_id") != CLIENT_ID or redirect.scheme != "http" or redirect.hostname != "127.0.0.1" or redirect.path != "/" \
                    or query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
                self.send(400, {"error": "invalid_request", "got": query})
                return
            fields = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">' for k, v in query.items())
            page = (f'<!doctype html><title>Test IdP</title><form method="post" action="/login">{fields}'
                    '<label>User <input id="idp-user" name="user"></label> <button id="idp-login">Log in</button></form>')
            self.send(200, page.encode(), "text/html; charset=utf-8")
        else:
            self.send(404, {"error": "not_found"})

    def form(self):
        length = int(self.headers.get("Content-Length", "0"))
        return dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        form = self.form()
        if url.path == "/login":
            code = secrets.token_urlsafe(16)
            codes[code] = {"challenge": form["code_challenge"], "user": form.get("user", "someone"), "redirect_uri": form["redirect_uri"]}
            target = form["redirect_uri"] + "?" + urllib.parse.urlencode({"code": code, "state": form["state"]})
            self.send(302, b"", "text/plain", {"Location": target})
        elif url.path == "/token":
            grant = codes.pop(form.get("code", ""), None)
            verifier = form.get("code_verifier", "")
            if grant is None or form.get("client_id") != CLIENT_ID or form.get("redirect_uri") != grant["redirect_uri"]:
                self.send(400, {"error": "invalid_grant"})
                return
            if b64url(hashlib.sha256(verifier.encode()).digest()) != grant["challenge"]:
                stats["pkce_refused"] += 1
                self.send(400, {"error": "invalid_grant", "error_description": "PKCE verifier does not match"})
                return
            now = int(time.time())
            claims = {"iss": ISSUER, "aud": "parley", "sub": grant["user"], "tenant": "webtest", "iat": now, "exp": now + 600}
            token = jwt.encode(claims, KEY, algorithm="EdDSA", headers={"kid": KID})
            stats["tokens_issued"] += 1
            self.send(200, {"access_token": token, "token_type": "Bearer", "expires_in": 600})
        else:
            self.send(404, {"error": "not_found"})


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
    print("ready", flush=True)
    server.serve_forever()
