//! BLS signatures over BLS12-381 as Imua/Exocore use them: prysm-on-blst `min_pk` (public keys in
//! G1, signatures in G2), proof-of-possession ciphersuite, messages are 32-byte digests.
//!
//! Types wrap blst's raw affine points rather than `blst::min_pk` so that the aggregator can sum
//! points with blst's batched affine addition and skip checks it defers (see `aggregate.rs`).
//! Every constructor from outside bytes validates; the only unchecked property a `Signature` may
//! carry is subgroup membership, and only by design (`Signature::from_bytes`).

use std::hash::{Hash, Hasher};
use std::ptr;

use alloy_primitives::Address;
use blst::{
    BLST_ERROR, blst_bendian_from_scalar, blst_final_exp, blst_fp6, blst_fp12, blst_fp12_conjugate,
    blst_fp12_finalverify, blst_fp12_mul, blst_hash_to_g2, blst_keygen, blst_miller_loop,
    blst_miller_loop_lines, blst_p1, blst_p1_add_or_double, blst_p1_affine,
    blst_p1_affine_compress, blst_p1_affine_generator, blst_p1_affine_in_g1, blst_p1_affine_is_inf,
    blst_p1_affine_serialize, blst_p1_cneg, blst_p1_deserialize, blst_p1_from_affine,
    blst_p1_is_inf, blst_p1_to_affine, blst_p1_uncompress, blst_p1s_add, blst_p2, blst_p2_affine,
    blst_p2_affine_compress, blst_p2_affine_in_g2, blst_p2_affine_is_inf, blst_p2_affine_serialize,
    blst_p2_deserialize, blst_p2_to_affine, blst_p2_uncompress, blst_p2s_add,
    blst_precompute_lines, blst_scalar, blst_scalar_from_bendian, blst_sign_pk_in_g1,
    blst_sk_check, blst_sk_to_pk_in_g1,
};
use rand::RngCore;
use zeroize::Zeroizing;

use super::messages;

/// The proof-of-possession ciphersuite of the IETF BLS draft, as prysm (and so Imua) uses it.
pub const DST: &[u8] = b"BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";

pub const SECRET_KEY_LEN: usize = 32;
pub const PUBLIC_KEY_LEN: usize = 48;
pub const PUBLIC_KEY_UNCOMPRESSED_LEN: usize = 96;
pub const SIGNATURE_LEN: usize = 96;
pub const SIGNATURE_UNCOMPRESSED_LEN: usize = 192;
pub const EIP2537_G1_LEN: usize = 128;
pub const EIP2537_G2_LEN: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlsError {
    #[error("wrong length: expected {expected}, got {got} bytes")]
    InvalidLength { expected: &'static str, got: usize },
    #[error("bad point encoding (flag bits, or a field element not below the modulus)")]
    BadEncoding,
    #[error("EIP-2537 field element has non-zero padding or is not below the modulus")]
    NotCanonical,
    #[error("point is not on the curve")]
    NotOnCurve,
    #[error("point is not in the prime-order subgroup")]
    NotInSubgroup,
    #[error("point at infinity is not allowed here")]
    Infinity,
    #[error("secret key is zero or not below the group order")]
    InvalidSecretKey,
    #[error("key material must be at least 32 bytes, got {0}")]
    IkmTooShort(usize),
    #[error("signature does not verify")]
    VerificationFailed,
}

fn from_blst(e: BLST_ERROR) -> BlsError {
    match e {
        BLST_ERROR::BLST_POINT_NOT_ON_CURVE => BlsError::NotOnCurve,
        BLST_ERROR::BLST_POINT_NOT_IN_GROUP => BlsError::NotInSubgroup,
        BLST_ERROR::BLST_PK_IS_INFINITY => BlsError::Infinity,
        _ => BlsError::BadEncoding,
    }
}

// ---------------------------------------------------------------------------------------------
// Secret keys

/// A BLS secret key. The scalar is wiped when dropped (blst's `blst_scalar` zeroizes on drop).
#[derive(Clone)]
pub struct SecretKey {
    scalar: blst_scalar,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

impl SecretKey {
    /// EIP-2333 `KeyGen` from input key material (at least 32 bytes), empty key info.
    pub fn from_ikm(ikm: &[u8]) -> Result<Self, BlsError> {
        if ikm.len() < 32 {
            return Err(BlsError::IkmTooShort(ikm.len()));
        }
        let mut scalar = blst_scalar::default();
        // SAFETY: pointers to live buffers of the stated lengths.
        unsafe { blst_keygen(&mut scalar, ikm.as_ptr(), ikm.len(), ptr::null(), 0) };
        Ok(Self { scalar })
    }

    /// A fresh key from the caller's RNG (the simulator passes its seeded one).
    pub fn random<R: RngCore + ?Sized>(rng: &mut R) -> Self {
        let mut ikm = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(ikm.as_mut());
        Self::from_ikm(ikm.as_ref()).expect("32 bytes of ikm is enough")
    }

    /// The 32-byte big-endian scalar, as prysm's `SecretKey.Marshal()` stores it.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BlsError> {
        if bytes.len() != SECRET_KEY_LEN {
            return Err(BlsError::InvalidLength {
                expected: "32",
                got: bytes.len(),
            });
        }
        let mut scalar = blst_scalar::default();
        // SAFETY: 32 readable bytes.
        let ok = unsafe {
            blst_scalar_from_bendian(&mut scalar, bytes.as_ptr());
            blst_sk_check(&scalar)
        };
        if !ok {
            return Err(BlsError::InvalidSecretKey);
        }
        Ok(Self { scalar })
    }

    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        let mut out = Zeroizing::new([0u8; 32]);
        // SAFETY: 32 writable bytes.
        unsafe { blst_bendian_from_scalar(out.as_mut_ptr(), &self.scalar) };
        out
    }

    pub fn public_key(&self) -> PublicKey {
        let mut p = blst_p1::default();
        let mut aff = blst_p1_affine::default();
        // SAFETY: valid out-pointers.
        unsafe {
            blst_sk_to_pk_in_g1(&mut p, &self.scalar);
            blst_p1_to_affine(&mut aff, &p);
        }
        PublicKey::from_trusted(aff)
    }

    /// Signs a 32-byte digest (the chain never signs raw messages: see `messages`).
    pub fn sign(&self, digest: &[u8; 32]) -> Signature {
        let h = hash_to_g2(digest);
        let mut s = blst_p2::default();
        let mut aff = blst_p2_affine::default();
        // SAFETY: valid pointers.
        unsafe {
            blst_sign_pk_in_g1(&mut s, &h, &self.scalar);
            blst_p2_to_affine(&mut aff, &s);
        }
        Signature { point: aff }
    }
}

