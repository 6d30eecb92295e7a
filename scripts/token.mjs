#!/usr/bin/env node
// Mints an HS256 token for objcast, signed with var/token_secret (or --secret): a connection
// token, or with --obj an object token (sub, ws, obj, exp; add --claim host=true and
// --claim objectType=dynamic as needed). Every token carries ws: objcast refuses an object
// token whose workspace is not the connection's.
// Usage: node scripts/token.mjs [--sub ID] [--ws ID] [--name NAME] [--ttl SECONDS]
//        [--obj ID] [--secret S] [--claim key=value ...]
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const opts = { sub: 'user1', ws: '1', name: 'User 1', ttl: '3600', claim: [] };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) {
  const key = argv[i].replace(/^--/, '');
  if (!(key in opts) && key !== 'secret' && key !== 'obj') {
    console.error(`unknown option ${argv[i]}`);
    process.exit(2);
  }
  if (key === 'claim') opts.claim.push(argv[i + 1]);
  else opts[key] = argv[i + 1];
}
const secret = opts.secret ?? readFileSync(join(root, 'var/token_secret'), 'utf8').trim();
const now = Math.floor(Date.now() / 1000);
const asId = (v) => (/^-?[0-9]+$/.test(v) ? Number(v) : v);
const claims = opts.obj !== undefined
  ? { sub: asId(opts.sub), ws: asId(opts.ws), obj: opts.obj, iat: now, exp: now + Number(opts.ttl) }
  : { sub: asId(opts.sub), ws: asId(opts.ws), name: opts.name, avatarUrl: '', iat: now,
    exp: now + Number(opts.ttl) };
for (const kv of opts.claim) {
  const at = kv.indexOf('=');
  const value = kv.slice(at + 1);
  try { claims[kv.slice(0, at)] = JSON.parse(value); } catch { claims[kv.slice(0, at)] = value; }
}
const b64 = (s) => Buffer.from(s).toString('base64url');
const body = `${b64(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${b64(JSON.stringify(claims))}`;
const sig = createHmac('sha256', secret).update(body).digest('base64url');
console.log(`${body}.${sig}`);
