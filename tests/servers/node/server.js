'use strict';
// Both inpaint APIs on plain node:http, busboy (multipart) and sharp (libvips), written from
// the two provider documents and docs/decisions.md alone: nothing of the conformance project
// is used. Where the decisions leave a choice it takes one the Python test servers do not:
//
// - credentials and the upload size are checked before the body is read (401/413 at once);
// - AIThriving failures are 4xx (400, 401, 402, 413, 429) with the envelope and `data: null`;
// - masks (and alpha) are cut at 128; a mask of another size is resized nearest-neighbour,
//   on both APIs; colour masks are read as Rec. 601 luma;
// - the fill is a mosaic of 8 px tiles from a seeded PRNG; JPEG quality 60 (mozjpeg),
//   lossy WebP quality 50, PNG from libvips;
// - CMYK and 16-bit inputs are converted by libvips (ICC profiles), not as Pillow does;
// - Vyro errors are plain text; `Authorization: Bearer <token>` is accepted too;
// - text that is not UTF-8 is decoded with replacement characters and served.
//
// Run: node server.js --port 0 --key KEY=CREDITS ...; it prints {"url": ...} once listening.
// POST /__control__ {"mutant": NAME or null, "throttle": N} resets the credits and switches on
// one of MUTANTS (a single realistic bug) and N 429s per API; GET /v1/credits reads a balance.

const http = require('node:http');
const crypto = require('node:crypto');
const busboy = require('busboy');
const sharp = require('sharp');

const AIT_PATH = '/api/edit/inpaint';
const VYRO_PATH = '/v1/imagine/api/edits/inpaint';
const PRICE = 6;
const SEED_MAX = 4294967294;
const MAX_BODY = 8 * 1024 * 1024;
const MAX_PIXELS = 4096 * 4096;
const TILE = 8;

const MUTANTS = {
  // AIThriving
  seed_int32: 'the echoed seed goes through `seed | 0`: 4294967294 comes back as -2',
  seed_parseint: "the seed is read with parseInt: '1.5' is seed 1",
  seed_number_blank: "the seed is read with Number(): ' ' is 0, a random seed",
  empty_seed_charged: 'an empty seed field is refused, but only after the credits were taken',
  random_seed_zero: 'a random-seed answer reports the seed it was sent (0)',
  random_seed_constant: 'the random seed is drawn once, at startup',
  random_seed_painted_with_clock: 'a random-seed answer reports one seed and is painted with the clock',
  alpha_png_only: 'the alpha channel is read as the mask only for PNG uploads',
  alpha_four_channels_only: 'only 4-channel images count as transparent (grey+alpha is missed)',
  large_resized: 'inputs are fitted inside 1000x1000 before painting',
  sixteen_bit_refused: 'only 8-bit samples are accepted',
  key_first_16_chars: 'keys are compared on their first 16 characters',
  other_size_mask_top_left: 'a mask of another size is laid on the top-left corner, not resized',
  mask_inverted: 'the mask part is read inverted (black repaints)',
  alpha_wins: 'the alpha channel wins over the mask part',
  failure_500: 'every refused request is answered 500',
  code_string: 'the envelope code is a string ("0", "-1")',
  unpadded_base64: 'data.image has its = padding stripped',
  output_format_ignored: 'every answer is PNG, whatever output_format asks',
  gif_accepted: 'GIF images are accepted',
  empty_image_500: 'a zero-byte image reaches sharp unchecked (500)',
  blank_prompt: 'a prompt of spaces is served (only its presence is checked)',
  no_retry_after: 'the 429 this mutant answers first carries no Retry-After',
  truncated_500: "busboy's error on a cut-off body is not caught (500)",
  shared_org_balance: "balances are kept per organisation (a key's first dash-separated word), not per key",
  // Vyro
  vyro_jpeg_body: 'the result is JPEG bytes labelled image/png',
  vyro_missing_token_400: 'a request without a token gets 400',
  vyro_token_prefix: 'a token is accepted when it starts with a known token',
  vyro_model_version_number: 'model_version is compared with the number 1, so "1" sent explicitly is refused',
  vyro_filename_format: "an image whose filename's extension disagrees with its bytes is refused",
  vyro_kept_drift: 'the result goes through JPEG quality 80 before PNG',
  vyro_empty_mask_full: 'a zero-byte mask is read as no mask: the whole image is repainted',
  vyro_other_size_untouched: 'a mask of another size leaves the image unpainted',
  vyro_cmyk_crash: 'CMYK images crash the painter (500)',
  vyro_bad_image_500: 'an image that does not decode is answered 500',
  vyro_empty_prompt_500: 'an empty prompt crashes the prompt encoder (500)',
  vyro_large_resized: 'inputs are fitted inside 1000x1000 before painting',
};