// ---------------------------------------------------------------------------------------------
// Public keys

/// A validated public key: canonical, on the curve, in G1, not infinity. Validation costs a
/// subgroup check, so the aggregator validates once at registration and caches the value;
/// copies are cheap (`Copy`).
#[derive(Clone, Copy)]
pub struct PublicKey {
    point: blst_p1_affine,
    compressed: [u8; PUBLIC_KEY_LEN],
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey(0x{})", hex::encode(self.compressed))
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.compressed == other.compressed
    }
}
impl Eq for PublicKey {}
impl Hash for PublicKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.compressed.hash(state)
    }
}

impl PublicKey {
    fn from_trusted(point: blst_p1_affine) -> Self {
        let mut compressed = [0u8; PUBLIC_KEY_LEN];
        // SAFETY: 48 writable bytes.
        unsafe { blst_p1_affine_compress(compressed.as_mut_ptr(), &point) };
        Self { point, compressed }
    }

    fn validate(point: blst_p1_affine) -> Result<Self, BlsError> {
        // SAFETY: valid pointer.
        unsafe {
            if blst_p1_affine_is_inf(&point) {
                return Err(BlsError::Infinity);
            }
            if !blst_p1_affine_in_g1(&point) {
                return Err(BlsError::NotInSubgroup);
            }
        }
        Ok(Self::from_trusted(point))
    }

