//! A minimal browser for oidc-provider's development login and consent pages:
//! follows redirects by hand, keeps cookies, fills the two forms, and stops at
//! the redirect back to hardshell.

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, LOCATION};
use url::Url;

pub struct Browser {
    http: reqwest::Client,
    redirect_uri: Url,
}

enum Step {
    Get(Url),
    Post(Url, String),
}

impl Browser {
    pub fn new(redirect_uri: Url) -> Self {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self { http, redirect_uri }
    }

    /// Opens `authorize_url`, signs in as `login` with any password, grants
    /// consent, and returns the URL the provider redirected back to.
    pub async fn sign_in(&self, authorize_url: Url, login: &str) -> Url {
        let mut step = Step::Get(authorize_url);
        for _ in 0..20 {
            let (url, response) = match step {
                Step::Get(url) => (url.clone(), self.http.get(url).send().await.unwrap()),
                Step::Post(url, form) => (
                    url.clone(),
                    self.http
                        .post(url)
                        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                        .body(form)
                        .send()
                        .await
                        .unwrap(),
                ),
            };
            let status = response.status();
            if status.is_redirection() {
                let location = response.headers()[LOCATION].to_str().unwrap();
                let next = url.join(location).unwrap();
                if next.as_str().starts_with(self.redirect_uri.as_str()) {
                    return next;
                }
                step = Step::Get(next);
                continue;
            }
            let body = response.text().await.unwrap();
            assert_eq!(status, StatusCode::OK, "{url}: {body}");
            step = if body.contains(r#"name="prompt" value="login""#) {
                Step::Post(
                    url,
                    form(&[("prompt", "login"), ("login", login), ("password", "any")]),
                )
            } else if body.contains(r#"name="prompt" value="consent""#) {
                Step::Post(url, form(&[("prompt", "consent")]))
            } else {
                panic!("unexpected page at {url}: {body}");
            };
        }
        panic!("the provider did not redirect back within 20 steps");
    }
}

fn form(fields: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}

/// The `code` and `state` query parameters of the redirect back.
pub fn code_and_state(callback: &Url) -> (String, String) {
    let param = |name: &str| {
        callback
            .query_pairs()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
            .unwrap_or_else(|| panic!("no {name} in {callback}"))
    };
    (param("code"), param("state"))
}
