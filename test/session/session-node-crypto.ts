// Test fixture: an independent route to the session's crypto through node:crypto (AES-ECB for
// RFC 4493's CMAC by hand, 'aes-128-ccm' for records). Not used by src/, and not a test file.

import { createCipheriv } from 'node:crypto';

/** AES-CMAC (RFC 4493 §2.3–2.4) by hand on node:crypto's AES-128-ECB: subkeys K1, K2, then CBC-MAC. */
export function nodeCmac(key: Uint8Array, message: Uint8Array): Uint8Array {
  const aes = (block: Uint8Array): Uint8Array => {
    const c = createCipheriv('aes-128-ecb', key, null);
    c.setAutoPadding(false);
    return new Uint8Array(Buffer.concat([c.update(block), c.final()]));
  };
  // RFC 4493 §2.3: K1 = L·x, K2 = K1·x in GF(2^128), Rb = 0x87.
  const double = (b: Uint8Array): Uint8Array => {
    const o = new Uint8Array(16);
    for (let i = 0; i < 16; i++) o[i] = ((b[i]! << 1) | (i < 15 ? b[i + 1]! >>> 7 : 0)) & 0xff;
    if (b[0]! & 0x80) o[15] = o[15]! ^ 0x87;
    return o;
  };
  const k1 = double(aes(new Uint8Array(16)));
  const k2 = double(k1);
  const n = Math.max(1, Math.ceil(message.length / 16));
  const complete = message.length > 0 && message.length % 16 === 0;
  let x: Uint8Array = new Uint8Array(16);
  for (let i = 0; i < n; i++) {
    const block = new Uint8Array(16);
    const part = message.subarray(i * 16, i * 16 + 16);
    block.set(part);
    if (i === n - 1) {
      if (!complete) block[part.length] = 0x80;
      const k = complete ? k1 : k2;
      for (let j = 0; j < 16; j++) block[j] = block[j]! ^ k[j]!;
    }
    for (let j = 0; j < 16; j++) block[j] = block[j]! ^ x[j]!;
    x = aes(block);
  }
  return x;
}

/** AES-128-CCM with an 8-byte tag through node:crypto: ciphertext ‖ tag. */
export function nodeCcmSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
  const c = createCipheriv('aes-128-ccm', key, nonce, { authTagLength: 8 });
  c.setAAD(aad, { plaintextLength: plaintext.length });
  const ct = Buffer.concat([c.update(plaintext), c.final()]);
  return new Uint8Array(Buffer.concat([ct, c.getAuthTag()]));
}