    /// 48-byte compressed (the chain's `pubKey` bytes) or 96-byte uncompressed (ZCash format).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BlsError> {
        let mut point = blst_p1_affine::default();
        let err = match bytes.len() {
            PUBLIC_KEY_LEN if bytes[0] & 0x80 != 0 => {
                // SAFETY: 48 readable bytes.
                unsafe { blst_p1_uncompress(&mut point, bytes.as_ptr()) }
            }
            PUBLIC_KEY_UNCOMPRESSED_LEN if bytes[0] & 0x80 == 0 => {
                // SAFETY: 96 readable bytes.
                unsafe { blst_p1_deserialize(&mut point, bytes.as_ptr()) }
            }
            PUBLIC_KEY_LEN | PUBLIC_KEY_UNCOMPRESSED_LEN => return Err(BlsError::BadEncoding),
            n => {
                return Err(BlsError::InvalidLength {
                    expected: "48 or 96",
                    got: n,
                });
            }
        };
        if err != BLST_ERROR::BLST_SUCCESS {
            return Err(from_blst(err));
        }
        Self::validate(point)
    }

    /// EIP-2537 G1 encoding (128 bytes) as the precompiles take it.
    pub fn from_eip2537(bytes: &[u8]) -> Result<Self, BlsError> {
        Self::validate(g1_from_eip2537(bytes)?)
    }

    pub fn to_bytes(&self) -> [u8; PUBLIC_KEY_LEN] {
        self.compressed
    }

    pub fn to_uncompressed(&self) -> [u8; PUBLIC_KEY_UNCOMPRESSED_LEN] {
        let mut out = [0u8; PUBLIC_KEY_UNCOMPRESSED_LEN];
        // SAFETY: 96 writable bytes.
        unsafe { blst_p1_affine_serialize(out.as_mut_ptr(), &self.point) };
        out
    }

    pub fn to_eip2537(&self) -> [u8; EIP2537_G1_LEN] {
        g1_to_eip2537(&self.point)
    }

    pub(crate) fn point(&self) -> &blst_p1_affine {
        &self.point
    }

    /// Full verification of one signature (subgroup check included).
    pub fn verify(&self, digest: &[u8; 32], sig: &Signature) -> Result<(), BlsError> {
        if sig.is_infinity() {
            return Err(BlsError::Infinity);
        }
        if !sig.in_subgroup() {
            return Err(BlsError::NotInSubgroup);
        }
        let prepared = PreparedMessage::new(digest);
        if prepared.pairing_check(&self.point, &sig.point) {
            Ok(())
        } else {
            Err(BlsError::VerificationFailed)
        }
    }
}

/// A sum of public keys. Unlike `PublicKey` it may be infinity (keys that cancel) and is not
/// re-validated: its summands were.
#[derive(Clone, Copy)]
pub struct AggregatePublicKey {
    pub(crate) point: blst_p1,
}

impl std::fmt::Debug for AggregatePublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AggregatePublicKey(0x{})", hex::encode(self.to_bytes()))
    }
}

impl PartialEq for AggregatePublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.to_bytes() == other.to_bytes()
    }
}
impl Eq for AggregatePublicKey {}

impl AggregatePublicKey {
    pub fn identity() -> Self {
        Self {
            point: blst_p1::default(),
        }
    }

    pub fn is_identity(&self) -> bool {
        // SAFETY: valid pointer.
        unsafe { blst_p1_is_inf(&self.point) }
    }

    pub(crate) fn affine(&self) -> blst_p1_affine {
        let mut aff = blst_p1_affine::default();
        // SAFETY: valid pointers.
        unsafe { blst_p1_to_affine(&mut aff, &self.point) };
        aff
    }

    pub fn add(&mut self, pk: &PublicKey) {
        let mut p = blst_p1::default();
        // SAFETY: valid pointers.
        unsafe {
            blst_p1_from_affine(&mut p, &pk.point);
            blst_p1_add_or_double(&mut self.point, &self.point, &p);
        }
    }

    pub fn sub(&mut self, pk: &PublicKey) {
        let mut p = blst_p1::default();
        // SAFETY: valid pointers.
        unsafe {
            blst_p1_from_affine(&mut p, &pk.point);
            blst_p1_cneg(&mut p, true);
            blst_p1_add_or_double(&mut self.point, &self.point, &p);
        }
    }

    /// 48-byte compressed encoding (infinity is `0xc0` followed by zeros).
    pub fn to_bytes(&self) -> [u8; PUBLIC_KEY_LEN] {
        let mut out = [0u8; PUBLIC_KEY_LEN];
        let aff = self.affine();
        // SAFETY: 48 writable bytes.
        unsafe { blst_p1_affine_compress(out.as_mut_ptr(), &aff) };
        out
    }

    pub fn to_eip2537(&self) -> [u8; EIP2537_G1_LEN] {
        g1_to_eip2537(&self.affine())
    }

    /// The aggregate as a `PublicKey`, if it is a valid one (not infinity).
    pub fn to_public_key(&self) -> Result<PublicKey, BlsError> {
        if self.is_identity() {
            return Err(BlsError::Infinity);
        }
        Ok(PublicKey::from_trusted(self.affine()))
    }
}

