//! The Graph API for what crabline does not emulate: the Cloud API's media
//! (`GET /{media-id}`, the download its answer points to, `POST
//! /{phone-number-id}/media`) and sends of type `document`, answering as
//! developers.facebook.com/docs/whatsapp/cloud-api/reference/media and
//! .../messages document them: the same JSON shapes, status codes and
//! `{"error": {message, type, code, error_subcode, fbtrace_id}}` envelope.
//! Every other request is passed to crabline as it came (when one is
//! given), so texts are still sent to, and recorded by, crabline.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

type Body = BoxBody<Bytes, Infallible>;

/// The media id the fake answers with for every upload.
pub const UPLOADED_ID: &str = "4490709327384033";
/// The message id the fake answers with for every document sent.
pub const DOCUMENT_MESSAGE_ID: &str = "wamid.HBgLMTU1NTEyMzQ1NjcVAgARGBJERUZBVUxUX0RPQ1VNRU5UAA==";
/// A media id whose lookup is refused with a message that repeats the
/// request's `Authorization` header (a hostile or broken proxy would).
pub const ECHOING_ID: &str = "666";

/// How a stored file's download is answered.
#[derive(Clone, Debug)]
pub enum Download {
    /// The bytes, with their Content-Length.
    Whole,
    /// These parts, chunked, without a Content-Length.
    Chunked(Vec<Vec<u8>>),
    /// A 302 to this location.
    Redirect(String),
}

/// A file a user sent, as the fake keeps it.
#[derive(Clone, Debug)]
pub struct Media {
    pub bytes: Vec<u8>,
    pub mime_type: String,
    /// What the lookup says of its size; the true size (as a string, as
    /// Meta's reference shows it) when `None`.
    pub file_size: Option<Value>,
    /// What the lookup gives as its SHA-256; the true one in hex when `None`.
    pub sha256: Option<String>,
    /// Where the lookup says to download it; the fake's own attachment
    /// path (as `lookaside.fbsbx.com`'s) when `None`.
    pub url: Option<String>,
    pub download: Download,
}

impl Media {
    pub fn new(bytes: &[u8], mime_type: &str) -> Media {
        Media {
            bytes: bytes.to_vec(),
            mime_type: mime_type.to_owned(),
            file_size: None,
            sha256: None,
            url: None,
            download: Download::Whole,
        }
    }
}

/// A request the fake answered itself (not one passed to crabline).
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

struct State {
    token: String,
    version: String,
    phone_number_id: String,
    media: HashMap<String, Media>,
    recorded: Vec<Recorded>,
    crabline: Option<String>,
}

pub struct FakeGraph {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl FakeGraph {
    /// A fake taking `token` for `phone_number_id` under `/{version}`,
    /// passing what it does not serve to `crabline` (its base URL).
    pub async fn start(
        token: &str,
        version: &str,
        phone_number_id: &str,
        crabline: Option<String>,
    ) -> FakeGraph {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State {
            token: token.to_owned(),
            version: version.to_owned(),
            phone_number_id: phone_number_id.to_owned(),
            media: HashMap::new(),
            recorded: Vec::new(),
            crabline,
        }));
        let shared = state.clone();
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (state, client) = (shared.clone(), client.clone());
                let service = hyper::service::service_fn(move |request| {
                    let (state, client) = (state.clone(), client.clone());
                    async move { Ok::<_, Infallible>(answer(&state, &client, addr, request).await) }
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service),
                );
            }
        });
        FakeGraph { addr, state }
    }

    /// The API root to configure: `http://<fake>/<version>`.
    pub fn api_root(&self) -> hardshell_config::ApiRoot {
        let version = self.state.lock().unwrap().version.clone();
        hardshell_config::ApiRoot::parse(&format!("http://{}/{version}", self.addr)).unwrap()
    }

    pub fn add(&self, id: &str, media: Media) {
        self.state
            .lock()
            .unwrap()
            .media
            .insert(id.to_owned(), media);
    }

    /// What the fake answered itself, in order.
    pub fn recorded(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().recorded.clone()
    }

    pub fn paths(&self) -> Vec<String> {
        self.recorded().into_iter().map(|r| r.path).collect()
    }
}

