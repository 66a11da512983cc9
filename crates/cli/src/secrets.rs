//! Passphrases: from the environment, else a prompt on a terminal, else an error.

use std::io::IsTerminal;

use crate::Failure;

/// The acting user's passphrase: $CARELOG_PASSPHRASE, else a prompt.
pub fn passphrase(who: &str) -> Result<String, Failure> {
    from_env_or_prompt(
        "CARELOG_PASSPHRASE",
        &format!("Passphrase for {who}: "),
        false,
    )
}

/// A new user's passphrase or a patient's PIN: $CARELOG_NEW_PASSPHRASE, else a prompt (twice).
pub fn new_passphrase(what: &str) -> Result<String, Failure> {
    from_env_or_prompt("CARELOG_NEW_PASSPHRASE", &format!("New {what}: "), true)
}

fn from_env_or_prompt(var: &str, prompt: &str, confirm: bool) -> Result<String, Failure> {
    if let Ok(value) = std::env::var(var) {
        return Ok(value);
    }
    if !std::io::stdin().is_terminal() {
        return Err(format!("no passphrase: set ${var} or run on a terminal").into());
    }
    let first = rpassword::prompt_password(prompt)?;
    if confirm {
        let again = rpassword::prompt_password("Again: ")?;
        if again != first {
            return Err("the two entries differ; nothing was changed".into());
        }
    }
    Ok(first)
}
