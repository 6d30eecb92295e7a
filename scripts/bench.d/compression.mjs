#!/usr/bin/env node
// What permessage-deflate saves on the demo's traffic: the messages objcastd sends for the
// notes plugin (web/demo/plugins/notes.html: the board, saved whole, comes to everyone else
// as ovice_shared_data) and the chat plugin (web/demo/plugins/chat.html: a chat line or a
// reaction, broadcast, comes as ovice_message), each compressed on its own as objcastd does
// it: raw deflate, window 15, memLevel 8, level 6 below 64 KiB and level 1 from there,
// flushed with Z_SYNC_FLUSH, the trailing 00 00 ff ff taken off; sent compressed only from
// compression_min_bytes (default 512) and only when that shrinks it.
//
//   node scripts/bench.d/compression.mjs [--min-bytes 512] [--json]
//
// The documents are built here from a fixed seed (the same every run): notes boards of 1 to
// 100 notes of short English texts, no text twice (a few with accents or an emoji, as people
// type), the plugin's four colours, a handful of users; 300 chat lines and reactions among 6
// users.
// Prints Markdown tables (with --json one JSON line): per document, the text, the payload
// compressed and the bytes on the wire (frame header included) without and with the
// extension, and wire with / without.
import zlib from 'node:zlib';

import { prng } from '../../tests/integration/lib/prng.mjs';

const opt = { minBytes: 512, json: false };
for (let i = 2; i < process.argv.length; i++) {
    const a = process.argv[i];
    if (a === '--json') opt.json = true;
    else if (a === '--min-bytes' && i + 1 < process.argv.length) opt.minBytes = Number(process.argv[++i]);
    else throw new Error(`unknown argument ${a} (see the header of ${process.argv[1]})`);
}

// a seeded generator, so every run builds the same documents
const rng = prng;
const pick = (r, xs) => xs[Math.floor(r() * xs.length)];

// --- what objcastd does with one message ---------------------------------------------------

const LARGE = 64 * 1024; // from here level 1
// The payload objcastd sends for text t: {compressed, bytes} (compressed false: as it is).
function onWire(text) {
    const raw = Buffer.from(text);
    if (raw.length < opt.minBytes) return { compressed: false, payload: raw.length };
    const z = zlib.deflateRawSync(raw, {
        level: raw.length < LARGE ? 6 : 1,
        windowBits: 15,
        memLevel: 8,
        finishFlush: zlib.constants.Z_SYNC_FLUSH,
    });
    if (!z.subarray(-4).equals(Buffer.from([0, 0, 0xff, 0xff]))) throw new Error('no sync flush marker');
    const n = z.length - 4;
    return n < raw.length ? { compressed: true, payload: n } : { compressed: false, payload: raw.length };
}
// Deflated size whatever the threshold (what compressing a small message would give).
function deflatedSize(text) {
    const raw = Buffer.from(text);
    return zlib.deflateRawSync(raw, { level: 6, windowBits: 15, memLevel: 8, finishFlush: zlib.constants.Z_SYNC_FLUSH }).length - 4;
}
const frame = (n) => n + (n < 126 ? 2 : n < 65536 ? 4 : 10); // a server frame: unmasked

// --- the notes plugin ----------------------------------------------------------------------