const state = { initial: {}, credits: {}, mutant: null, throttle: { ait: 0, vyro: 0 } };
const STARTUP_SEED = crypto.randomInt(1, SEED_MAX + 1);
const bug = (name) => state.mutant === name;

class Refusal extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// -- bytes and pictures ------------------------------------------------------------------
function sniff(buf) {
  const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  if (buf.length >= 3 && buf[0] === 0xff && buf[1] === 0xd8 && buf[2] === 0xff) return 'jpeg';
  if (buf.length >= 8 && buf.subarray(0, 8).equals(png)) return 'png';
  if (buf.length >= 12 && buf.toString('latin1', 0, 4) === 'RIFF' && buf.toString('latin1', 8, 12) === 'WEBP') return 'webp';
  if (buf.length >= 6 && buf.toString('latin1', 0, 3) === 'GIF') return 'gif';
  return null;
}

async function decode(buf, allowed, what) {
  const format = sniff(buf);
  if (!allowed.includes(format)) throw new Refusal(400, `${what}: send ${allowed.join(' or ')}`);
  let meta;
  try {
    meta = await sharp(buf, { limitInputPixels: MAX_PIXELS }).metadata();
  } catch (err) {
    throw new Refusal(400, `${what}: the file cannot be read`);
  }
  if (!meta.width || !meta.height || meta.width * meta.height > MAX_PIXELS) {
    throw new Refusal(400, `${what}: ${meta.width}x${meta.height} is not a usable size`);
  }
  try {
    const pipeline = sharp(buf, { limitInputPixels: MAX_PIXELS }).toColourspace('srgb').ensureAlpha();
    const { data, info } = await pipeline.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    return { format, meta, rgba: data, width: info.width, height: info.height };
  } catch (err) {
    throw new Refusal(400, `${what}: the file cannot be decoded`);
  }
}

function transparent(picture) {
  if (bug('alpha_png_only') && picture.format !== 'png') return false;
  if (bug('alpha_four_channels_only')) return picture.meta.channels === 4 && picture.meta.hasAlpha;
  return picture.meta.hasAlpha;
}

// Strength per pixel at the picture's size: 255 repaints, 0 keeps.
function strengths(picture, maskPicture, options = {}) {
  const { width, height } = picture;
  const out = Buffer.alloc(width * height);
  if (!maskPicture) {
    for (let i = 0; i < out.length; i++) out[i] = 255 - picture.rgba[4 * i + 3];
    return out;
  }
  const m = maskPicture;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let mx = Math.floor((x * m.width) / width);
      let my = Math.floor((y * m.height) / height);
      if (options.topLeft) [mx, my] = [x, y];
      if (mx >= m.width || my >= m.height) continue;
      const j = 4 * (my * m.width + mx);
      out[y * width + x] = Math.round(0.299 * m.rgba[j] + 0.587 * m.rgba[j + 1] + 0.114 * m.rgba[j + 2]);
    }
  }
  return out;
}

function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function paint(picture, strength, seed, prompt) {
  const { width, height, rgba } = picture;
  const hash = crypto.createHash('sha256').update(prompt).digest().readUInt32BE(0);
  const random = mulberry32((seed ^ hash) >>> 0);
  const cols = Math.ceil(width / TILE);
  const tiles = Array.from({ length: cols * Math.ceil(height / TILE) }, () => [0, 1, 2].map(() => Math.floor(random() * 256)));
  const out = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      const paintHere = strength[i] >= 128;
      const tile = tiles[Math.floor(y / TILE) * cols + Math.floor(x / TILE)];
      for (let c = 0; c < 3; c++) out[3 * i + c] = paintHere ? tile[c] : rgba[4 * i + c];
    }
  }
  return out;
}

async function encode(rgb, width, height, format) {
  const image = sharp(rgb, { raw: { width, height, channels: 3 } });
  if (format === 'jpeg') return image.jpeg({ quality: 60, mozjpeg: true }).toBuffer();
  if (format === 'webp') return image.webp({ quality: 50 }).toBuffer();
  return image.png().toBuffer();
}

