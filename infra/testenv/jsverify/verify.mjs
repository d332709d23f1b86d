// verify.mjs checks a credbatch credential (a compact JWS, VC-JOSE-COSE "vc+jwt") against a
// published JWKS with the jose library, independently of the Go code that signed it.
//
// Usage: node verify.mjs --jwks <jwks.json> [--jwt <file> | -] [--typ vc+jwt]
//   The JWT is read from the file, or from stdin when the argument is "-" or missing.
//   On success the payload JSON is printed on stdout and the exit code is 0; on any failure
//   the reason is printed on stderr and the exit code is 1 (2 for usage errors).
import { readFileSync } from 'node:fs';
import { createLocalJWKSet, jwtVerify } from 'jose';

function usage(msg) {
  process.stderr.write(`${msg}\nusage: node verify.mjs --jwks <jwks.json> [--jwt <file>|-] [--typ vc+jwt]\n`);
  process.exit(2);
}

const args = { jwt: '-', typ: 'vc+jwt' };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const key = argv[i];
  if (!['--jwks', '--jwt', '--typ'].includes(key)) usage(`unknown argument ${key}`);
  if (i + 1 >= argv.length) usage(`${key} needs a value`);
  args[key.slice(2)] = argv[++i];
}
if (!args.jwks) usage('--jwks is required');

const readInput = (path) => readFileSync(path === '-' ? 0 : path, 'utf8');

try {
  const jwks = JSON.parse(readInput(args.jwks));
  const token = readInput(args.jwt).trim();
  const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(jwks), {
    algorithms: ['EdDSA'],
    typ: args.typ,
  });
  if (!protectedHeader.kid) throw new Error('protected header has no kid');
  process.stdout.write(JSON.stringify(payload) + '\n');
} catch (err) {
  process.stderr.write(`verification failed: ${err.code ?? err.name}: ${err.message}\n`);
  process.exit(1);
}