const NOTE_TEXTS = [
    'Standup at 9:45 tomorrow, not 10',
    'Order lunch for the workshop: 12 people, 3 vegetarian, 1 gluten free',
    'Who took the HDMI adapter from room 4?',
    'Deadline for the grant report is Friday noon',
    'Please review PR #482 before the release',
    'Remember: the café on the ground floor closes at 3pm today',
    'New Wi-Fi password is on the whiteboard by the kitchen',
    'Ideas for the team dinner? Thai, ramen, or the tapas place',
    'Book travel for the Berlin offsite before prices go up',
    'Move the 1:1s to Thursday afternoons',
    'Shared drive is almost full, delete old exports',
    'Welcome back Marta! 🎉',
    'Test the payment flow on Safari too',
    'Ask legal about the new privacy text',
    'Quarterly numbers: draft in the finance folder',
    'Printer jammed again, ticket opened',
    'Lightning talks next Friday, sign up here',
    'Fix typo on the pricing page (“recieve”)',
    'Plants need water on Monday and Thursday',
    'Keep the meeting room tidy, please',
    'Customer demo moved to 16:00 CET',
    'Find a date for the summer party',
    'Update the status page when the migration starts',
    'The fridge gets cleaned out every Friday at 5',
    'Naming ideas for the new service: Ferry, Relay, Courier',
    'Pick up the banner from the print shop',
    'Rotate on-call: Jun next week, then Ali',
    'Hiring: two interviews on Wednesday, need one more panelist',
    'Our release checklist lives in the wiki now',
    'Buy batteries for the conference room mics',
    'Q&A doc for the all-hands is open, add your questions',
    'Benchmarks look good, write them up',
    'Re-run the flaky e2e suite before merging',
    'Sync with design about the empty states',
    'Thanks for covering support yesterday, Noor',
    'Archive the old Slack channels',
    'Bring the cables back to the IT shelf',
    'Coffee beans are in the top cupboard',
    'Don’t forget to submit your timesheets',
    'Board meeting prep: slides by Tuesday',
    'Feedback on the onboarding doc welcome',
    'Security training is due at the end of the month',
    'Reserve the big room for the retro',
    'Lost keys found, ask at reception',
    'Kickoff for the mobile app on the 3rd',
    'Summarise the user interviews in one page',
    'Check why the nightly build takes 40 minutes now',
    'Schedule the penetration test with the vendor',
    'Send the signed NDA back to Porter & Sons',
    'Laptop refresh: list who needs a new one',
    'Snacks budget approved for the hackathon 🍕',
    'Who can host the Tokyo visitors on Tuesday?',
    'Write the post-mortem for Saturday’s outage',
    'Update the org chart after the reshuffle',
    'The elevator on the east side is out until Monday',
    'Proofread the newsletter before it goes out',
    'Merge the two support inboxes into one',
    'Don’t park in the visitor spots, please',
    'Invite the data team to the planning session',
    'Fix the broken links in the footer',
    'Monthly report: add churn and activation numbers',
    'Get quotes from two more cleaning companies',
    'Ergonomics check for anyone who wants one',
    'Test the backup restore, not just the backup',
    'Set up the demo laptop for the trade fair',
    'Reply to the partnership email from Lisbon',
    'Confirm headcount for Thursday’s workshop',
    'Replace the whiteboard markers, they are all dry',
    'Clarify who owns the billing service',
    'Add a README to the scripts repo',
    'Tidy up the cables under desk 12',
    'Research a new tool for the design handoff',
    'Write down the deploy steps for the new hires',
    'Celebrate 1,000 customers on Friday',
    'Pick a theme for the winter party ❄️',
    'Check the fire extinguishers are in date',
    'Usability test sessions next week, 5 slots left',
    'Order name badges for the visitors',
    'Make the error messages friendlier',
    'Audit who still has admin rights',
    'Find a mentor for each intern',
    'Swap the Monday and Wednesday demos',
    'Someone’s lunch has been in the fridge since June',
    'Decide on the logo colours by the 9th',
    'Ask finance about the travel policy change',
    'Split the big ticket into smaller ones',
    'Prepare the handover doc before leave',
    'Add the holiday calendar to the shared drive',
    'Improve the search on the help centre',
    'The guest Wi-Fi needs a new password monthly',
    'Thank-you cards for the volunteers',
    'Look into why the app is slow on older phones',
    'Publish the API changelog',
    'Frida starts on Monday, desk next to Ali',
    'Call the landlord about the heating',
    'Quiet hours 9 to 11 on Wednesdays?',
    'Rehearse the keynote twice before the event',
    'Check in on the customer who cancelled',
    'Back up the design files before the migration',
    'Water cooler refill ordered for next Tuesday',
];
const COLORS = ['#fff3a3', '#c8f2c2', '#cfe2ff', '#ffd1dc']; // notes.html; the first is checked by default
const USERS = ['Aiko Tanaka', 'Ben Ortiz', 'Chloé Martin', 'Dev Patel', 'Elif Kaya', 'Felix Braun', 'Grace Liu', 'Hugo Silva'];

// The board after `n` notes were added (notes.html add(): id, {text, color, by, at}).
function board(n, seed) {
    const r = rng(seed);
    const authors = USERS.slice(0, 3 + Math.floor(r() * 5));
    let ms = 1796000000000;
    const b = {};
    const texts = [...NOTE_TEXTS]; // drawn without repeats
    for (let i = 0; i < n; i++) {
        ms += Math.floor(30000 + r() * 3600000);
        const id = 'n-' + ms.toString(36) + r().toString(36).slice(2, 6);
        const color = r() < 0.5 ? COLORS[0] : pick(r, COLORS.slice(1));
        const text = texts.splice(Math.floor(r() * texts.length), 1)[0];
        b[id] = { text, color, by: pick(r, authors), at: Math.floor(ms / 1000) };
    }
    return b;
}
// What every other member receives (docs/protocol.md 4.6), offset and epoch first.
const sharedData = (payload, offset) =>
    JSON.stringify({ type: 'ovice_shared_data', offset, epoch: '1796575769865001', objectId: 'L124', version: offset, payload });

