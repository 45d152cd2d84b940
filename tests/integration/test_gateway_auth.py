#!/usr/bin/env python3
"""test_gateway_auth.py - the private-function policy seen from a caller with curl.

Topology (one fngate, one demo backend):
  namespace alpha (RS256, PKCS#1 public key):  hello (private), other (private), pub (public),
                                               hosted (private, by Host only)
  namespace beta  (RS256, SPKI public key):    fn (private)
  namespace gamma (ES256, P-256 SPKI key):     fn (private)
  one namespace per key of ../shared/vectors/scaleway-tokens.json, with its real namespace id
  and one function carrying the real function/container id of the vector's function token.
Every test token is minted here (fngate_it.mint) in Scaleway's claim layout; what each one
is made of is written next to the test that uses it.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fngate_it as it  # noqa: E402

NS_A = "3a8b2c4e-0000-4000-8000-00000000000a"
NS_B = "3a8b2c4e-0000-4000-8000-00000000000b"
NS_G = "3a8b2c4e-0000-4000-8000-00000000000c"
FN_HELLO = "46aebf26-0000-4000-8000-000000000001"
FN_OTHER = "46aebf26-0000-4000-8000-000000000002"
FN_PUB = "46aebf26-0000-4000-8000-000000000003"
FN_HOSTED = "46aebf26-0000-4000-8000-000000000004"
FN_B = "46aebf26-0000-4000-8000-000000000005"
FN_G = "46aebf26-0000-4000-8000-000000000006"


def scaleway_groups():
    """Vector tokens grouped by namespace key: [(pem, namespace entry, function entry)]."""
    groups = {}
    for e in it.scaleway_vectors():
        groups.setdefault(e["public_key_pem"], []).append(e)
    out = []
    for pem, entries in groups.items():
        ns = [e for e in entries if e["scope"] == "namespace"]
        fn = [e for e in entries if e["scope"] != "namespace"]
        out.append((pem, ns, fn))
    return out


class Auth(it.GatewayCase):
    @classmethod
    def setUpClass(cls):
        env = cls.env = it.Env("auth")
        cls.backend = env.backend("auth-backend")
        up = cls.backend.url
        cls.ka = env.key("alpha", "rsa-pkcs1")
        cls.kb = env.key("beta", "rsa-spki")
        cls.kg = env.key("gamma", "ec")
        cls.kx = env.key("stranger", "rsa-pkcs1")   # in no configuration
        namespaces = [
            it.namespace(NS_A, "alpha", [cls.ka.conf("k1")], [
                it.function(FN_HELLO, "hello", up, prefix="/alpha/hello"),
                it.function(FN_OTHER, "other", up, prefix="/alpha/other"),
                it.function(FN_PUB, "pub", up, privacy="public", prefix="/alpha/pub"),
                it.function(FN_HOSTED, "hosted", up, hosts=["hosted.alpha.test"]),
            ]),
            it.namespace(NS_B, "beta", [cls.kb.conf("k1")], [
                it.function(FN_B, "fn", up, prefix="/beta/fn")]),
            it.namespace(NS_G, "gamma", [cls.kg.conf("k1")], [
                it.function(FN_G, "fn", up, prefix="/gamma/fn")]),
        ]
        cls.scw = []
        for i, (pem, ns_entries, fn_entries) in enumerate(scaleway_groups()):
            path = env.write("scw%d.pub.pem" % i, pem)
            ns_id = ns_entries[0]["namespace_id"]
            fns = []
            for j, fe in enumerate(fn_entries):
                fid = fe["payload"]["application_claim"][0]["application_id"]
                fns.append(it.function(fid, "f%d" % j, up, prefix="/scw%d/f%d" % (i, j)))
            namespaces.append(it.namespace(ns_id, "scw%d" % i,
                                           [{"kid": "k1", "alg": "RS256", "public_key": path}], fns))
            cls.scw.append((i, ns_entries, fn_entries))
        cls.gw = env.fngate(it.config(env, namespaces))

    def get(self, path, token=None, **kw):
        return it.curl(self.gw.url(path), token=token, **kw)

    def denied(self, path, token, reason, **kw):
        """The request is refused with `reason` and the backend never sees it."""
        before = self.backend.requests()
        r = self.get(path, token, **kw)
        body = self.assertDenied(r, reason)
        self.assertEqual(self.backend.requests(), before + 1, "a refused request reached the upstream")
        if token:
            self.assertNotIn(token.encode(), r.body, "the token is echoed in the refusal")
        return body

    # -- public and missing

    def test_public_no_token(self):
        seen = self.assertForwarded(self.get("/alpha/pub/x"), "auth-backend")
        self.assertEqual(seen["uri"], "/x")

    def test_private_no_token(self):
        # 403 with exactly {"error":"token_missing"} (issue 2).
        r = self.get("/alpha/hello/")
        self.assertDenied(r, "token_missing")
        self.assertEqual(r.json(), {"error": "token_missing"})
        self.denied("/alpha/hello/x", None, "token_missing")

    def test_private_empty_token(self):
        # An X-Auth-Token header with an empty value is not a token.
        self.denied("/alpha/hello/x", None, ("token_missing", "token_malformed"),
                    headers=["X-Auth-Token;"])

    # -- valid tokens

    def test_function_token(self):
        # RS256 by the alpha key, application_id = hello, exp in 1 h.
        tok = it.mint(self.ka, it.scw_claims(function_id=FN_HELLO))
        seen = self.assertForwarded(self.get("/alpha/hello/a?b=c", tok))
        self.assertEqual(seen["uri"], "/a?b=c")

    def test_function_token_no_exp(self):
        # No exp claim: valid until revoked (a feature, like Scaleway's function tokens).
        tok = it.mint(self.ka, it.scw_claims(function_id=FN_HELLO, exp=None))
        self.assertForwarded(self.get("/alpha/hello/", tok))

    def test_namespace_token_opens_every_function(self):
        # namespace_id = alpha: hello, other and the host-routed function all open.
        tok = it.mint(self.ka, it.scw_claims(namespace_id=NS_A))
        self.assertForwarded(self.get("/alpha/hello/", tok))
        self.assertForwarded(self.get("/alpha/other/", tok))
        self.assertForwarded(self.get("/", tok, headers=["Host: hosted.alpha.test"]))
        self.assertForwarded(self.get("/alpha/pub/", tok))

    def test_host_routed_private(self):
        self.denied("/", None, "token_missing", headers=["Host: hosted.alpha.test"])
        tok = it.mint(self.ka, it.scw_claims(function_id=FN_HOSTED))
        self.assertForwarded(self.get("/anything", tok, headers=["Host: hosted.alpha.test"]))

    def test_spki_key_namespace(self):
        tok = it.mint(self.kb, it.scw_claims(function_id=FN_B))
        self.assertForwarded(self.get("/beta/fn/", tok))

    def test_es256_namespace(self):
        # ES256 by the P-256 key, signature as JWS r||s (64 bytes).
        tok = it.mint(self.kg, it.scw_claims(namespace_id=NS_G))
        self.assertForwarded(self.get("/gamma/fn/", tok))
        tok = it.mint(self.kg, it.scw_claims(function_id=FN_G, exp=None))
        self.assertForwarded(self.get("/gamma/fn/", tok))

    def test_leeway(self):
        # exp 10 s ago and nbf 10 s ahead are inside the 60 s leeway.
        tok = it.mint(self.ka, it.scw_claims(function_id=FN_HELLO, exp=-10))
        self.assertForwarded(self.get("/alpha/hello/", tok))
        tok = it.mint(self.ka, it.scw_claims(function_id=FN_HELLO, nbf=10))
        self.assertForwarded(self.get("/alpha/hello/", tok))
        # minted 10 s ahead by a signer whose clock runs fast: inside the leeway too
        tok = it.mint(self.ka, it.scw_claims(function_id=FN_HELLO, iat=10, nbf=-5))
        self.assertForwarded(self.get("/alpha/hello/", tok))

    # -- refusals

    def test_expired(self):
        tok = it.mint(self.ka, it.scw_claims(function_id=FN_HELLO, exp=-3600, iat=-7200, nbf=-7200))
        self.denied("/alpha/hello/", tok, "token_expired")

    def test_not_yet_valid(self):
        tok = it.mint(self.ka, it.scw_claims(function_id=FN_HELLO, nbf=3600))
        self.denied("/alpha/hello/", tok, "token_not_yet_valid")

    def test_issued_in_future(self):
        """iat beyond now + leeway (60 s), whatever nbf says (absent, or in the past)."""
        for claims in (it.scw_claims(function_id=FN_HELLO, iat=3600, nbf=-10),
                       it.scw_claims(function_id=FN_HELLO, iat=120, omit=("nbf",)),
                       it.scw_claims(function_id=FN_HELLO, iat=86400 * 365, exp=None)):
            self.denied("/alpha/hello/", it.mint(self.ka, claims), "token_issued_in_future")

    def test_unknown_kid(self):
        """A kid that no key of the namespace has is its own reason; the right kid, or none,
        still passes (the namespace's key is "k1")."""
        claims = it.scw_claims(function_id=FN_HELLO)
        for kid in ("k2", "", "K1", "k1 ", "x" * 300):
            tok = it.mint(self.ka, claims, header={"alg": "RS256", "typ": "JWT", "kid": kid})
            self.denied("/alpha/hello/", tok, "token_kid_unknown")
        for header in ({"alg": "RS256", "typ": "JWT", "kid": "k1"}, {"alg": "RS256"}):
            self.assertForwarded(self.get("/alpha/hello/", it.mint(self.ka, claims, header=header)))

    def test_other_function_token(self):
        # A valid token of `other` does not open `hello`.
        tok = it.mint(self.ka, it.scw_claims(function_id=FN_OTHER))
        self.denied("/alpha/hello/", tok, "token_scope")

    def test_other_namespace_scope(self):
        # Signed by alpha's own key but scoped to namespace beta: right signature, wrong scope.
        tok = it.mint(self.ka, it.scw_claims(namespace_id=NS_B))
        self.denied("/alpha/hello/", tok, "token_scope")
        # Beta's genuine namespace token on an alpha function: alpha's key does not verify it.
        tok = it.mint(self.kb, it.scw_claims(namespace_id=NS_B))
        self.denied("/alpha/hello/", tok, ("token_signature", "token_scope"))

    def test_empty_claims_scope(self):
        # Both ids empty: scoped to nothing (the layout wants exactly one id: malformed or scope).
        tok = it.mint(self.ka, it.scw_claims())
        self.denied("/alpha/hello/", tok, ("token_scope", "token_malformed"))
        # Both ids set: ambiguous, refused as well.
        tok = it.mint(self.ka, it.scw_claims(namespace_id=NS_A, function_id=FN_HELLO))
        self.denied("/alpha/hello/", tok, ("token_scope", "token_malformed"))

    def test_tampered_payload(self):
        # A valid function token of `other`, payload rewritten to say `hello`, signature kept.
        tok = it.mint(self.ka, it.scw_claims(function_id=FN_OTHER))
        h, _, s = tok.split(".")
        forged = it.jwt_parts({"alg": "RS256", "typ": "JWT"},
                              it.scw_claims(function_id=FN_HELLO)).split(".")[1]
        self.denied("/alpha/hello/", h + "." + forged + "." + s, "token_signature")

    def test_tampered_signature(self):
        tok = it.mint(self.ka, it.scw_claims(function_id=FN_HELLO))
        h, p, s = tok.split(".")
        sig = bytearray(it.b64u_decode(s))
        sig[10] ^= 1
        self.denied("/alpha/hello/", h + "." + p + "." + it.b64u(bytes(sig)), "token_signature")

    def test_wrong_key(self):
        # Right layout and scope, signed by a key that no configuration names.
        tok = it.mint(self.kx, it.scw_claims(function_id=FN_HELLO))
        self.denied("/alpha/hello/", tok, "token_signature")

    def test_alg_none(self):
        claims = it.scw_claims(function_id=FN_HELLO)
        for alg in ("none", "None", "NONE", "nOnE"):
            # With a non-empty (junk) signature part: refused on the alg, before any crypto.
            tok = it.mint_none(claims, alg) + it.b64u(b"junk")
            self.denied("/alpha/hello/", tok, "token_alg")
            # The classic shape, empty signature part: the alg or the structure refuses it.
            self.denied("/alpha/hello/", it.mint_none(claims, alg), ("token_alg", "token_malformed"))

    def test_hs256_with_public_pem(self):
        # Algorithm confusion: HS256 whose HMAC key is the namespace public key PEM (NOTES.md).
        claims = it.scw_claims(function_id=FN_HELLO)
        self.denied("/alpha/hello/", it.mint_hs256_with_pem(self.ka.pub_pem(), claims), "token_alg")
        self.denied("/gamma/fn/", it.mint_hs256_with_pem(self.kg.pub_pem(),
                                                         it.scw_claims(function_id=FN_G)), "token_alg")

    def test_alg_mismatch(self):
        # RS256 token on the ES256 namespace, ES256 header on an RS256 namespace.
        self.denied("/gamma/fn/", it.mint(self.ka, it.scw_claims(namespace_id=NS_G)), "token_alg")
        tok = it.mint(self.ka, it.scw_claims(function_id=FN_HELLO), header={"alg": "ES256", "typ": "JWT"})
        self.denied("/alpha/hello/", tok, "token_alg")
        tok = it.mint(self.ka, it.scw_claims(function_id=FN_HELLO), header={"alg": "PS256", "typ": "JWT"})
        self.denied("/alpha/hello/", tok, "token_alg")

    def test_two_tokens(self):
        # Two X-Auth-Token headers, both valid: refused (which one would the upstream trust?).
        tok = it.mint(self.ka, it.scw_claims(function_id=FN_HELLO))
        self.denied("/alpha/hello/", tok, "token_malformed", headers=["X-Auth-Token: " + tok])

    def test_malformed(self):
        good = it.mint(self.ka, it.scw_claims(function_id=FN_HELLO))
        h, p, s = good.split(".")
        for bad in ("abc", "a.b", h + "." + p, h + "." + p + "." + s + ".x", h + "=." + p + "." + s,
                    h + "." + p + "." + s + "+", "." + p + "." + s,
                    it.b64u(b"not json") + "." + p + "." + s):
            self.denied("/alpha/hello/", bad, "token_malformed")

    def test_token_too_long(self):
        # Over max_token_bytes (8192): refused without parsing it.
        claims = it.scw_claims(function_id=FN_HELLO, pad="x" * 9000)
        self.denied("/alpha/hello/", it.mint(self.ka, claims), "token_malformed")

    def test_token_without_scope_claim(self):
        tok = it.mint(self.ka, it.scw_claims(function_id=FN_HELLO, omit=("application_claim",)))
        self.denied("/alpha/hello/", tok, ("token_scope", "token_malformed"))

    # -- the platform's own tokens (../shared/vectors/scaleway-tokens.json)

    def test_scaleway_vectors(self):
        self.assertEqual(len(self.scw), 17)
        for i, ns_entries, fn_entries in self.scw:
            self.assertEqual(len(ns_entries), 1)
            self.assertEqual(len(fn_entries), 1)
            path = "/scw%d/f0/" % i
            # Function/container tokens: no exp, signed by the namespace key -> accepted.
            self.assertForwarded(self.get(path, fn_entries[0]["token"]))
            # Namespace tokens: right key and scope, exp long past -> token_expired.
            self.denied(path, ns_entries[0]["token"], "token_expired")
            # A function token of another namespace: that key does not verify here.
            j = (i + 1) % len(self.scw)
            other = [s for s in self.scw if s[0] == j][0]
            self.denied(path, other[2][0]["token"], ("token_signature", "token_scope"))


if __name__ == "__main__":
    it.main()
