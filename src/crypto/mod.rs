//! BLS12-381 (blst, `min_pk`: public keys in G1, signatures in G2), the exact bytes that are
//! signed, and keystores. Pure: no I/O beyond what a keystore file read hands in.
