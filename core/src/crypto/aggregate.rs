//! The aggregator's fast path: many signatures on ONE message, public keys validated once.
//!
//! Honest case: sum the signatures (batched affine addition), sum the keys, check the SUM is in
//! G2, hash the message once, one pairing check. Per signature the aggregator pays only the
//! on-curve check of decoding (`Signature::from_bytes` on the 192-byte uncompressed form: no
//! square root, no subgroup check). If the aggregate fails, bisection isolates the bad ones.
//!
//! # Why skipping the per-signature subgroup check is sound
//! The curve group E'(Fp2) that signatures live on is G2 ⊕ T, with G2 of prime order r and T the
//! cofactor part (gcd(r, h2) = 1). Every decoded signature splits uniquely as `s_i = σ_i + t_i`
//! with `σ_i ∈ G2`, `t_i ∈ T`. The sum `S = Σσ_i + Σt_i` is in G2 exactly when `Σt_i = 0`, and
//! then `S = Σσ_i`. We accept a set only if (1) `S ∈ G2` and (2) `e(Σpk_i, H(m)) = e(g1, S)`.
//! So an accepted set is one whose G2 projections form a valid aggregate signature, and the
//! aggregate we hand on (`S`) is a G2 point — exactly what full per-signature checking would have
//! accepted for the same aggregate. In particular a single signature with a torsion component
//! (`t_i ≠ 0`) can never make an aggregate pass, since honest signatures have `t_j = 0` and the
//! sum's torsion part is then `t_i ≠ 0`. Torsion can only cancel between signatures that one
//! adversary controls, and then the outcome is the same as if it had sent the projections — the
//! same freedom any set of colluding signers already has (they can shift `σ_i + X`, `σ_j − X`),
//! which aggregate verification never excludes. It cannot frame an honest signer: the accepted
//! aggregate still proves `Σ sk_i·H(m) = S` (with keys registered under proof of possession, so
//! no rogue-key cancellation either). Subsets checked during bisection obey the same argument, and
//! a union of accepted subsets is accepted (sums of G2 points satisfying (2) satisfy (2)).
//!
//! Bisection: if a set fails, check its left half; if the left half passes, the right half is
//! known to fail (their sum failed) and is split without being checked. For one bad signature in
//! N that is about log2(N) pairing checks, each reusing the message hash and its precomputed
//! Miller-loop lines.

use blst::{
    blst_fp12, blst_fp12_conjugate, blst_fp12_is_one, blst_fp12_mul, blst_p1,
    blst_p1_add_or_double, blst_p1_affine, blst_p1_cneg, blst_p1_is_inf, blst_p2,
    blst_p2_add_or_double, blst_p2_affine, blst_p2_cneg, blst_p2_in_g2, blst_p2_is_inf,
    blst_p2_to_affine,
};

use super::bls::{
    AggregatePublicKey, PreparedMessage, PublicKey, Signature, aggregate_public_keys, sum_g1,
    sum_g2, sum_g2_projective,
};

/// What the fast path decided. Indices refer to the caller's `items`.
#[derive(Debug, Clone)]
pub struct AggregateOutcome {
    /// Indices whose signatures are accepted (ascending).
    pub valid: Vec<usize>,
    /// Indices rejected (ascending): invalid signature, infinity, or outside the subgroup.
    pub invalid: Vec<usize>,
    /// Aggregate of the valid signatures (a G2 point); `None` when nothing is valid.
    pub signature: Option<Signature>,
    /// Aggregate of the valid signers' keys; `None` when nothing is valid.
    pub public_key: Option<AggregatePublicKey>,
    /// Pairing checks spent (1 when everything was valid).
    pub pairing_checks: usize,
}

/// Aggregate-then-verify with bisection on failure. `items` are (validated, cached) keys and
/// decoded (unchecked-subgroup) signatures, all over the message `prepared` was made from.
pub fn verify_aggregate(
    prepared: &PreparedMessage,
    items: &[(PublicKey, Signature)],
) -> AggregateOutcome {
    let mut v = Verifier {
        prepared,
        items,
        valid: Vec::new(),
        invalid: Vec::new(),
        checks: 0,
    };
    // An infinity signature is never valid for a (non-infinity) key; drop it before summing so
    // a batch full of them does not cost a bisection.
    let candidates: Vec<usize> = (0..items.len())
        .filter(|&i| {
            let inf = items[i].1.is_infinity();
            if inf {
                v.invalid.push(i);
            }
            !inf
        })
        .collect();
    if !candidates.is_empty() {
        let (s, apk) = v.sums(&candidates);
        let verdict = v.evaluate(&s, &apk);
        v.solve(&candidates, s, apk, verdict);
    }
    v.finish()
}