/// Sum of validated keys. Rogue-key safety comes from proof of possession at registration, not
/// from here.
pub fn aggregate_public_keys(pks: &[PublicKey]) -> AggregatePublicKey {
    let ptrs: Vec<*const blst_p1_affine> = pks.iter().map(|p| &p.point as *const _).collect();
    sum_g1(&ptrs)
}

pub(crate) fn sum_g1(ptrs: &[*const blst_p1_affine]) -> AggregatePublicKey {
    let mut out = blst_p1::default();
    if !ptrs.is_empty() {
        // SAFETY: every pointer refers to a live affine point for the duration of the call.
        unsafe { blst_p1s_add(&mut out, ptrs.as_ptr(), ptrs.len()) };
    }
    AggregatePublicKey { point: out }
}

// ---------------------------------------------------------------------------------------------
// Signatures

/// A G2 point that decoded canonically and lies on the curve. Subgroup membership is NOT implied
/// by `from_bytes`/`from_eip2537`: check it with `in_subgroup`, or let the aggregate check do it
/// (see `aggregate.rs` for why that is sound).
#[derive(Clone, Copy)]
pub struct Signature {
    pub(crate) point: blst_p2_affine,
}

impl std::fmt::Debug for Signature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signature(0x{})", hex::encode(self.to_bytes()))
    }
}

impl PartialEq for Signature {
    fn eq(&self, other: &Self) -> bool {
        self.to_uncompressed() == other.to_uncompressed()
    }
}
impl Eq for Signature {}

impl Signature {
    /// 96-byte compressed (costs a square root in Fp2) or 192-byte uncompressed (costs an
    /// on-curve check only). No subgroup check.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BlsError> {
        let mut point = blst_p2_affine::default();
        let err = match bytes.len() {
            SIGNATURE_LEN if bytes[0] & 0x80 != 0 => {
                // SAFETY: 96 readable bytes.
                unsafe { blst_p2_uncompress(&mut point, bytes.as_ptr()) }
            }
            SIGNATURE_UNCOMPRESSED_LEN if bytes[0] & 0x80 == 0 => {
                // SAFETY: 192 readable bytes.
                unsafe { blst_p2_deserialize(&mut point, bytes.as_ptr()) }
            }
            SIGNATURE_LEN | SIGNATURE_UNCOMPRESSED_LEN => return Err(BlsError::BadEncoding),
            n => {
                return Err(BlsError::InvalidLength {
                    expected: "96 or 192",
                    got: n,
                });
            }
        };
        if err != BLST_ERROR::BLST_SUCCESS {
            return Err(from_blst(err));
        }
        Ok(Self { point })
    }

    /// `from_bytes` plus subgroup check and infinity rejection: a signature you can trust alone.
    pub fn from_bytes_checked(bytes: &[u8]) -> Result<Self, BlsError> {
        let sig = Self::from_bytes(bytes)?;
        if sig.is_infinity() {
            return Err(BlsError::Infinity);
        }
        if !sig.in_subgroup() {
            return Err(BlsError::NotInSubgroup);
        }
        Ok(sig)
    }

    /// EIP-2537 G2 encoding (256 bytes). No subgroup check (the precompiles' G2ADD does none
    /// either; the pairing precompile does).
    pub fn from_eip2537(bytes: &[u8]) -> Result<Self, BlsError> {
        Ok(Self {
            point: g2_from_eip2537(bytes)?,
        })
    }

    pub fn to_bytes(&self) -> [u8; SIGNATURE_LEN] {
        let mut out = [0u8; SIGNATURE_LEN];
        // SAFETY: 96 writable bytes.
        unsafe { blst_p2_affine_compress(out.as_mut_ptr(), &self.point) };
        out
    }

    pub fn to_uncompressed(&self) -> [u8; SIGNATURE_UNCOMPRESSED_LEN] {
        let mut out = [0u8; SIGNATURE_UNCOMPRESSED_LEN];
        // SAFETY: 192 writable bytes.
        unsafe { blst_p2_affine_serialize(out.as_mut_ptr(), &self.point) };
        out
    }

    pub fn to_eip2537(&self) -> [u8; EIP2537_G2_LEN] {
        g2_to_eip2537(&self.point)
    }

    pub fn in_subgroup(&self) -> bool {
        // SAFETY: valid pointer.
        unsafe { blst_p2_affine_in_g2(&self.point) }
    }

    pub fn is_infinity(&self) -> bool {
        // SAFETY: valid pointer.
        unsafe { blst_p2_affine_is_inf(&self.point) }
    }
}

