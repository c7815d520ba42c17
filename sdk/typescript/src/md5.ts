/**
 * md5 is MD5 (RFC 1321) of bytes, for a `Content-MD5` of resumable upload
 * parts (WebCrypto has no MD5); the client itself sends CRC32Cs (crc32c.ts),
 * cheaper for the phone and the store. It is an integrity check against
 * corruption on the way, never a security measure.
 */

const S = [7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21];
// T[i] = floor(abs(sin(i + 1)) * 2^32) (RFC 1321, 3.4).
const T = Int32Array.from({ length: 64 }, (_, i) => Math.floor(Math.abs(Math.sin(i + 1)) * 2 ** 32) | 0);

/** md5 returns the 16-byte MD5 digest of data. */
export function md5(data: Uint8Array): Uint8Array {
  const st = new Int32Array([0x67452301, 0xefcdab89 | 0, 0x98badcfe | 0, 0x10325476]);
  const x = new Int32Array(16);
  const n = data.length;
  const full = n - (n % 64);
  for (let off = 0; off < full; off += 64) {
    for (let j = 0; j < 16; j++) {
      const p = off + j * 4;
      x[j] = data[p] | (data[p + 1] << 8) | (data[p + 2] << 16) | (data[p + 3] << 24);
    }
    block(st, x);
  }
  // Padding: 0x80, zeros, then the length in bits (64-bit little-endian).
  const tailLen = n - full;
  const tail = new Uint8Array(tailLen < 56 ? 64 : 128);
  tail.set(data.subarray(full));
  tail[tailLen] = 0x80;
  const bits = n * 8;
  const lo = bits >>> 0;
  const hi = Math.floor(bits / 2 ** 32) >>> 0;
  const L = tail.length;
  for (let i = 0; i < 4; i++) {
    tail[L - 8 + i] = (lo >>> (8 * i)) & 0xff;
    tail[L - 4 + i] = (hi >>> (8 * i)) & 0xff;
  }
  for (let off = 0; off < L; off += 64) {
    for (let j = 0; j < 16; j++) {
      const p = off + j * 4;
      x[j] = tail[p] | (tail[p + 1] << 8) | (tail[p + 2] << 16) | (tail[p + 3] << 24);
    }
    block(st, x);
  }
  const out = new Uint8Array(16);
  for (let i = 0; i < 4; i++) {
    for (let k = 0; k < 4; k++) out[i * 4 + k] = (st[i] >>> (8 * k)) & 0xff;
  }
  return out;
}

function block(st: Int32Array, x: Int32Array): void {
  let a = st[0];
  let b = st[1];
  let c = st[2];
  let d = st[3];
  for (let i = 0; i < 64; i++) {
    let f: number;
    let g: number;
    if (i < 16) {
      f = (b & c) | (~b & d);
      g = i;
    } else if (i < 32) {
      f = (d & b) | (~d & c);
      g = (5 * i + 1) & 15;
    } else if (i < 48) {
      f = b ^ c ^ d;
      g = (3 * i + 5) & 15;
    } else {
      f = c ^ (b | ~d);
      g = (7 * i) & 15;
    }
    const t = d;
    d = c;
    c = b;
    const sum = (a + f + T[i] + x[g]) | 0;
    b = (b + ((sum << S[i]) | (sum >>> (32 - S[i])))) | 0;
    a = t;
  }
  st[0] = (st[0] + a) | 0;
  st[1] = (st[1] + b) | 0;
  st[2] = (st[2] + c) | 0;
  st[3] = (st[3] + d) | 0;
}

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** base64 encodes bytes (standard alphabet, padded), with no dependence on btoa or Buffer. */
export function base64(b: Uint8Array): string {
  let s = "";
  let i = 0;
  for (; i + 2 < b.length; i += 3) {
    const v = (b[i] << 16) | (b[i + 1] << 8) | b[i + 2];
    s += B64[v >> 18] + B64[(v >> 12) & 63] + B64[(v >> 6) & 63] + B64[v & 63];
  }
  if (i < b.length) {
    const v = (b[i] << 16) | ((i + 1 < b.length ? b[i + 1] : 0) << 8);
    s += B64[v >> 18] + B64[(v >> 12) & 63] + (i + 1 < b.length ? B64[(v >> 6) & 63] : "=") + "=";
  }
  return s;
}

/** md5Base64 is the base64 MD5 of data: the value of a `Content-MD5` header (RFC 1864). */
export function md5Base64(data: Uint8Array): string {
  return base64(md5(data));
}