/// Convenience: `verify_aggregate` for a 32-byte digest.
pub fn verify_aggregate_digest(
    digest: &[u8; 32],
    items: &[(PublicKey, Signature)],
) -> AggregateOutcome {
    verify_aggregate(&PreparedMessage::new(digest), items)
}

struct Verifier<'a> {
    prepared: &'a PreparedMessage,
    items: &'a [(PublicKey, Signature)],
    valid: Vec<usize>,
    invalid: Vec<usize>,
    checks: usize,
}

/// Verdict on a set. `Invalid(Some(d))` carries the set's defect `d = e(apk, H)·e(g1, S)⁻¹` (after
/// final exponentiation; 1 iff valid), known only when `S ∈ G2` — bilinearity, and so
/// `d_parent = d_left · d_right`, holds only there.
// The defect is 576 bytes; verdicts live on the stack of a shallow recursion, so boxing buys nothing.
#[allow(clippy::large_enum_variant)]
enum Verdict {
    Valid,
    Invalid(Option<blst_fp12>),
}

fn neg_p2(p: &blst_p2) -> blst_p2 {
    let mut n = *p;
    // SAFETY: valid pointer.
    unsafe { blst_p2_cneg(&mut n, true) };
    n
}

fn neg_p1(p: &blst_p1) -> blst_p1 {
    let mut n = *p;
    // SAFETY: valid pointer.
    unsafe { blst_p1_cneg(&mut n, true) };
    n
}