async fn answer(
    state: &Mutex<State>,
    client: &reqwest::Client,
    addr: SocketAddr,
    request: Request<hyper::body::Incoming>,
) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await.unwrap().to_bytes().to_vec();
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let recorded = Recorded {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        authorization: header("authorization"),
        content_type: header("content-type"),
        body,
    };
    let (version, number, token, crabline) = {
        let state = state.lock().unwrap();
        (
            state.version.clone(),
            state.phone_number_id.clone(),
            state.token.clone(),
            state.crabline.clone(),
        )
    };
    let route = Route::of(&recorded, &version, &number);
    if route == Route::Elsewhere
        && let Some(crabline) = crabline
    {
        return pass(client, &crabline, &parts, recorded.body).await;
    }
    state.lock().unwrap().recorded.push(recorded.clone());
    if route == Route::Elsewhere {
        return json(404, &unsupported(recorded.path.trim_start_matches('/')));
    }
    if recorded.authorization.as_deref() != Some(&format!("Bearer {token}")) {
        if let Route::Lookup(id) = &route
            && id == ECHOING_ID
        {
            let echoed = recorded.authorization.clone().unwrap_or_default();
            return json(400, &graph_error(&format!("bad request for {echoed}"), 100));
        }
        return json(401, &invalid_token());
    }
    let media = |id: &str| state.lock().unwrap().media.get(id).cloned();
    match route {
        Route::Lookup(id) => lookup(&id, media(&id), &recorded, &number, addr),
        Route::Attachment(id) => attachment(media(&id)),
        Route::Upload => json(200, &json!({ "id": UPLOADED_ID }).to_string()),
        Route::SendDocument(to) => json(
            200,
            &json!({
                "messaging_product": "whatsapp",
                "contacts": [{ "input": to, "wa_id": to }],
                "messages": [{ "id": DOCUMENT_MESSAGE_ID }],
            })
            .to_string(),
        ),
        Route::Elsewhere => unreachable!("answered above"),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Route {
    /// `GET /{version}/{media-id}`
    Lookup(String),
    /// `GET /whatsapp_business/attachments/?mid={media-id}`
    Attachment(String),
    /// `POST /{version}/{phone-number-id}/media`
    Upload,
    /// `POST /{version}/{phone-number-id}/messages` of type `document`
    SendDocument(String),
    Elsewhere,
}

impl Route {
    fn of(request: &Recorded, version: &str, number: &str) -> Route {
        let path = request.path.as_str();
        let under_version = path.strip_prefix(&format!("/{version}/"));
        match (request.method.as_str(), under_version) {
            ("GET", Some(id)) if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) => {
                if id == number {
                    Route::Elsewhere
                } else {
                    Route::Lookup(id.to_owned())
                }
            }
            ("POST", Some(rest)) if rest == format!("{number}/media") => Route::Upload,
            ("POST", Some(rest)) if rest == format!("{number}/messages") => {
                let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
                if body["type"] == "document" {
                    Route::SendDocument(body["to"].as_str().unwrap_or_default().to_owned())
                } else {
                    Route::Elsewhere
                }
            }
            ("GET", None) if path == "/whatsapp_business/attachments/" => {
                let mid = request
                    .query
                    .as_deref()
                    .unwrap_or_default()
                    .split('&')
                    .find_map(|pair| pair.strip_prefix("mid="))
                    .unwrap_or_default();
                Route::Attachment(mid.to_owned())
            }
            _ => Route::Elsewhere,
        }
    }
}

/// `GET /{media-id}`'s answer: the URL to download from and what the file
/// is, for media sent to the phone number asked about.
fn lookup(
    id: &str,
    media: Option<Media>,
    request: &Recorded,
    number: &str,
    addr: SocketAddr,
) -> Response<Body> {
    let asked_number = request
        .query
        .as_deref()
        .unwrap_or_default()
        .split('&')
        .find_map(|pair| pair.strip_prefix("phone_number_id="));
    let Some(media) = media.filter(|_| asked_number.is_none_or(|asked| asked == number)) else {
        return json(400, &unsupported(id));
    };
    let url = media.url.clone().unwrap_or_else(|| {
        format!("http://{addr}/whatsapp_business/attachments/?mid={id}&ext=1700000300&hash=ATtest")
    });
    let size = media
        .file_size
        .clone()
        .unwrap_or_else(|| json!(media.bytes.len().to_string()));
    let sha256 = media
        .sha256
        .clone()
        .unwrap_or_else(|| hex::encode(Sha256::digest(&media.bytes)));
    json(
        200,
        &json!({
            "messaging_product": "whatsapp",
            "url": url,
            "mime_type": media.mime_type,
            "sha256": sha256,
            "file_size": size,
            "id": id,
        })
        .to_string(),
    )
}

fn attachment(media: Option<Media>) -> Response<Body> {
    let Some(media) = media else {
        return json(404, &graph_error("Media not found", 100));
    };
    let builder = Response::builder().header("content-type", media.mime_type.as_str());
    match media.download {
        Download::Whole => builder
            .header("content-length", media.bytes.len())
            .body(Full::new(Bytes::from(media.bytes)).boxed())
            .unwrap(),
        Download::Chunked(parts) => {
            let frames: Vec<_> = parts
                .into_iter()
                .map(|part| Ok::<_, Infallible>(Frame::data(Bytes::from(part))))
                .collect();
            builder
                .body(StreamBody::new(futures::stream::iter(frames)).boxed())
                .unwrap()
        }
        Download::Redirect(location) => Response::builder()
            .status(StatusCode::FOUND)
            .header("location", location)
            .body(Full::new(Bytes::new()).boxed())
            .unwrap(),
    }
}

/// The request as it came, to crabline; its answer as crabline gave it.
async fn pass(
    client: &reqwest::Client,
    crabline: &str,
    parts: &http::request::Parts,
    body: Vec<u8>,
) -> Response<Body> {
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = client.request(parts.method.clone(), format!("{crabline}{path}"));
    for name in ["authorization", "content-type"] {
        if let Some(value) = parts.headers.get(name) {
            request = request.header(name, value.clone());
        }
    }
    let answer = request.body(body).send().await.unwrap();
    let status = answer.status();
    let content_type = answer.headers().get("content-type").cloned();
    let bytes = answer.bytes().await.unwrap();
    let mut response = Response::builder().status(status);
    if let Some(content_type) = content_type {
        response = response.header("content-type", content_type);
    }
    response.body(Full::new(bytes).boxed()).unwrap()
}

pub fn json(status: u16, body: &str) -> Response<Body> {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap())
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_owned())).boxed())
        .unwrap()
}

fn graph_error(message: &str, code: i64) -> String {
    json!({"error": {
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": "AbCdEfGhIjK",
    }})
    .to_string()
}

/// Meta's answer to a token it cannot read (code 190, status 401).
fn invalid_token() -> String {
    graph_error(
        "Invalid OAuth access token - Cannot parse access token",
        190,
    )
}

/// Meta's answer to an object that is not there, or not this number's.
fn unsupported(id: &str) -> String {
    json!({"error": {
        "message": format!("Unsupported get request. Object with ID '{id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api"),
        "type": "GraphMethodException",
        "code": 100,
        "error_subcode": 33,
        "fbtrace_id": "AbCdEfGhIjK",
    }})
    .to_string()
}
