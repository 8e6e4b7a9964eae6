//! `exoavs keys`: BLS keys in EIP-2335 keystores. Passwords come from a file or the
//! environment, never from a flag (flags end up in shell history and `ps`).

use crate::crypto::bls::SecretKey;
use crate::crypto::keystore::{EncryptParams, Kdf, Keystore, import_imua_sdk_key};
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};

/// Environment variable holding a keystore password.
pub const PASSWORD_ENV: &str = "EXOAVS_KEY_PASSWORD";

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

/// Decrypt the keystore at `path`.
pub fn load_bls_key(path: &Path, password_file: Option<&Path>) -> anyhow::Result<SecretKey> {
    let json = std::fs::read_to_string(path)
        .with_context(|| format!("reading keystore {}", path.display()))?;
    let ks = Keystore::from_json(&json).with_context(|| format!("keystore {}", path.display()))?;
    let pw = password_from(password_file)?;
    ks.decrypt(&pw)
        .with_context(|| format!("decrypting {}", path.display()))
}

fn write_new(out: &Path, json: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(out)
        .with_context(|| format!("creating {} (it must not exist yet)", out.display()))?;
    f.write_all(json.as_bytes())?;
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
