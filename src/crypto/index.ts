// The crypto core's public surface: AES-128-CCM, AES-CMAC, the LE Secure Connections toolbox,
// P-256 ECDH and ECDSA, constant-time comparison, cost charging and budgets. Not an implementation file.

export { AesCcm, ccmDecrypt, ccmEncrypt, ccmMaxPayloadBytes, CCM_MAX_NONCE_BYTES, CCM_MIN_NONCE_BYTES, CCM_TAG_LENGTHS, type CcmOptions } from './ccm.ts';
export { aesCmac, CMAC_TAG_BYTES, type CmacOptions } from './cmac.ts';
export {
  f4,
  f5,
  f6,
  g2,
  h6,
  formatNumericComparison,
  fromLsbFirst,
  toLsbFirst,
  NUMERIC_COMPARISON_MODULUS,
  type F5Keys,
  type ToolboxOptions,
} from './toolbox.ts';
export {
  isValidP256PublicKey,
  p256Ecdh,
  p256Keypair,
  p256PublicKey,
  p256ValidatePrivateKey,
  p256ValidatePublicKey,
  P256_DHKEY_BYTES,
  P256_KEYGEN_ENTROPY_BYTES,
  P256_PRIVATE_KEY_BYTES,
  P256_PUBLIC_KEY_BYTES,
  type P256Keypair,
  type P256Options,
} from './p256.ts';
export { ecdsaP256Sign, ecdsaP256Verify, ECDSA_P256_SIGNATURE_BYTES, type EcdsaOptions } from './ecdsa.ts';
export { constantTimeEqual } from './constant-time.ts';
export { sha256, SHA256_BYTES, type Sha256Options } from './sha256.ts';
export { CryptoError, type CryptoErrorCode } from './errors.ts';
export {
  aesMeters,
  ccmBlockCount,
  cmacBlockCount,
  sha256BlockCount,
  CRYPTO_ACTIVITY,
  type AesPlacement,
  type CostContext,
  type CryptoCharge,
  type CryptoCostRows,
  type CryptoOperation,
} from './cost.ts';
export { budget, Budget, BudgetExceededError, Budgets, BudgetScope, type BudgetLimits, type BudgetReport, type MeteredLedger } from './budget.ts';
