//! Password hashes for `/etc/shadow` (`--root-password`, `--password`): glibc's SHA-512 crypt
//! (`$6$`) as virt-customize writes them, with a random 16-character salt; and virt-customize's
//! random passwords.

use sha_crypt::{CustomizedPasswordHasher, Params, PasswordVerifier, ShaCrypt};

/// Characters of random passwords (virt-customize's set: letters and digits).
const PASSWORD_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// Random bytes from the operating system.
fn random_bytes(n: usize) -> Result<Vec<u8>, super::Error> {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).map_err(|e| super::Error::Unsupported(format!("no random numbers from the operating system: {e}")))?;
    Ok(buf)
}

/// The `$6$SALT$HASH` SHA-512 crypt of `password` with a random salt.
pub fn sha512_crypt(password: &str) -> Result<String, super::Error> {
    // 12 random bytes are 16 salt characters once encoded, glibc's maximum
    sha512_crypt_with_salt(password, &random_bytes(12)?)
}

/// The SHA-512 crypt of `password` with `salt` (raw bytes; encoded into the hash string).
pub fn sha512_crypt_with_salt(password: &str, salt: &[u8]) -> Result<String, super::Error> {
    let hash = ShaCrypt::SHA512
        .hash_password_customized(password.as_bytes(), salt, None, None, Params::RECOMMENDED)
        .map_err(|e| super::Error::Unsupported(format!("SHA-512 crypt: {e}")))?;
    // glibc omits the default `rounds=5000$`; both spellings verify the same password
    Ok(hash.to_string().replacen("$rounds=5000$", "$", 1))
}

/// The most SHA-crypt rounds a hash from an image is checked with (glibc's default is 5,000;
/// a hostile `rounds=999999999` would take minutes per guess).
const MAX_VERIFY_ROUNDS: u64 = 100_000;

/// Which of `guesses` the `$5$`/`$6$` crypt `hash` is the hash of. `Err` with the reason when
/// the hash cannot be checked here (another scheme such as yescrypt `$y$`, too many rounds,
/// malformed).
pub fn guess<'a>(hash: &str, guesses: &[&'a str]) -> Result<Option<&'a str>, String> {
    let scheme = hash.split('$').nth(1).unwrap_or_default();
    if !matches!(scheme, "5" | "6") {
        return Err(format!("hash scheme ${scheme}$ is not checked"));
    }
    if let Some(r) = hash.split('$').nth(2).and_then(|f| f.strip_prefix("rounds=")) {
        if r.parse::<u64>().map_or(true, |r| r > MAX_VERIFY_ROUNDS) {
            return Err(format!("{r} rounds are not checked"));
        }
    }
    for g in guesses {
        match ShaCrypt::default().verify_password(g.as_bytes(), hash) {
            Ok(()) => return Ok(Some(g)),
            Err(sha_crypt::password_hash::Error::PasswordInvalid) => {}
            Err(e) => return Err(format!("malformed hash ({e})")),
        }
    }
    Ok(None)
}

/// A random 16-character password of letters and digits.
pub fn random_password() -> Result<String, super::Error> {
    let mut out = String::with_capacity(16);
    // rejection sampling keeps the choice uniform over the 62 characters
    while out.len() < 16 {
        for b in random_bytes(32)? {
            if (b as usize) < 62 * 4 && out.len() < 16 {
                out.push(PASSWORD_CHARS[b as usize % 62] as char);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_have_glibc_form() {
        let h = sha512_crypt("secret").unwrap();
        let parts: Vec<&str> = h.split('$').collect();
        assert_eq!(parts[..2], ["", "6"]);
        assert_eq!(parts[2].len(), 16);
        assert_eq!(parts[3].len(), 86);
        assert_ne!(sha512_crypt("secret").unwrap(), h, "salts are random");
    }

    #[test]
    fn random_passwords() {
        let p = random_password().unwrap();
        assert_eq!(p.len(), 16);
        assert!(p.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(random_password().unwrap(), p);
    }
}
