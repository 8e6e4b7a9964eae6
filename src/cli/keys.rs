//! `exoavs keys`: BLS keys in EIP-2335 keystores and the ECDSA chain keys of every role in
//! Ethereum v3 keystores (scrypt; alloy's `LocalSigner` keystore support). Passwords come from a
//! file or the environment, never from a flag (flags end up in shell history and `ps`). Every
//! file written here is created 0600 and fsync'd with its directory.

use crate::crypto::bls::SecretKey;
use crate::crypto::keystore::{EncryptParams, Kdf, Keystore, check_v3_kdf, import_imua_sdk_key};
use alloy::signers::local::PrivateKeySigner;
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};

/// Environment variable holding a keystore password.
pub const PASSWORD_ENV: &str = "EXOAVS_KEY_PASSWORD";
/// Environment variable holding the password of an ECDSA (v3) keystore.
pub const ECDSA_PASSWORD_ENV: &str = "EXOAVS_ECDSA_PASSWORD";

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a new random BLS key and write it as an EIP-2335 keystore.
    New {
        /// Where to write the keystore (refuses to overwrite).
        #[arg(long, short)]
        out: PathBuf,
        #[command(flatten)]
        password: PasswordArgs,
        /// Cheap scrypt parameters (n = 1024): for throwaway devnet keys only.
        #[arg(long)]
        insecure_fast_kdf: bool,
    },
    /// Print a keystore's public key (48-byte compressed and EIP-2537 forms).
    Show {
        keystore: PathBuf,
        /// Also decrypt it, to check the password.
        #[arg(long)]
        decrypt: bool,
        #[command(flatten)]
        password: PasswordArgs,
    },
    /// Convert a key file of the Imua AVS SDK (hello-world-avs) into an EIP-2335 keystore.
    ImportImua {
        /// The SDK's key file (`{"pubKey": …, "crypto": …}`), encrypted with the same password.
        file: PathBuf,
        #[arg(long, short)]
        out: PathBuf,
        #[command(flatten)]
        password: PasswordArgs,
    },
    /// Create a new random ECDSA chain key in an Ethereum v3 keystore (scrypt); prints its address.
    NewEcdsa {
        /// Where to write the keystore (refuses to overwrite).
        #[arg(long, short)]
        out: PathBuf,
        #[command(flatten)]
        password: EcdsaPasswordArgs,
    },
    /// Encrypt an existing hex ECDSA private key into an Ethereum v3 keystore.
    ImportEcdsa {
        /// File holding the hex private key (delete it afterwards).
        #[arg(long)]
        key_file: PathBuf,
        #[arg(long, short)]
        out: PathBuf,
        #[command(flatten)]
        password: EcdsaPasswordArgs,
    },
}

#[derive(Debug, Args, Clone)]
pub struct EcdsaPasswordArgs {
    /// File whose first line is the keystore password (else EXOAVS_ECDSA_PASSWORD).
    #[arg(long)]
    pub password_file: Option<PathBuf>,
}

#[derive(Debug, Args, Clone)]
pub struct PasswordArgs {
    /// File whose first line is the keystore password (else EXOAVS_KEY_PASSWORD).
    #[arg(long)]
    pub password_file: Option<PathBuf>,
}

/// The password from `--password-file`, or the environment.
pub fn password(args: &PasswordArgs) -> anyhow::Result<String> {
    password_from(args.password_file.as_deref())
}

pub fn password_from(file: Option<&Path>) -> anyhow::Result<String> {
    if let Some(f) = file {
        let text = std::fs::read_to_string(f)
            .with_context(|| format!("reading password file {}", f.display()))?;
        return Ok(text.lines().next().unwrap_or_default().to_owned());
    }
    match std::env::var(PASSWORD_ENV) {
        Ok(p) => Ok(p),
        Err(_) => bail!("no keystore password: pass --password-file or set {PASSWORD_ENV}"),
    }
}

fn first_line_or_env(file: Option<&Path>, env: &str, flag: &str) -> anyhow::Result<String> {
    if let Some(f) = file {
        let text = std::fs::read_to_string(f)
            .with_context(|| format!("reading password file {}", f.display()))?;
        return Ok(text.lines().next().unwrap_or_default().to_owned());
    }
    std::env::var(env)
        .map_err(|_| anyhow::anyhow!("no keystore password: pass {flag} or set {env}"))
}

/// Decrypt the v3 ECDSA keystore at `path`. Its KDF parameters are checked first
/// ([`check_v3_kdf`]): alloy's decrypter would run any scrypt cost the file asks for.
pub fn load_ecdsa_keystore(
    path: &Path,
    password_file: Option<&Path>,
) -> anyhow::Result<PrivateKeySigner> {
    let json = std::fs::read_to_string(path)
        .with_context(|| format!("reading ECDSA keystore {}", path.display()))?;
    check_v3_kdf(&json).with_context(|| format!("ECDSA keystore {}", path.display()))?;
    let pw = first_line_or_env(password_file, ECDSA_PASSWORD_ENV, "--ecdsa-password-file")?;
    PrivateKeySigner::decrypt_keystore(path, pw).with_context(|| {
        format!(
            "decrypting ECDSA keystore {} (wrong password?)",
            path.display()
        )
    })
}