/// Sum of signatures with blst's batched affine addition (one inversion for the whole batch).
pub fn aggregate_signatures(sigs: &[Signature]) -> Signature {
    let ptrs: Vec<*const blst_p2_affine> = sigs.iter().map(|s| &s.point as *const _).collect();
    sum_g2(&ptrs)
}

pub(crate) fn sum_g2(ptrs: &[*const blst_p2_affine]) -> Signature {
    let sum = sum_g2_projective(ptrs);
    let mut aff = blst_p2_affine::default();
    // SAFETY: valid pointers.
    unsafe { blst_p2_to_affine(&mut aff, &sum) };
    Signature { point: aff }
}

pub(crate) fn sum_g2_projective(ptrs: &[*const blst_p2_affine]) -> blst_p2 {
    let mut sum = blst_p2::default();
    if !ptrs.is_empty() {
        // SAFETY: every pointer refers to a live affine point for the duration of the call.
        unsafe { blst_p2s_add(&mut sum, ptrs.as_ptr(), ptrs.len()) };
    }
    sum
}

// ---------------------------------------------------------------------------------------------
// Hashing and pairing

pub(crate) fn hash_to_g2(msg: &[u8]) -> blst_p2 {
    let mut h = blst_p2::default();
    // SAFETY: pointers to live buffers of the stated lengths.
    unsafe {
        blst_hash_to_g2(
            &mut h,
            msg.as_ptr(),
            msg.len(),
            DST.as_ptr(),
            DST.len(),
            ptr::null(),
            0,
        )
    };
    h
}

/// A message hashed to G2 once, with the Miller-loop lines of the hash precomputed, so that
/// repeated checks on one message (bisection) pay for neither again.
pub struct PreparedMessage {
    lines: Box<[blst_fp6; 68]>,
}

impl PreparedMessage {
    pub fn new(digest: &[u8]) -> Self {
        let h = hash_to_g2(digest);
        let mut h_aff = blst_p2_affine::default();
        let mut lines = Box::new([blst_fp6::default(); 68]);
        // SAFETY: valid pointers; `lines` has the 68 entries blst writes.
        unsafe {
            blst_p2_to_affine(&mut h_aff, &h);
            blst_precompute_lines(lines.as_mut_ptr(), &h_aff);
        }
        Self { lines }
    }

    /// e(pk, H(m)) == e(g1, sig). Callers have already excluded infinity and checked `sig`'s
    /// subgroup; an infinity `pk` is rejected here.
    pub(crate) fn pairing_check(&self, pk: &blst_p1_affine, sig: &blst_p2_affine) -> bool {
        let mut lhs = blst_fp12::default();
        let mut rhs = blst_fp12::default();
        // SAFETY: valid pointers; lines were filled by `blst_precompute_lines`.
        unsafe {
            if blst_p1_affine_is_inf(pk) || blst_p2_affine_is_inf(sig) {
                return false;
            }
            blst_miller_loop_lines(&mut lhs, self.lines.as_ptr(), pk);
            blst_miller_loop(&mut rhs, sig, blst_p1_affine_generator());
            blst_fp12_finalverify(&lhs, &rhs)
        }
    }

