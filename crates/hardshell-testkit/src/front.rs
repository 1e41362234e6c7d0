//! A front for an emulator: an HTTP/1.1 server on loopback that answers
//! what the emulator does not emulate with the test's own handler (a fake
//! that follows the platform's published spec) and relays everything else
//! to the emulator unchanged. Each request is one connection (`Connection:
//! close`), which every HTTP client handles. What reached the front is
//! recorded. std only, on threads, so sync and async tests alike use it.
//!
//! Hand-written rather than a server crate: it must relay bytes exactly as
//! they came, including the emulator's own framing, which a server
//! framework would re-frame.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A request the front received, whole.
#[derive(Debug, Clone)]
pub struct Called {
    pub method: String,
    /// The path with its query, as sent.
    pub target: String,
    /// Header names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Called {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// The fake's answer: status, headers, body.
pub type Answer = (u16, Vec<(String, String)>, Vec<u8>);

/// Answers a request itself (`Some`), or lets it through (`None`).
pub type Handler = Arc<dyn Fn(&Called) -> Option<Answer> + Send + Sync>;

pub struct Front {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    called: Arc<Mutex<Vec<Called>>>,
}

impl Front {
    /// Serves before `upstream` (`http://host:port`), answering with
    /// `handler` first.
    pub fn start(upstream: &str, handler: Handler) -> Front {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the front");
        let base = format!("http://{}", listener.local_addr().expect("its address"));
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .split('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        let called = Arc::new(Mutex::new(Vec::new()));
        let record = called.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (record, handler, upstream) =
                    (record.clone(), handler.clone(), upstream.clone());
                std::thread::spawn(move || {
                    let _ = serve(stream, &record, &handler, &upstream);
                });
            }
        });
        Front { base, called }
    }

    /// Every request received so far, in order.
    pub fn called(&self) -> Vec<Called> {
        self.called.lock().expect("the record").clone()
    }
}

fn serve(
    stream: TcpStream,
    record: &Mutex<Vec<Called>>,
    handler: &Handler,
    upstream: &str,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let called = read_request(&mut reader)?;
    record.lock().expect("the record").push(called.clone());
    let mut client = stream;
    if let Some((status, headers, body)) = handler(&called) {
        let mut head = format!("HTTP/1.1 {status} Fake\r\n");
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str(&format!(
            "content-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        ));
        client.write_all(head.as_bytes())?;
        client.write_all(&body)?;
        return client.flush();
    }
    let mut server = TcpStream::connect(upstream)?;
    let mut head = format!("{} {} HTTP/1.1\r\n", called.method, called.target);
    for (name, value) in &called.headers {
        if !matches!(
            name.as_str(),
            "connection" | "content-length" | "transfer-encoding" | "keep-alive"
        ) {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    head.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        called.body.len()
    ));
    server.write_all(head.as_bytes())?;
    server.write_all(&called.body)?;
    // The upstream closes after its answer, which goes back as it came.
    std::io::copy(&mut server, &mut client)?;
    client.flush()
}

fn read_request(reader: &mut impl BufRead) -> std::io::Result<Called> {
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (method, target) = match (parts.next(), parts.next()) {
        (Some(method), Some(target)) => (method.to_owned(), target.to_owned()),
        _ => return Err(bad("no request line")),
    };
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').ok_or_else(|| bad("a bad header"))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, v)| v.clone())
    };
    let mut body = Vec::new();
    if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                .map_err(|_| bad("a bad chunk size"))?;
            let mut chunk = vec![0u8; size + 2];
            reader.read_exact(&mut chunk)?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(length) = header("content-length") {
        let length: usize = length.parse().map_err(|_| bad("a bad length"))?;
        body.resize(length, 0);
        reader.read_exact(&mut body)?;
    }
    Ok(Called {
        method,
        target,
        headers,
        body,
    })
}