async function fitted(picture) {
  const { data, info } = await sharp(picture.rgba, { raw: { width: picture.width, height: picture.height, channels: 4 } })
    .resize({ width: 1000, height: 1000, fit: 'inside', withoutEnlargement: true })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { ...picture, rgba: data, width: info.width, height: info.height };
}

// -- HTTP --------------------------------------------------------------------------------
function readForm(req) {
  return new Promise((resolve, reject) => {
    let parser;
    try {
      parser = busboy({ headers: req.headers, limits: { fieldSize: 1 << 20, files: 8, fields: 32 } });
    } catch (err) {
      req.resume();
      reject(new Refusal(400, 'the body has to be multipart/form-data'));
      return;
    }
    const fields = {};
    const files = {};
    let size = 0;
    parser.on('field', (name, value) => {
      if (!(name in fields)) fields[name] = value;
    });
    parser.on('file', (name, stream, info) => {
      const chunks = [];
      stream.on('error', () => {}); // the parser reports the same error once, below
      stream.on('data', (chunk) => {
        size += chunk.length;
        chunks.push(chunk);
      });
      stream.on('end', () => {
        if (!(name in files)) files[name] = { data: Buffer.concat(chunks), filename: info.filename };
      });
    });
    parser.on('error', (err) => {
      req.unpipe(parser);
      req.resume();
      reject(bug('truncated_500') ? err : new Refusal(400, `the multipart body is damaged: ${err.message}`));
    });
    parser.on('close', () => (size > MAX_BODY ? reject(new Refusal(413, 'upload too large')) : resolve({ fields, files })));
    req.pipe(parser);
  });
}

function send(res, status, body, type, headers = {}) {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': body.length, ...headers });
  res.end(body);
}

function findKey(value) {
  const key = (value || '').trim();
  if (!key) return null;
  const known = Object.keys(state.credits);
  if (bug('key_first_16_chars')) return known.find((k) => k.slice(0, 16) === key.slice(0, 16)) || null;
  if (bug('vyro_token_prefix')) return known.find((k) => key.startsWith(k)) || null;
  return known.includes(key) ? key : null;
}

// The balance a key draws on: its own (the mutant: the first key of its organisation).
function account(key) {
  if (!bug('shared_org_balance')) return key;
  return Object.keys(state.credits).find((k) => k.split('-')[0] === key.split('-')[0]);
}

function tooLarge(req) {
  return Number(req.headers['content-length'] || 0) > MAX_BODY;
}

// -- AIThriving --------------------------------------------------------------------------
function aitSend(res, status, code, message, data, headers) {
  const envelope = { code: bug('code_string') ? String(code) : code, message, data };
  send(res, status, Buffer.from(JSON.stringify(envelope)), 'application/json', headers);
}

function aitFail(res, status, message, headers) {
  aitSend(res, status === 400 && bug('failure_500') ? 500 : status, -1, message, null, headers);
}

function parseSeed(text) {
  if (text === undefined) return 0;
  let value;
  if (bug('seed_parseint')) value = parseInt(text, 10);
  else if (bug('seed_number_blank')) value = Number(text);
  else value = /^-?[0-9]+$/.test(text.trim()) ? Number(text.trim()) : NaN;
  if (!Number.isInteger(value)) throw new Refusal(400, 'seed must be a whole number');
  if (value < 0 || value > SEED_MAX) throw new Refusal(400, `seed must be between 0 and ${SEED_MAX}`);
  return value;
}