// --- the chat plugin ---------------------------------------------------------------------

const CHAT = [
    'morning!', 'hi all', 'anyone up for lunch?', 'brb', 'ok', 'thanks!', 'sounds good 👍',
    'can you share the link to the doc?', 'I\'m in the big room if anyone needs me',
    'just pushed the fix, can someone review?', 'the build is green again', 'lol',
    'coffee? ☕', 'give me 5 min', 'where is the meeting?', 'joining now',
    'sorry, my mic was muted', 'can you hear me?', 'great work on the demo today',
    'I\'ll be offline this afternoon, dentist', 'who is on call tonight?',
    'the staging server is down again', 'fixed, it was the certificate',
    'let\'s move this to a call', 'see you tomorrow', 'happy friday 🎉',
    'did anyone get the invite for the retro?', 'the slides are in the shared folder',
    'yes', 'no worries', 'on my way', 'à demain !', 'could you take a look at ticket 1423 when you have a moment?',
];
const REACTIONS = ['👍', '👏', '😂', '🎉', '❤️', '🙌'];
const CHAT_USERS = [['u-aiko', 'Aiko Tanaka'], ['u-ben', 'Ben Ortiz'], ['u-chloe', 'Chloé Martin'], ['u-dev', 'Dev Patel'], ['u-elif', 'Elif Kaya'], ['u-felix', 'Felix Braun']];

// chat.html: a line {text, name} as event "chat", a reaction (an emoji string) as "reaction";
// objcastd fills in source and objectId and delivers ovice_message (docs/protocol.md 4.3).
function chatMessages(count, seed) {
    const r = rng(seed);
    const out = [];
    for (let i = 0; i < count; i++) {
        const [source, name] = pick(r, CHAT_USERS);
        const reaction = r() < 0.15;
        const payload = reaction
            ? { source, event: 'reaction', objectId: 'L124', message: pick(r, REACTIONS) }
            : { source, event: 'chat', objectId: 'L124', message: { text: pick(r, CHAT), name } };
        out.push({ kind: reaction ? 'reaction' : 'chat line', text: JSON.stringify({ type: 'ovice_message', offset: 1000 + i, epoch: '1796575769865001', objectId: 'L124', payload }) });
    }
    return out;
}

// --- measure -------------------------------------------------------------------------------

const rows = [];
for (const n of [1, 5, 10, 25, 50, 75, 100]) {
    if (n > NOTE_TEXTS.length) throw new Error('more notes than texts: a repeated text would flatter the ratio');
    const text = sharedData(board(n, 0x6e6f7465 + n), 100 + n);
    const w = onWire(text);
    const plain = frame(Buffer.byteLength(text));
    rows.push({ doc: `notes board, ${n} note${n > 1 ? 's' : ''} (ovice_shared_data)`, count: 1, text: Buffer.byteLength(text), deflated: deflatedSize(text), compressed: w.compressed ? 1 : 0, wirePlain: plain, wireDeflate: frame(w.payload) });
}
const chats = chatMessages(300, 0x63686174);
for (const kind of ['chat line', 'reaction']) {
    const ms = chats.filter((m) => m.kind === kind);
    const sum = (f) => ms.reduce((s, m) => s + f(m), 0);
    rows.push({
        doc: `${kind}s (ovice_message), ${ms.length} of them`,
        count: ms.length,
        text: sum((m) => Buffer.byteLength(m.text)),
        deflated: sum((m) => deflatedSize(m.text)),
        compressed: sum((m) => (onWire(m.text).compressed ? 1 : 0)),
        wirePlain: sum((m) => frame(Buffer.byteLength(m.text))),
        wireDeflate: sum((m) => frame(onWire(m.text).payload)),
    });
}

if (opt.json) {
    process.stdout.write(JSON.stringify({ min_bytes: opt.minBytes, rows }) + '\n');
} else {
    const f = (x) => (Number.isInteger(x) ? x.toLocaleString('en-US') : x.toLocaleString('en-US', { maximumFractionDigits: 1 }));
    const r2 = (x) => x.toFixed(2);
    console.log(`compression_min_bytes ${opt.minBytes}; per message on average where there are several.\n`);
    console.log('| document | text B | deflated B (any size) | deflated / text | sent compressed | wire B without | wire B with | wire with / without |');
    console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
    for (const r of rows) {
        const per = (x) => f(x / r.count);
        console.log(`| ${r.doc} | ${per(r.text)} | ${per(r.deflated)} | ${r2(r.deflated / r.text)} | ${r.compressed} of ${r.count} | ${per(r.wirePlain)} | ${per(r.wireDeflate)} | ${r2(r.wireDeflate / r.wirePlain)} |`);
    }
}
