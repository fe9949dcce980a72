//! `[admin]`: the operator's listener (admin API, web console, `/metrics`). Off unless
//! `listen` is set; every request on it needs an admin credential.

use super::*;

/// Scope that opens the admin API, the console and `/metrics`.
pub const ADMIN_SCOPE: &str = "portcullis:admin";

#[derive(Debug, Default, Deserialize)]
pub(super) struct RawAdmin {
    pub(super) listen: Option<String>,
    pub(super) session_ttl: Option<String>,
}

/// `[admin]`: where the operator's listener is, and how long a console sign-in lasts.
#[derive(Debug, Clone, PartialEq)]
pub struct AdminSettings {
    /// Address of the admin listener; `None` (the default) serves no admin surface at all.
    pub listen: Option<std::net::SocketAddr>,
    /// How long a console sign-in lasts (the key's own revocation or expiry ends it sooner).
    /// Default 8 h.
    pub session_ttl: Duration,
}

impl Default for AdminSettings {
    fn default() -> Self {
        AdminSettings {
            listen: None,
            session_ttl: Duration::from_secs(8 * 3600),
        }
    }
}

impl AdminSettings {
    /// Whether the listener accepts connections from other machines (worth a warning).
    pub fn is_exposed(&self) -> bool {
        self.listen.is_some_and(|a| !a.ip().is_loopback())
    }
}

pub(super) fn admin_settings(
    raw: RawAdmin,
    gateway: &GatewaySettings,
    p: &mut Problems<'_>,
) -> AdminSettings {
    let listen = raw
        .listen
        .and_then(|text| match text.parse::<std::net::SocketAddr>() {
            Ok(addr) => Some(addr),
            Err(_) => {
                p.add(
                    "admin.listen",
                    format!("`{text}` is not an address; write it like `127.0.0.1:9090`"),
                );
                None
            }
        });
    if let Some(addr) = listen
        && addr.port() != 0
        && gateway.listen.parse::<std::net::SocketAddr>().ok() == Some(addr)
    {
        p.add(
            "admin.listen",
            "is the address of `gateway.listen`; the admin listener needs its own port",
        );
    }
    let session_ttl = positive_duration(
        raw.session_ttl.as_deref(),
        "admin.session_ttl",
        AdminSettings::default().session_ttl,
        p,
    );
    AdminSettings {
        listen,
        session_ttl,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UPSTREAM: &str = "[upstreams.demo]\nkind = \"stdio\"\ncommand = \"x\"\n";

    #[test]
    fn the_admin_listener_is_off_by_default() {
        let config = Config::from_toml(UPSTREAM).unwrap();
        assert_eq!(config.admin, AdminSettings::default());
        assert!(config.admin.listen.is_none());
    }

    #[test]
    fn a_bad_address_or_the_gateways_own_is_refused_with_its_path() {
        for (listen, wanted) in [
            ("nowhere", "is not an address"),
            ("127.0.0.1:8080", "needs its own port"),
        ] {
            let text = format!("{UPSTREAM}[admin]\nlisten = \"{listen}\"\n");
            let e = Config::from_toml(&text).unwrap_err();
            assert_eq!(e.problems.len(), 1, "{e}");
            assert_eq!(e.problems[0].path, "admin.listen");
            assert!(e.problems[0].message.contains(wanted), "{e}");
        }
        let text = format!("{UPSTREAM}[admin]\nsession_ttl = \"0s\"\n");
        let e = Config::from_toml(&text).unwrap_err();
        assert_eq!(e.problems[0].path, "admin.session_ttl", "{e}");
    }

    #[test]
    fn a_listener_off_loopback_is_exposed() {
        let text = format!("{UPSTREAM}[admin]\nlisten = \"0.0.0.0:9090\"\nsession_ttl = \"1h\"\n");
        let config = Config::from_toml(&text).unwrap();
        assert!(config.admin.is_exposed());
        assert_eq!(config.admin.session_ttl, Duration::from_secs(3600));
        let text = format!("{UPSTREAM}[admin]\nlisten = \"127.0.0.1:0\"\n");
        assert!(!Config::from_toml(&text).unwrap().admin.is_exposed());
    }
}
