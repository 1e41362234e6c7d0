use super::*;

const ENDPOINT: &str = "https://api.example/v1/messages";

fn status(code: u16, body: &str) -> LlmError {
    from_status(
        ENDPOINT,
        code,
        &ProviderComplaint::parse(body.as_bytes()),
        None,
        None,
    )
}

#[test]
fn transient_statuses_are_retryable() {
    let anthropic = |kind: &str| {
        format!(
            r#"{{"type":"error","error":{{"type":"{kind}","message":"m"}},"request_id":"req_1"}}"#
        )
    };
    for (code, body) in [
        (429, anthropic("rate_limit_error")),
        (500, anthropic("api_error")),
        (502, "<html>bad gateway</html>".to_owned()),
        (503, String::new()),
        (529, anthropic("overloaded_error")),
        (408, String::new()),
    ] {
        let error = status(code, &body);
        assert!(error.is_retryable(), "{code}: {error}");
    }
    assert!(matches!(
        status(529, &anthropic("overloaded_error")),
        LlmError::Overloaded { .. }
    ));
    assert!(matches!(
        status(429, &anthropic("rate_limit_error")),
        LlmError::RateLimited { .. }
    ));
}

#[test]
fn refusals_of_the_request_are_not_retryable() {
    for (code, body) in [
        (
            400,
            r#"{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: field required"}}"#,
        ),
        (
            401,
            r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#,
        ),
        (
            403,
            r#"{"type":"error","error":{"type":"permission_error","message":"no"}}"#,
        ),
        (
            404,
            r#"{"error":{"message":"The model `gpt-9` does not exist","type":"invalid_request_error","code":"model_not_found"}}"#,
        ),
        (401, r#"{"detail":"Invalid API key"}"#),
        (
            422,
            r#"{"detail":[{"loc":["body","messages"],"msg":"field required"}]}"#,
        ),
    ] {
        let error = status(code, body);
        assert!(!error.is_retryable(), "{code}: {error}");
    }
    assert!(matches!(
        status(401, r#"{"detail":"Invalid API key"}"#),
        LlmError::Unauthorized { status: 401, .. }
    ));
}

#[test]
fn each_providers_context_overflow_is_recognised() {
    for body in [
        // Anthropic
        r#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 208310 tokens > 200000 maximum"}}"#,
        // OpenAI
        r#"{"error":{"message":"This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#,
        // llama-cpp-python
        r#"{"error":{"message":"Requested tokens (3000) exceed context window of 2048","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#,
        // vLLM
        r#"{"object":"error","message":"This model's maximum context length is 4096 tokens. However, you requested 5000 tokens.","type":"BadRequestError","code":400}"#,
    ] {
        let error = status(400, body);
        assert!(
            matches!(error, LlmError::ContextTooLong { .. }),
            "{body}: {error}"
        );
        assert!(!error.is_retryable());
    }
}

#[test]
fn an_ordinary_bad_request_is_not_mistaken_for_a_long_one() {
    let error = status(
        400,
        r#"{"type":"error","error":{"type":"invalid_request_error","message":"messages: roles must alternate"}}"#,
    );
    assert!(matches!(error, LlmError::Rejected { .. }), "{error}");
}

#[test]
fn stream_errors_are_classified_by_type() {
    let complaint = |kind: &str| ProviderComplaint {
        kind: Some(kind.into()),
        code: None,
        message: "m".into(),
    };
    assert!(matches!(
        from_stream_error(ENDPOINT, &complaint("overloaded_error"), None),
        LlmError::Overloaded { .. }
    ));
    assert!(from_stream_error(ENDPOINT, &complaint("api_error"), None).is_retryable());
    assert!(from_stream_error(ENDPOINT, &complaint("a_type_added_later"), None).is_retryable());
    assert!(!from_stream_error(ENDPOINT, &complaint("invalid_request_error"), None).is_retryable());
    let routed = ProviderComplaint {
        kind: None,
        code: Some("429".into()),
        message: "slow down".into(),
    };
    assert!(matches!(
        from_stream_error(ENDPOINT, &routed, None),
        LlmError::RateLimited { .. }
    ));
}

#[test]
fn the_key_is_scrubbed_from_what_the_provider_says() {
    let key = "sk-live-canary-0123456789";
    let body = format!(
        r#"{{"error":{{"message":"Incorrect API key provided: {key}.","type":"invalid_request_error"}}}}"#
    );
    let error = from_status(
        ENDPOINT,
        401,
        &ProviderComplaint::parse(body.as_bytes()),
        None,
        Some(key),
    );
    let shown = format!("{error} {error:?}");
    assert!(!shown.contains(key), "{shown}");
    assert!(shown.contains("<redacted>"), "{shown}");
}

#[test]
fn long_messages_are_cut_short() {
    let error = status(500, &"x".repeat(10_000));
    assert!(error.to_string().len() < 500, "{}", error.to_string().len());
}

#[test]
fn error_shapes_of_every_provider_are_read() {
    let read = |body: &str| ProviderComplaint::parse(body.as_bytes()).message;
    assert_eq!(
        read(r#"{"type":"error","error":{"type":"api_error","message":"a"}}"#),
        "a"
    );
    assert_eq!(
        read(r#"{"error":{"message":"b","type":"server_error"}}"#),
        "b"
    );
    assert_eq!(read(r#"{"error":"c"}"#), "c");
    assert_eq!(
        read(r#"{"object":"error","message":"d","type":"BadRequestError"}"#),
        "d"
    );
    assert_eq!(read(r#"{"detail":"e"}"#), "e");
    assert_eq!(read("plain text\n"), "plain text");
}
