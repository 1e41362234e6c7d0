use super::*;

#[test]
fn dollars_convert_to_whole_micro_dollars() {
    assert_eq!(MicroUsd::from_usd(3.0).unwrap(), MicroUsd(3_000_000));
    assert_eq!(MicroUsd::from_usd(0.15).unwrap(), MicroUsd(150_000));
    assert_eq!(MicroUsd::from_usd(0.0000004).unwrap(), MicroUsd(0));
    assert_eq!(MicroUsd::from_usd(0.0).unwrap(), MicroUsd::ZERO);
}

#[test]
fn impossible_amounts_are_refused() {
    for bad in [-0.01, f64::NAN, f64::INFINITY, 2_000_000.0] {
        assert!(MicroUsd::from_usd(bad).is_err(), "{bad}");
    }
}

#[test]
fn amounts_print_as_dollars() {
    assert_eq!(MicroUsd(12_345_678).to_string(), "$12.345678");
    assert_eq!(MicroUsd(5).to_string(), "$0.000005");
}

#[test]
fn cost_is_exact_for_whole_amounts_and_rounds_up_otherwise() {
    let sonnet = Price::from_usd_per_mtok(3.0, 15.0).unwrap();
    let usage = Usage {
        input_tokens: 1_000_000,
        output_tokens: 2_000,
    };
    assert_eq!(cost(&usage, &sonnet), MicroUsd(3_030_000));
    let cheap = Price::from_usd_per_mtok(0.15, 0.6).unwrap();
    let one_token = Usage {
        input_tokens: 1,
        output_tokens: 0,
    };
    // 0.15 micro-dollars: rounded up, never free.
    assert_eq!(cost(&one_token, &cheap), MicroUsd(1));
    assert_eq!(cost(&Usage::default(), &cheap), MicroUsd::ZERO);
}

#[test]
fn a_million_small_costs_sum_without_drift() {
    let price = Price::from_usd_per_mtok(0.1, 0.1).unwrap();
    let usage = Usage {
        input_tokens: 10,
        output_tokens: 0,
    };
    let total = (0..1_000_000).fold(MicroUsd::ZERO, |sum, _| {
        sum.saturating_add(cost(&usage, &price))
    });
    assert_eq!(total, MicroUsd(1_000_000));
}

#[test]
fn huge_usage_saturates_instead_of_wrapping() {
    let price = Price::from_usd_per_mtok(1_000_000.0, 1_000_000.0).unwrap();
    let usage = Usage {
        input_tokens: u64::MAX,
        output_tokens: u64::MAX,
    };
    assert_eq!(cost(&usage, &price), MicroUsd(u64::MAX));
}

#[test]
fn prices_deserialize_from_config_dollars() {
    let price: Price =
        serde_json::from_str(r#"{"input_per_mtok": 3.0, "output_per_mtok": 15}"#).unwrap();
    assert_eq!(price, Price::from_usd_per_mtok(3.0, 15.0).unwrap());
    for bad in [
        r#"{"input_per_mtok": -1, "output_per_mtok": 1}"#,
        r#"{"input_per_mtok": 1}"#,
        r#"{"input_per_mtok": 1, "output_per_mtok": 1, "currency": "EUR"}"#,
    ] {
        assert!(serde_json::from_str::<Price>(bad).is_err(), "{bad}");
    }
}

#[test]
fn unlisted_models_are_free_and_model_prices_override_providers() {
    let mut prices = PriceList::new();
    let provider_price = Price::from_usd_per_mtok(1.0, 2.0).unwrap();
    let model_price = Price::from_usd_per_mtok(5.0, 25.0).unwrap();
    prices.set_provider("anthropic", provider_price);
    prices.set_model(
        ModelRef::parse("anthropic/claude-opus").unwrap(),
        model_price,
    );
    let price = |text: &str| prices.price_of(&ModelRef::parse(text).unwrap());
    assert_eq!(price("anthropic/claude-opus"), model_price);
    assert_eq!(price("anthropic/claude-haiku"), provider_price);
    assert_eq!(price("local/smollm2"), Price::FREE);
    // Free by being unlisted is told apart from a listed price of zero.
    let listed = |text: &str| prices.listed(&ModelRef::parse(text).unwrap());
    assert_eq!(listed("local/smollm2"), None);
    assert_eq!(listed("anthropic/claude-haiku"), Some(provider_price));
    assert!(!Price::FREE.is_paid());
    assert!(provider_price.is_paid());
}