impl Verifier<'_> {
    fn sums(&self, set: &[usize]) -> (blst_p2, blst_p1) {
        let sig_ptrs: Vec<*const blst_p2_affine> = set
            .iter()
            .map(|&i| &self.items[i].1.point as *const _)
            .collect();
        let pk_ptrs: Vec<*const blst_p1_affine> = set
            .iter()
            .map(|&i| self.items[i].0.point() as *const _)
            .collect();
        (sum_g2_projective(&sig_ptrs), sum_g1(&pk_ptrs).point)
    }

    /// One subgroup check and (if that passes) one pairing.
    fn evaluate(&mut self, s: &blst_p2, apk: &blst_p1) -> Verdict {
        // SAFETY: valid pointers.
        unsafe {
            if !blst_p2_in_g2(s) {
                return Verdict::Invalid(None);
            }
            if blst_p2_is_inf(s) || blst_p1_is_inf(apk) {
                // Not checkable by the pairing shortcut; leaves decide.
                return Verdict::Invalid(None);
            }
        }
        self.checks += 1;
        let apk_aff = AggregatePublicKey { point: *apk }.affine();
        let mut s_aff = blst_p2_affine::default();
        // SAFETY: valid pointers.
        unsafe { blst_p2_to_affine(&mut s_aff, s) };
        let d = self.prepared.defect(&apk_aff, &s_aff);
        // SAFETY: valid pointer.
        if unsafe { blst_fp12_is_one(&d) } {
            Verdict::Valid
        } else {
            Verdict::Invalid(Some(d))
        }
    }

    /// Sorts `set` (whose sums are `s`, `apk` and whose verdict is `verdict`) into valid/invalid.
    fn solve(&mut self, set: &[usize], s: blst_p2, apk: blst_p1, verdict: Verdict) {
        let parent_defect = match verdict {
            Verdict::Valid => {
                self.valid.extend_from_slice(set);
                return;
            }
            Verdict::Invalid(d) => d,
        };
        if set.len() == 1 {
            self.invalid.push(set[0]);
            return;
        }
        let (left, right) = set.split_at(set.len() / 2);
        let (s_l, apk_l) = self.sums(left);
        let mut s_r = blst_p2::default();
        let mut apk_r = blst_p1::default();
        // SAFETY: valid pointers.
        unsafe {
            blst_p2_add_or_double(&mut s_r, &s, &neg_p2(&s_l));
            blst_p1_add_or_double(&mut apk_r, &apk, &neg_p1(&apk_l));
        }
        let v_l = self.evaluate(&s_l, &apk_l);
        // The right half's defect is the parent's divided by the left's (GT elements after the
        // final exponentiation are unitary: inverse = conjugate), when both are known and
        // S_right ∈ G2; otherwise it costs its own pairing.
        let left_defect = match &v_l {
            Verdict::Valid => Some(None),
            Verdict::Invalid(Some(d)) => Some(Some(*d)),
            Verdict::Invalid(None) => None,
        };
        // SAFETY: valid pointer.
        let r_in_g2 = unsafe { blst_p2_in_g2(&s_r) };
        let v_r = match (parent_defect, left_defect) {
            (_, _) if !r_in_g2 => Verdict::Invalid(None),
            (Some(dp), Some(dl)) => {
                let d_r = match dl {
                    None => dp,
                    Some(mut dl) => {
                        let mut out = blst_fp12::default();
                        // SAFETY: valid pointers.
                        unsafe {
                            blst_fp12_conjugate(&mut dl);
                            blst_fp12_mul(&mut out, &dp, &dl);
                        }
                        out
                    }
                };
                // SAFETY: valid pointer.
                if unsafe { blst_fp12_is_one(&d_r) } {
                    Verdict::Valid
                } else {
                    Verdict::Invalid(Some(d_r))
                }
            }
            _ => self.evaluate(&s_r, &apk_r),
        };
        self.solve(left, s_l, apk_l, v_l);
        self.solve(right, s_r, apk_r, v_r);
    }

    fn finish(mut self) -> AggregateOutcome {
        self.valid.sort_unstable();
        self.invalid.sort_unstable();
        let (signature, public_key) = if self.valid.is_empty() {
            (None, None)
        } else {
            let sig_ptrs: Vec<*const blst_p2_affine> = self
                .valid
                .iter()
                .map(|&i| &self.items[i].1.point as *const _)
                .collect();
            let pk_ptrs: Vec<*const blst_p1_affine> = self
                .valid
                .iter()
                .map(|&i| self.items[i].0.point() as *const _)
                .collect();
            (Some(sum_g2(&sig_ptrs)), Some(sum_g1(&pk_ptrs)))
        };
        AggregateOutcome {
            valid: self.valid,
            invalid: self.invalid,
            signature,
            public_key,
            pairing_checks: self.checks,
        }
    }
}

/// The baseline most AVS aggregators use: verify every signature fully (subgroup check and one
/// pairing each), then aggregate the good ones. Kept for the benches and as a test oracle, so
/// it is compiled only for tests and under the `bench` feature: not public API.
#[cfg(any(test, feature = "bench"))]
#[doc(hidden)]
pub fn verify_each_then_aggregate(
    prepared: &PreparedMessage,
    items: &[(PublicKey, Signature)],
) -> AggregateOutcome {
    let mut valid = Vec::new();
    let mut invalid = Vec::new();
    for (i, (pk, sig)) in items.iter().enumerate() {
        let ok = !sig.is_infinity()
            && sig.in_subgroup()
            && prepared.pairing_check(pk.point(), &sig.point);
        if ok { valid.push(i) } else { invalid.push(i) }
    }
    let checks = items.len();
    let (signature, public_key) = if valid.is_empty() {
        (None, None)
    } else {
        let sigs: Vec<Signature> = valid.iter().map(|&i| items[i].1).collect();
        let pks: Vec<PublicKey> = valid.iter().map(|&i| items[i].0).collect();
        (
            Some(super::bls::aggregate_signatures(&sigs)),
            Some(aggregate_public_keys(&pks)),
        )
    };
    AggregateOutcome {
        valid,
        invalid,
        signature,
        public_key,
        pairing_checks: checks,
    }
}

/// The sum of all registered keys of an AVS, kept so that the signers' aggregate key is
/// `total − Σ non-signers` (cheap when most operators sign).
#[derive(Debug, Clone, Copy)]
pub struct ApkCache {
    total: AggregatePublicKey,
    count: usize,
}

impl ApkCache {
    pub fn new(pks: &[PublicKey]) -> Self {
        Self {
            total: aggregate_public_keys(pks),
            count: pks.len(),
        }
    }

