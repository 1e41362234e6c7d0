//! Where a media download may go. Meta requires the access token on the
//! download as on every Graph call, so the URL Meta's answer names decides
//! where the token is sent: only to the API root's own origin, or over
//! https to Meta's media CDN (`lookaside.fbsbx.com`, a subdomain of
//! `fbsbx.com`). Anything else is refused before a connection is made.

use url::{Host, Url};

use super::super::error::WhatsappError;

/// Meta's media CDN: the download host is a subdomain of this domain.
const MEDIA_CDN: &str = ".fbsbx.com";

/// A download URL that passed [`DownloadUrl::admit`]: the only kind the
/// client downloads from, so no path sends the token without the check.
#[derive(Clone, PartialEq, Eq)]
pub(in crate::whatsapp::api) struct DownloadUrl(Url);

// The URL is a short-lived capability to the user's file: never shown.
impl std::fmt::Debug for DownloadUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("DownloadUrl")
            .field(&self.0.host_str().unwrap_or_default())
            .finish()
    }
}

impl DownloadUrl {
    /// `text` (the `url` of a media answer) if the token may go there from
    /// a client whose API root is `root`. `token` is only scrubbed from the
    /// refusal's text.
    pub(in crate::whatsapp::api) fn admit(
        text: &str,
        root: &Url,
        token: &str,
    ) -> Result<Self, WhatsappError> {
        let url = Url::parse(text).map_err(|_| refused("it is not a URL".into()))?;
        // `https://lookaside.fbsbx.com@elsewhere/`: the host is elsewhere.
        if !url.username().is_empty() || url.password().is_some() {
            return Err(refused("it carries credentials".into()));
        }
        // The API's own origin is where the token already goes; it is the
        // only place plain http is admitted (a loopback emulator, as
        // `ApiRoot` admits it).
        if url.origin() == root.origin() {
            return Ok(Self(url));
        }
        if url.scheme() != "https" {
            return Err(refused("it is not https".into()));
        }
        match url.host() {
            // A name, not an address: an IP is nobody's CDN by its name.
            // No port but https's own.
            Some(Host::Domain(host)) if host.ends_with(MEDIA_CDN) && url.port().is_none() => {
                Ok(Self(url))
            }
            _ => Err(refused(format!(
                "host {:?} is neither the API's own nor Meta's media CDN (*{MEDIA_CDN}, port 443)",
                shown_host(&url, token)
            ))),
        }
    }

    pub(in crate::whatsapp::api) fn url(&self) -> &Url {
        &self.0
    }
}

/// The URL's host for an error, cleaned, with the token scrubbed in the
/// lower case the URL parser gives a host name.
fn shown_host(url: &Url, token: &str) -> String {
    let lower = token.to_ascii_lowercase();
    crate::network::clean(url.host_str().unwrap_or_default(), &[token, &lower])
}

fn refused(why: String) -> WhatsappError {
    WhatsappError::MediaUrl(why)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admitted(text: &str, root: &str) -> bool {
        let root = Url::parse(root).unwrap_or_else(|e| panic!("{root}: {e}"));
        DownloadUrl::admit(text, &root, "EAAtoken").is_ok()
    }

    const META: &str = "https://graph.facebook.com/v25.0";
    const EMULATOR: &str = "http://127.0.0.1:8123/v25.0";

    #[test]
    fn metas_cdn_and_the_apis_own_origin_are_admitted() {
        for url in [
            "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1&ext=2&hash=3",
            "https://LOOKASIDE.fbsbx.com:443/x",
            "https://scontent.xx.fbsbx.com/x",
            "https://graph.facebook.com/media/1",
        ] {
            assert!(admitted(url, META), "{url}");
        }
        assert!(admitted("http://127.0.0.1:8123/download/1?x=y", EMULATOR));
    }

    #[test]
    fn every_other_place_is_refused() {
        for url in [
            // Not https.
            "http://lookaside.fbsbx.com/x",
            "http://graph.facebook.com/x",
            "ftp://lookaside.fbsbx.com/x",
            // Another host, or one only named like Meta's.
            "https://evil.example/lookaside.fbsbx.com",
            "https://lookaside.fbsbx.com.evil.example/x",
            "https://evilfbsbx.com/x",
            "https://fbsbx.com/x",
            "https://lookaside.fbsbx.com./x",
            "https://graph.facebook.com.evil.example/x",
            // Credentials, which also hide the real host.
            "https://lookaside.fbsbx.com@evil.example/x",
            "https://user:pass@lookaside.fbsbx.com/x",
            // Addresses, in any spelling.
            "https://157.240.1.1/x",
            "https://2130706433/x",
            "https://[::1]/x",
            // Another port.
            "https://lookaside.fbsbx.com:8443/x",
            "https://graph.facebook.com:444/x",
            // Not a URL.
            "/relative/path",
            "",
        ] {
            assert!(!admitted(url, META), "{url}");
        }
        // Beside the emulator: another port, another name for it, https.
        for url in [
            "http://127.0.0.1:8124/x",
            "http://localhost:8123/x",
            "https://127.0.0.1:8123/x",
            "http://user@127.0.0.1:8123/x",
            "http://lookaside.fbsbx.com/x",
        ] {
            assert!(!admitted(url, EMULATOR), "{url}");
        }
    }

    #[test]
    fn a_refusal_names_the_host_but_never_the_token_or_the_url() {
        let root = Url::parse(META).unwrap();
        let error = DownloadUrl::admit(
            "https://EAAtoken.evil.example/secret-path",
            &root,
            "EAAtoken",
        )
        .unwrap_err();
        let shown = format!("{error} {error:?}");
        assert!(!shown.to_ascii_lowercase().contains("eaatoken"), "{shown}");
        assert!(!shown.contains("secret-path"), "{shown}");
        assert!(shown.contains("evil.example"), "{shown}");
    }
}