    /// `e(pk, H(m)) · e(g1, sig)⁻¹` after final exponentiation: 1 iff the pair verifies, and
    /// multiplicative over sums of G1/G2 points (bisection derives halves from it).
    pub(crate) fn defect(&self, pk: &blst_p1_affine, sig: &blst_p2_affine) -> blst_fp12 {
        let mut lhs = blst_fp12::default();
        let mut rhs = blst_fp12::default();
        let mut prod = blst_fp12::default();
        let mut out = blst_fp12::default();
        // SAFETY: valid pointers; lines were filled by `blst_precompute_lines`.
        unsafe {
            blst_miller_loop_lines(&mut lhs, self.lines.as_ptr(), pk);
            blst_miller_loop(&mut rhs, sig, blst_p1_affine_generator());
            blst_fp12_conjugate(&mut rhs);
            blst_fp12_mul(&mut prod, &lhs, &rhs);
            blst_final_exp(&mut out, &prod);
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Proof of possession (key registration)

/// Signs the registration digest of `messages::registration_digest`.
pub fn pop_prove(sk: &SecretKey, chain_id: &str, operator: Address) -> Signature {
    sk.sign(&messages::registration_digest(chain_id, operator))
}

pub fn pop_verify(
    pk: &PublicKey,
    chain_id: &str,
    operator: Address,
    sig: &Signature,
) -> Result<(), BlsError> {
    pk.verify(&messages::registration_digest(chain_id, operator), sig)
}

// ---------------------------------------------------------------------------------------------
// EIP-2537 encodings. G1: 16 zero bytes + 48-byte x, then the same for y. G2: x.c0, x.c1, y.c0,
// y.c1, each padded to 64. blst's uncompressed (ZCash) format orders Fp2 as c1 then c0 and uses
// the top three bits of the first byte as flags; infinity is all zeros in EIP-2537.

fn pad_fp(out: &mut [u8], fp48: &[u8]) {
    out[..16].fill(0);
    out[16..64].copy_from_slice(fp48);
}

/// Strips EIP-2537 padding; a field element must have 16 zero bytes and, since p < 2^381, its top
/// three bits clear (blst itself rejects the rest of the range p..2^381).
fn unpad_fp(chunk: &[u8]) -> Result<&[u8], BlsError> {
    if chunk[..16].iter().any(|&b| b != 0) || chunk[16] & 0xe0 != 0 {
        return Err(BlsError::NotCanonical);
    }
    Ok(&chunk[16..64])
}

fn g1_to_eip2537(p: &blst_p1_affine) -> [u8; EIP2537_G1_LEN] {
    let mut out = [0u8; EIP2537_G1_LEN];
    // SAFETY: valid pointer.
    if unsafe { blst_p1_affine_is_inf(p) } {
        return out;
    }
    let mut ser = [0u8; 96];
    // SAFETY: 96 writable bytes.
    unsafe { blst_p1_affine_serialize(ser.as_mut_ptr(), p) };
    pad_fp(&mut out[0..64], &ser[0..48]);
    pad_fp(&mut out[64..128], &ser[48..96]);
    out
}

pub(crate) fn g1_from_eip2537(bytes: &[u8]) -> Result<blst_p1_affine, BlsError> {
    if bytes.len() != EIP2537_G1_LEN {
        return Err(BlsError::InvalidLength {
            expected: "128",
            got: bytes.len(),
        });
    }
    let mut point = blst_p1_affine::default();
    if bytes.iter().all(|&b| b == 0) {
        return Ok(point);
    }
    let mut ser = [0u8; 96];
    ser[0..48].copy_from_slice(unpad_fp(&bytes[0..64])?);
    ser[48..96].copy_from_slice(unpad_fp(&bytes[64..128])?);
    // SAFETY: 96 readable bytes.
    let err = unsafe { blst_p1_deserialize(&mut point, ser.as_ptr()) };
    if err != BLST_ERROR::BLST_SUCCESS {
        return Err(from_blst(err));
    }
    Ok(point)
}

fn g2_to_eip2537(p: &blst_p2_affine) -> [u8; EIP2537_G2_LEN] {
    let mut out = [0u8; EIP2537_G2_LEN];
    // SAFETY: valid pointer.
    if unsafe { blst_p2_affine_is_inf(p) } {
        return out;
    }
    let mut ser = [0u8; 192];
    // SAFETY: 192 writable bytes.
    unsafe { blst_p2_affine_serialize(ser.as_mut_ptr(), p) };
    // ser = x.c1 | x.c0 | y.c1 | y.c0
    pad_fp(&mut out[0..64], &ser[48..96]);
    pad_fp(&mut out[64..128], &ser[0..48]);
    pad_fp(&mut out[128..192], &ser[144..192]);
    pad_fp(&mut out[192..256], &ser[96..144]);
    out
}

pub(crate) fn g2_from_eip2537(bytes: &[u8]) -> Result<blst_p2_affine, BlsError> {
    if bytes.len() != EIP2537_G2_LEN {
        return Err(BlsError::InvalidLength {
            expected: "256",
            got: bytes.len(),
        });
    }
    let mut point = blst_p2_affine::default();
    if bytes.iter().all(|&b| b == 0) {
        return Ok(point);
    }
    let mut ser = [0u8; 192];
    ser[48..96].copy_from_slice(unpad_fp(&bytes[0..64])?);
    ser[0..48].copy_from_slice(unpad_fp(&bytes[64..128])?);
    ser[144..192].copy_from_slice(unpad_fp(&bytes[128..192])?);
    ser[96..144].copy_from_slice(unpad_fp(&bytes[192..256])?);
    // SAFETY: 192 readable bytes.
    let err = unsafe { blst_p2_deserialize(&mut point, ser.as_ptr()) };
    if err != BLST_ERROR::BLST_SUCCESS {
        return Err(from_blst(err));
    }
    Ok(point)
}

#[cfg(test)]
pub(crate) mod tests;
