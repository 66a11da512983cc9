//! Passphrases, PINs and cards: from the environment, else a prompt on a terminal, else an error.
//! The node passphrase is read by the node itself (`$CARELOG_NODE_PASSPHRASE`,
//! `$CARELOG_NODE_PASSPHRASE_FILE`, else the OS keyring).

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

/// The health authority's passphrase: $CARELOG_AUTHORITY_PASSPHRASE, else a prompt (twice when
/// it is new).
pub fn authority_passphrase(new: bool) -> Result<String, Failure> {
    let prompt = if new {
        "New passphrase for the health authority's key: "
    } else {
        "Passphrase of the health authority's key: "
    };
    from_env_or_prompt(carelog_node::AUTHORITY_PASSPHRASE_VAR, prompt, new)
}

/// The patient's card from $CARELOG_CARD (the content of its QR code), if set.
pub fn card() -> Result<Option<carelog_node::Card>, Failure> {
    match std::env::var("CARELOG_CARD") {
        Ok(text) if !text.trim().is_empty() => Ok(Some(carelog_node::Card::parse(&text)?)),
        _ => Ok(None),
    }
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
