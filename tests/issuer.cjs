// A real OAuth 2.1 authorization server for the integration tests: oauth2-mock-server (its
// OpenID discovery, /jwks and RS256 keys), on 127.0.0.1, minting the tokens a test asks for.
// tests/util/issuer.rs starts it with the Node 22 of target/mcp-clients and talks to it over
// stdin and stdout, one JSON object per line.
//
// usage: node tests/issuer.cjs [PORT]   (0 or none: any free port)
//   prints {"issuer": URL, "kid": KID} once listening, then answers each request line:
//   {"claims": {...}, "expires_in": S, "kid": KID}  → {"token"}: signed by the issuer's key
//       (or by its key KID); claims are merged over iss, iat, exp, nbf; a null removes one
//   {"forge": "none" | "hs256-public-key" | "unpublished-key", "claims": {...}}  → {"token"}:
//       alg none; HMAC with the issuer's public key (PEM) as the secret, under its kid; or
//       RS256 with a key the issuer never publishes
//   {"rotate": true}  → {"kid"}: a new signing key, published beside the old ones
// Errors come back as {"error": MESSAGE}. It stops when stdin closes.
// oauth2-mock-server comes from NODE_PATH (scripts/test installs it under target/).
"use strict";
const crypto = require("node:crypto");
const readline = require("node:readline");
const { OAuth2Server } = require("oauth2-mock-server");

const b64 = data => Buffer.from(data).toString("base64url");

async function main() {
  const server = new OAuth2Server();
  let current = (await server.issuer.keys.generate("RS256")).kid;
  await server.start(Number(process.argv[2] || 0), "127.0.0.1");
  // Its default names localhost, which may resolve to ::1 first; it listens on 127.0.0.1.
  server.issuer.url = `http://127.0.0.1:${server.address().port}`;
  const issuer = server.issuer.url;
  const say = value => process.stdout.write(JSON.stringify(value) + "\n");

  // The payload oauth2-mock-server would sign, with the test's claims over it.
  function payload(base, claims) {
    for (const [name, value] of Object.entries(claims || {})) {
      if (value === null) delete base[name];
      else base[name] = value;
    }
    return base;
  }

  async function answer(request) {
    if (request.rotate) {
      current = (await server.issuer.keys.generate("RS256")).kid;
      return { kid: current };
    }
    if (request.forge) {
      const now = Math.floor(Date.now() / 1000);
      const body = payload({ iss: issuer, iat: now, exp: now + 3600, nbf: now - 10 }, request.claims);
      const sign = (header, signer) => {
        const message = `${b64(JSON.stringify(header))}.${b64(JSON.stringify(body))}`;
        return `${message}.${signer(message)}`;
      };
      switch (request.forge) {
        case "none":
          return { token: sign({ alg: "none", typ: "JWT", kid: current }, () => "") };
        case "hs256-public-key": {
          const [jwk] = server.issuer.keys.toJSON().filter(k => k.kid === current);
          const pem = crypto.createPublicKey({ key: jwk, format: "jwk" })
            .export({ type: "spki", format: "pem" });
          const hmac = m => crypto.createHmac("sha256", pem).update(m).digest("base64url");
          return { token: sign({ alg: "HS256", typ: "JWT", kid: current }, hmac) };
        }
        case "unpublished-key": {
          const { privateKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
          const rs256 = m => crypto.sign("sha256", Buffer.from(m), privateKey).toString("base64url");
          return { token: sign({ alg: "RS256", typ: "JWT", kid: "unpublished-key" }, rs256) };
        }
        default:
          throw new Error(`unknown forge ${request.forge}`);
      }
    }
    const token = await server.issuer.buildToken({
      kid: request.kid || current,
      expiresIn: request.expires_in ?? 3600,
      scopesOrTransform: (_header, base) => payload(base, request.claims),
    });
    return { token };
  }

  const lines = readline.createInterface({ input: process.stdin });
  // One request at a time, in order: each answer is the next line.
  let queue = Promise.resolve();
  lines.on("line", line => {
    queue = queue.then(async () => {
      try {
        say(await answer(JSON.parse(line)));
      } catch (e) {
        say({ error: String(e && e.stack || e) });
      }
    });
  });
  lines.on("close", () => queue.then(() => server.stop()).then(() => process.exit(0)));
  say({ issuer, kid: current });
}

main().catch(e => {
  console.error(e);
  process.exit(1);
});