    pub fn total(&self) -> AggregatePublicKey {
        self.total
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Registers one more key.
    pub fn insert(&mut self, pk: &PublicKey) {
        self.total.add(pk);
        self.count += 1;
    }

    /// Removes a key that was inserted before (deregistration).
    pub fn remove(&mut self, pk: &PublicKey) {
        self.total.sub(pk);
        self.count = self.count.saturating_sub(1);
    }

    /// Aggregate key of everyone except `non_signers` (which must be members).
    pub fn minus(&self, non_signers: &[PublicKey]) -> AggregatePublicKey {
        if non_signers.is_empty() {
            return self.total;
        }
        let mut neg: blst_p1 = aggregate_public_keys(non_signers).point;
        let mut out = blst_p1::default();
        // SAFETY: valid pointers.
        unsafe {
            blst_p1_cneg(&mut neg, true);
            blst_p1_add_or_double(&mut out, &self.total.point, &neg);
        }
        AggregatePublicKey { point: out }
    }
}

#[cfg(test)]
mod tests;

/// Random-linear-combination batch verification of same-message signatures:
/// `e(Σ rᵢ·pkᵢ, H(m)) = e(g1, Σ rᵢ·sᵢ)` with 64-bit random `rᵢ` from the caller's RNG. It answers
/// only "all valid?" and, unlike plain summation, needs every signature's subgroup check (random
/// scalars do not annihilate small-order torsion), plus two multi-scalar multiplications. Kept to
/// measure against `verify_aggregate` (benches/aggregation.rs); the aggregator does not use it,
/// so it is compiled only for tests and under the `bench` feature: not public API.
#[cfg(any(test, feature = "bench"))]
#[doc(hidden)]
pub fn batch_verify_rlc<R: rand::RngCore + ?Sized>(
    prepared: &PreparedMessage,
    items: &[(PublicKey, Signature)],
    rng: &mut R,
) -> bool {
    use blst::{
        blst_p1_affine, blst_p1s_mult_pippenger, blst_p1s_mult_pippenger_scratch_sizeof, blst_p2,
        blst_p2_to_affine, blst_p2s_mult_pippenger, blst_p2s_mult_pippenger_scratch_sizeof, limb_t,
    };
    if items.is_empty() {
        return false;
    }
    if items
        .iter()
        .any(|(_, s)| s.is_infinity() || !s.in_subgroup())
    {
        return false;
    }
    let scalars: Vec<[u8; 8]> = items
        .iter()
        .map(|_| {
            let mut r = rng.next_u64();
            if r == 0 {
                r = 1;
            }
            r.to_le_bytes()
        })
        .collect();
    let scalar_ptrs: Vec<*const u8> = scalars.iter().map(|s| s.as_ptr()).collect();
    let sig_ptrs: Vec<*const blst_p2_affine> =
        items.iter().map(|(_, s)| &s.point as *const _).collect();
    let pk_ptrs: Vec<*const blst_p1_affine> =
        items.iter().map(|(p, _)| p.point() as *const _).collect();
    let n = items.len();
    let limb = std::mem::size_of::<limb_t>();
    let mut s = blst_p2::default();
    let mut p = blst_p1::default();
    let mut s_aff = blst_p2_affine::default();
    // SAFETY: pointer arrays of length n to live points/scalars; scratch sized as blst asks.
    unsafe {
        let mut scratch2 = vec![0 as limb_t; blst_p2s_mult_pippenger_scratch_sizeof(n) / limb + 1];
        blst_p2s_mult_pippenger(
            &mut s,
            sig_ptrs.as_ptr(),
            n,
            scalar_ptrs.as_ptr(),
            64,
            scratch2.as_mut_ptr(),
        );
        let mut scratch1 = vec![0 as limb_t; blst_p1s_mult_pippenger_scratch_sizeof(n) / limb + 1];
        blst_p1s_mult_pippenger(
            &mut p,
            pk_ptrs.as_ptr(),
            n,
            scalar_ptrs.as_ptr(),
            64,
            scratch1.as_mut_ptr(),
        );
        blst_p2_to_affine(&mut s_aff, &s);
    }
    let apk = AggregatePublicKey { point: p };
    prepared.pairing_check(&apk.affine(), &s_aff)
}