async function aithriving(req, res) {
  if (state.throttle.ait > 0) {
    state.throttle.ait--;
    req.resume();
    return aitFail(res, 429, 'too many requests', bug('no_retry_after') ? {} : { 'Retry-After': '1' });
  }
  const key = findKey(req.headers.authorization);
  if (!key) {
    req.resume();
    return aitFail(res, 401, 'missing or unknown API key');
  }
  if (tooLarge(req)) {
    req.resume();
    return aitFail(res, 413, 'upload too large');
  }
  if (state.credits[account(key)] < PRICE) {
    req.resume();
    return aitFail(res, 402, `not enough credits: ${state.credits[account(key)]} left, ${PRICE} needed`);
  }
  const { fields, files } = await readForm(req);
  const prompt = fields.prompt;
  if (prompt === undefined || (!bug('blank_prompt') && !prompt.trim())) throw new Refusal(400, 'prompt is required');
  if (!files.image) throw new Refusal(400, 'image is required');
  if (bug('empty_seed_charged') && fields.seed === '') state.credits[account(key)] -= PRICE; // then refused below
  const requested = parseSeed(fields.seed);
  const format = bug('output_format_ignored') ? 'png' : fields.output_format || 'png';
  if (!['jpeg', 'png', 'webp'].includes(format)) throw new Refusal(400, 'output_format must be jpeg, png or webp');
  const allowed = bug('gif_accepted') ? ['jpeg', 'png', 'webp', 'gif'] : ['jpeg', 'png', 'webp'];
  if (bug('empty_image_500') && files.image.data.length === 0) throw new Error('Input Buffer is empty');
  let picture = await decode(files.image.data, allowed, 'image');
  if (bug('sixteen_bit_refused') && picture.meta.depth !== 'uchar') throw new Refusal(400, 'only 8-bit images');
  if (bug('large_resized')) picture = await fitted(picture);
  let strength;
  if (files.mask && !(bug('alpha_wins') && transparent(picture))) {
    const mask = await decode(files.mask.data, ['jpeg', 'png', 'webp'], 'mask');
    strength = strengths(picture, mask, { topLeft: bug('other_size_mask_top_left') });
    if (bug('mask_inverted')) strength = strength.map((v) => 255 - v);
  } else if (transparent(picture)) {
    strength = strengths(picture, null);
  } else {
    throw new Refusal(400, 'send a mask, or an image with transparency');
  }
  let seed = requested || (bug('random_seed_constant') ? STARTUP_SEED : crypto.randomInt(1, SEED_MAX + 1));
  const paintSeed = !requested && bug('random_seed_painted_with_clock') ? Date.now() % SEED_MAX : seed;
  const rgb = paint(picture, strength, paintSeed, prompt);
  const output = await encode(rgb, picture.width, picture.height, format);
  const payer = account(key);
  if (state.credits[payer] < PRICE) throw new Refusal(402, 'not enough credits');
  state.credits[payer] -= PRICE;
  if (bug('random_seed_zero') && !requested) seed = requested;
  if (bug('seed_int32')) seed |= 0;
  let image = output.toString('base64');
  if (bug('unpadded_base64')) image = image.replace(/=+$/, '');
  aitSend(res, 200, 0, 'success', { image, seed });
}

// -- Vyro --------------------------------------------------------------------------------
function vyroFail(res, status, message, headers) {
  send(res, status, Buffer.from(`${status} ${http.STATUS_CODES[status]}: ${message}\n`), 'text/plain; charset=utf-8', headers);
}

