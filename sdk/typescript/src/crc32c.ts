/**
 * crc32c is CRC-32C (Castagnoli, RFC 3720) of bytes, for the
 * `x-amz-checksum-crc32c` of resumable upload parts: the object store checks
 * each part against it (cheaper for the store than a `Content-MD5`, and for
 * the phone). It is an integrity check against corruption on the way, never a
 * security measure: the server verifies the whole file's SHA-256.
 */

// Slicing-by-8 tables of the reflected polynomial 0x82F63B78.
const TABLES: Uint32Array[] = (() => {
  const t = Array.from({ length: 8 }, () => new Uint32Array(256));
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[0][i] = c >>> 0;
  }
  for (let i = 0; i < 256; i++) {
    for (let s = 1; s < 8; s++) t[s][i] = (t[s - 1][i] >>> 8) ^ t[0][t[s - 1][i] & 0xff];
  }
  return t;
})();

/** crc32c returns the CRC-32C of data as an unsigned 32-bit number. */
export function crc32c(data: Uint8Array): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = TABLES;
  let c = ~0;
  let i = 0;
  const n = data.length;
  for (; i + 8 <= n; i += 8) {
    c ^= data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24);
    c =
      t7[c & 0xff] ^ t6[(c >>> 8) & 0xff] ^ t5[(c >>> 16) & 0xff] ^ t4[c >>> 24] ^
      t3[data[i + 4]] ^ t2[data[i + 5]] ^ t1[data[i + 6]] ^ t0[data[i + 7]];
  }
  for (; i < n; i++) c = t0[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

/** crc32cBase64 is the base64 of the big-endian CRC-32C of data: the value of an `x-amz-checksum-crc32c` header. */
export function crc32cBase64(data: Uint8Array): string {
  const v = crc32c(data);
  return btoa(String.fromCharCode(v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff));
}
