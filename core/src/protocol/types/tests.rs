use super::*;

fn response(task_id: TaskId, result: u64) -> Response {
    Response {
        task_id,
        response: SumAvs::response_bytes(result),
        operator: Address::with_last_byte(9),
        signature: vec![0xab, 0x01, 0xff],
    }
}

#[test]
fn a_response_digest_is_the_signed_message_of_its_task_and_result() {
    let r = response(7, 42);
    // For the sum the generic message is byte for byte the one Imua's x/avs checks.
    assert_eq!(
        r.digest(),
        crate::crypto::messages::task_response_digest(7, 42)
    );
    assert_eq!(r.sum(), Some(42));
    assert_ne!(r.digest(), response(7, 43).digest());
    assert_ne!(r.digest(), response(8, 42).digest());
}

/// The codes travel on the wire and the slugs in logs and traces: both are a contract with
/// peers and tools, so each is pinned here, and no two reasons share one.
#[test]
fn reject_reasons_keep_their_wire_codes_and_slugs() {
    let table = [
        (RejectReason::Malformed("x".into()), 1, "malformed"),
        (RejectReason::UnknownTask, 2, "unknown-task"),
        (RejectReason::TaskClosed, 3, "task-closed"),
        (RejectReason::UnknownOperator, 4, "unknown-operator"),
        (RejectReason::NotOptedIn, 5, "not-opted-in"),
        (RejectReason::NoRegisteredKey, 6, "no-registered-key"),
        (RejectReason::Duplicate, 7, "duplicate"),
        (
            RejectReason::Conflicting {
                previous: B256::repeat_byte(3),
            },
            8,
            "conflicting",
        ),
        (RejectReason::InvalidSignature, 9, "invalid-signature"),
        (
            RejectReason::ProvablyWrong {
                digest: B256::repeat_byte(4),
            },
            10,
            "provably-wrong",
        ),
        (RejectReason::Late, 11, "late"),
        (RejectReason::Overloaded, 12, "overloaded"),
    ];
    for (reason, code, slug) in &table {
        assert_eq!((reason.code(), reason.slug()), (*code, *slug), "{reason:?}");
        // Only "not now" asks the operator to send again; every other code is a verdict.
        let retry = matches!(reason, RejectReason::UnknownTask | RejectReason::Overloaded);
        assert_eq!(RejectReason::code_asks_retry(*code), retry, "{reason:?}");
    }
    assert!(!RejectReason::code_asks_retry(0) && !RejectReason::code_asks_retry(999));
}

#[test]
fn signatures_serialize_as_hex_and_bad_hex_is_refused() {
    let r = response(1, 2);
    let json = serde_json::to_string(&r).unwrap();
    assert!(json.contains(r#""signature":"ab01ff""#), "{json}");
    assert!(
        json.contains(&format!(r#""response":"{}""#, "0".repeat(63) + "2")),
        "{json}"
    );
    assert_eq!(serde_json::from_str::<Response>(&json).unwrap(), r);
    let bad = json.replace("ab01ff", "ab01f");
    assert!(serde_json::from_str::<Response>(&bad).is_err());
}