async function vyro(req, res) {
  if (state.throttle.vyro > 0) {
    state.throttle.vyro--;
    req.resume();
    return vyroFail(res, 429, 'too many requests', { 'Retry-After': '1' });
  }
  const authorization = req.headers.authorization || '';
  const given = req.headers.bearer || (authorization.toLowerCase().startsWith('bearer ') ? authorization.slice(7) : '');
  if (!findKey(given)) {
    req.resume();
    return vyroFail(res, !given.trim() && bug('vyro_missing_token_400') ? 400 : 401, 'authentication failed');
  }
  if (tooLarge(req)) {
    req.resume();
    return vyroFail(res, 413, 'upload too large');
  }
  const { fields, files } = await readForm(req);
  if (fields.prompt === undefined) throw new Refusal(400, 'prompt is required');
  if (bug('vyro_empty_prompt_500') && !fields.prompt) throw new TypeError("Cannot read properties of undefined (reading 'ids')");
  for (const part of ['image', 'mask']) {
    if (!files[part] && !(part === 'mask' && bug('vyro_empty_mask_full'))) throw new Refusal(400, `${part} is required`);
  }
  const version = fields.model_version;
  if (version !== undefined && (bug('vyro_model_version_number') ? version !== 1 : version.trim() !== '1')) {
    throw new Refusal(400, 'unknown model_version');
  }
  const image = files.image;
  if (bug('vyro_filename_format')) {
    const extension = (image.filename || '').split('.').pop().toLowerCase().replace('jpg', 'jpeg');
    if (extension !== sniff(image.data)) throw new Refusal(400, `the file is not a ${extension}`);
  }
  if (bug('vyro_bad_image_500') && !sniff(image.data)) throw new Error('unsupported image');
  let picture;
  try {
    picture = await decode(image.data, ['jpeg', 'png'], 'image');
  } catch (err) {
    if (bug('vyro_bad_image_500')) throw new Error(err.message);
    throw err;
  }
  if (bug('vyro_cmyk_crash') && picture.meta.space === 'cmyk') throw new RangeError('expected 3 channels, got 4');
  if (bug('vyro_large_resized')) picture = await fitted(picture);
  let strength;
  if (bug('vyro_empty_mask_full') && (!files.mask || files.mask.data.length === 0)) {
    strength = Buffer.alloc(picture.width * picture.height, 255);
  } else {
    const mask = await decode(files.mask.data, ['jpeg', 'png'], 'mask');
    strength = strengths(picture, mask);
    if (bug('vyro_other_size_untouched') && (mask.width !== picture.width || mask.height !== picture.height)) {
      strength = Buffer.alloc(picture.width * picture.height, 0);
    }
  }
  const rgb = paint(picture, strength, crypto.randomInt(1, SEED_MAX + 1), fields.prompt);
  let output = await encode(rgb, picture.width, picture.height, bug('vyro_jpeg_body') ? 'jpeg' : 'png');
  if (bug('vyro_kept_drift')) {
    const { data } = await sharp(await sharp(rgb, { raw: { width: picture.width, height: picture.height, channels: 3 } }).jpeg({ quality: 80 }).toBuffer())
      .raw()
      .toBuffer({ resolveWithObject: true });
    output = await encode(data, picture.width, picture.height, 'png');
  }
  send(res, 200, output, 'image/png');
}

// -- the rest ----------------------------------------------------------------------------
function control(req, res) {
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    const wanted = JSON.parse(Buffer.concat(chunks).toString() || '{}');
    if (wanted.mutant != null && !(wanted.mutant in MUTANTS)) {
      return send(res, 400, Buffer.from(`unknown mutant ${wanted.mutant}`), 'text/plain');
    }
    state.mutant = wanted.mutant ?? null;
    state.credits = { ...state.initial };
    const throttle = wanted.throttle ?? (state.mutant === 'no_retry_after' ? 1 : 0);
    state.throttle = { ait: throttle, vyro: throttle };
    send(res, 200, Buffer.from(JSON.stringify({ mutant: state.mutant, mutants: MUTANTS })), 'application/json');
  });
}

function credits(req, res) {
  const key = (req.headers.authorization || '').trim();
  if (!(key in state.credits)) return send(res, 401, Buffer.from('{"error": "unknown key"}'), 'application/json');
  send(res, 200, Buffer.from(JSON.stringify({ credits: state.credits[account(key)] })), 'application/json');
}

const server = http.createServer((req, res) => {
  const path = new URL(req.url, 'http://localhost').pathname;
  const routes = { [AIT_PATH]: aithriving, [VYRO_PATH]: vyro };
  if (path === '/__control__' && req.method === 'POST') return control(req, res);
  if (path === '/v1/credits' && req.method === 'GET') return credits(req, res);
  const handler = routes[path];
  if (!handler) {
    req.resume();
    return send(res, 404, Buffer.from('not found'), 'text/plain');
  }
  if (req.method !== 'POST') {
    req.resume();
    return handler === aithriving ? aitFail(res, 405, 'use POST') : vyroFail(res, 405, 'use POST');
  }
  handler(req, res).catch((err) => {
    const status = err instanceof Refusal ? err.status : 500;
    const message = err instanceof Refusal ? err.message : `internal error: ${err.message}`;
    if (res.headersSent) return res.destroy();
    if (handler === aithriving) return aitFail(res, status, message);
    return vyroFail(res, status, message);
  });
});

function main() {
  const args = process.argv.slice(2);
  let port = 0;
  for (let i = 0; i < args.length; i += 2) {
    if (args[i] === '--port') port = Number(args[i + 1]);
    else if (args[i] === '--key') {
      const [key, amount] = args[i + 1].split('=');
      state.initial[key] = Number(amount);
    } else throw new Error(`unknown argument ${args[i]}`);
  }
  state.credits = { ...state.initial };
  server.keepAliveTimeout = 30000;
  server.listen(port, '127.0.0.1', () => {
    process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${server.address().port}` })}\n`);
  });
}

main();