/// Writes `signer` as a v3 keystore at `out` (0600, fsync'd, never overwriting). alloy writes the
/// file itself with the process umask, so it writes into a private (0700) temporary directory
/// and the bytes are then copied into place by [`write_new`].
fn write_ecdsa_keystore(out: &Path, signer: &PrivateKeySigner, pw: &str) -> anyhow::Result<()> {
    let tmp = tempfile::Builder::new()
        .prefix(".exoavs-keystore")
        .tempdir()
        .context("creating a private temporary directory")?;
    PrivateKeySigner::encrypt_keystore(
        tmp.path(),
        &mut rand::rngs::OsRng,
        signer.to_bytes(),
        pw,
        Some("key.json"),
    )
    .context("encrypting the keystore")?;
    let json = std::fs::read_to_string(tmp.path().join("key.json"))?;
    write_new(out, &json)
}

/// Decrypt the keystore at `path`.
pub fn load_bls_key(path: &Path, password_file: Option<&Path>) -> anyhow::Result<SecretKey> {
    let json = std::fs::read_to_string(path)
        .with_context(|| format!("reading keystore {}", path.display()))?;
    let ks = Keystore::from_json(&json).with_context(|| format!("keystore {}", path.display()))?;
    let pw = password_from(password_file)?;
    ks.decrypt(&pw)
        .with_context(|| format!("decrypting {}", path.display()))
}

/// Creates `out` (it must not exist) readable by its owner only, writes `json`, and fsyncs the
/// file and then its directory, so the key survives a crash right after we report it written.
pub(crate) fn write_new(out: &Path, json: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts
        .open(out)
        .with_context(|| format!("creating {} (it must not exist yet)", out.display()))?;
    f.write_all(json.as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", out.display()))?;
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing directory {}", dir.display()))?;
    Ok(())
}

pub fn run(cmd: KeysCommand) -> anyhow::Result<()> {
    match cmd {
        KeysCommand::New {
            out,
            password: pw,
            insecure_fast_kdf,
        } => {
            let pw = password(&pw)?;
            let mut rng = rand::rngs::OsRng;
            let mut ikm = zeroize::Zeroizing::new([0u8; 32]);
            rand::RngCore::fill_bytes(&mut rng, ikm.as_mut());
            let sk = SecretKey::from_ikm(ikm.as_ref())?;
            let kdf = if insecure_fast_kdf {
                Kdf::SCRYPT_INSECURE_FAST
            } else {
                Kdf::SCRYPT_DEFAULT
            };
            let ks = Keystore::encrypt(
                &sk,
                &pw,
                &EncryptParams::from_rng(kdf, &mut rng),
                "",
                "exoavs operator BLS key",
            )?;
            write_new(&out, &ks.to_json())?;
            println!("wrote {}", out.display());
            println!("public key {}", hex::encode(sk.public_key().to_bytes()));
            Ok(())
        }
        KeysCommand::Show {
            keystore,
            decrypt,
            password: pw,
        } => {
            let json = std::fs::read_to_string(&keystore)
                .with_context(|| format!("reading {}", keystore.display()))?;
            let ks = Keystore::from_json(&json)?;
            let pk = if decrypt {
                let sk = ks.decrypt(&password(&pw)?)?;
                println!("password ok");
                Some(sk.public_key())
            } else {
                ks.public_key()?
            };
            match pk {
                Some(pk) => {
                    println!("public key  {}", hex::encode(pk.to_bytes()));
                    println!("eip-2537 G1 {}", hex::encode(pk.to_eip2537()));
                }
                None => println!("the keystore records no public key; use --decrypt"),
            }
            Ok(())
        }
        KeysCommand::NewEcdsa { out, password: pw } => {
            let pw = first_line_or_env(
                pw.password_file.as_deref(),
                ECDSA_PASSWORD_ENV,
                "--password-file",
            )?;
            let signer = PrivateKeySigner::random();
            write_ecdsa_keystore(&out, &signer, &pw)?;
            println!("wrote {}", out.display());
            println!("address {}", signer.address());
            Ok(())
        }
        KeysCommand::ImportEcdsa {
            key_file,
            out,
            password: pw,
        } => {
            let pw = first_line_or_env(
                pw.password_file.as_deref(),
                ECDSA_PASSWORD_ENV,
                "--password-file",
            )?;
            let text = zeroize::Zeroizing::new(
                std::fs::read_to_string(&key_file)
                    .with_context(|| format!("reading {}", key_file.display()))?,
            );
            let signer: PrivateKeySigner = text.trim().parse().with_context(|| {
                format!("{} is not a 32-byte hex private key", key_file.display())
            })?;
            write_ecdsa_keystore(&out, &signer, &pw)?;
            println!("wrote {}", out.display());
            println!("address {}", signer.address());
            Ok(())
        }
        KeysCommand::ImportImua {
            file,
            out,
            password: pw,
        } => {
            let pw = password(&pw)?;
            let json = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let sk = import_imua_sdk_key(&json, &pw)?;
            let ks = Keystore::encrypt(
                &sk,
                &pw,
                &EncryptParams::from_rng(Kdf::SCRYPT_DEFAULT, &mut rand::rngs::OsRng),
                "",
                "imported from the Imua AVS SDK",
            )?;
            write_new(&out, &ks.to_json())?;
            println!(
                "wrote {}; public key {}",
                out.display(),
                hex::encode(sk.public_key().to_bytes())
            );
            Ok(())
        }
    }
}
