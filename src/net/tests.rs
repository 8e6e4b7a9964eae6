// `cfg(madsim)` is set by the simulator build (RUSTFLAGS), unknown to check-cfg.
#![allow(unexpected_cfgs)]

use super::*;
use alloy::primitives::Address;
use proptest::prelude::*;

fn response() -> Response {
    Response {
        task_id: 7,
        response: crate::avs::SumAvs::response_bytes(42),
        operator: Address::with_last_byte(3),
        signature: vec![0x11; 192],
    }
}

#[test]
fn codec_round_trips() {
    for m in [
        Message::Response(response()),
        Message::Ack,
        Message::Reject {
            code: 9,
            text: "invalid signature".into(),
        },
        Message::reject(&RejectReason::Conflicting {
            previous: alloy::primitives::B256::repeat_byte(5),
        }),
    ] {
        assert_eq!(codec::decode(&codec::encode(&m).unwrap()), Ok(m));
    }
    let body = codec::encode(&Message::Response(response())).unwrap();
    // version, kind, task id, response length, the sum's 32 bytes, operator, sig length, sig.
    assert_eq!(body.len(), 1 + 1 + 8 + 2 + 32 + 20 + 2 + 192);
    assert_eq!(body[0], codec::VERSION);
    assert_eq!(&body[10..12], &[0, 32]);
}

#[test]
fn codec_is_strict() {
    let body = codec::encode(&Message::Response(response())).unwrap();
    assert_eq!(codec::decode(&[]), Err(CodecError::Empty));
    // Version 1 carried a u64 result where the response bytes now are: refused, not misread.
    assert_eq!(codec::decode(&[1, 1]), Err(CodecError::Version(1)));
    assert_eq!(codec::decode(&[2, 9]), Err(CodecError::Kind(9)));
    assert_eq!(
        codec::decode(&body[..body.len() - 1]),
        Err(CodecError::Truncated)
    );
    let mut long = body.clone();
    long.push(0);
    assert_eq!(codec::decode(&long), Err(CodecError::Trailing(1)));
    let mut big = response();
    big.signature = vec![0; codec::MAX_SIGNATURE + 1];
    assert!(codec::encode(&Message::Response(big)).is_err());
    // A response longer than the AVS limit is refused both ways, before it is read.
    let mut long = response();
    long.response = vec![0; crate::avs::MAX_RESPONSE_LEN + 1];
    assert_eq!(
        codec::encode(&Message::Response(long)),
        Err(CodecError::TooLong("response"))
    );
    let mut frame = body[..10].to_vec();
    frame.extend_from_slice(&((crate::avs::MAX_RESPONSE_LEN + 1) as u16).to_be_bytes());
    frame.extend(vec![0; crate::avs::MAX_RESPONSE_LEN + 1 + 22 + 192]);
    assert_eq!(codec::decode(&frame), Err(CodecError::TooLong("response")));
    // An empty response is well-formed on the wire; whether it is an answer is the AVS's call.
    let mut empty = response();
    empty.response.clear();
    let m = Message::Response(empty);
    assert_eq!(codec::decode(&codec::encode(&m).unwrap()), Ok(m));
}

proptest! {
    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = codec::decode(&bytes);
    }

    #[test]
    fn decoding_mutated_responses_never_panics(flips in prop::collection::vec((0usize..258, any::<u8>()), 1..8), cut in 0usize..266) {
        let mut body = codec::encode(&Message::Response(response())).unwrap();
        for (i, b) in flips { body[i] ^= b; }
        body.truncate(cut);
        if let Ok(Message::Response(r)) = codec::decode(&body) {
            // Whatever decodes re-encodes to the same bytes: no two readings of one frame.
            prop_assert_eq!(codec::encode(&Message::Response(r)).unwrap(), body);
        }
    }
}

#[tokio::test]
async fn frames_are_bounded() {
    let (mut a, mut b) = tokio::io::duplex(1 << 16);
    write_frame(&mut a, b"hello").await.unwrap();
    assert_eq!(read_frame(&mut b).await.unwrap(), Some(b"hello".to_vec()));
    assert!(matches!(
        write_frame(&mut a, &vec![0; MAX_FRAME + 1]).await,
        Err(NetError::FrameTooLarge(_))
    ));
    a.write_all(&((MAX_FRAME as u32 + 1).to_be_bytes()))
        .await
        .unwrap();
    assert!(matches!(
        read_frame(&mut b).await,
        Err(NetError::FrameTooLarge(4097))
    ));
    drop(a);
    assert!(matches!(read_frame(&mut b).await, Ok(None)));
}

/// A real TCP server: good responses get the handler's verdict, garbage gets a Reject and the
/// server keeps serving, an oversized frame closes only its own connection.
#[tokio::test]
async fn server_replies_and_survives_garbage() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, mut rx) = mpsc::channel::<Incoming>(8);
    tokio::spawn(serve(listener, tx));
    tokio::spawn(async move {
        while let Some((r, reply)) = rx.recv().await {
            let v = if r.sum() == Some(42) {
                Ok(())
            } else {
                Err(RejectReason::ProvablyWrong {
                    digest: r.digest().into(),
                })
            };
            let _ = reply.send(v);
        }
    });
    let t = Duration::from_secs(5);
    assert_eq!(
        send_response(addr, &response(), t).await.unwrap(),
        Reply::Ack
    );
    let mut wrong = response();
    wrong.response = crate::avs::SumAvs::response_bytes(1);
    let Reply::Rejected { code, .. } = send_response(addr, &wrong, t).await.unwrap() else {
        panic!("expected a reject")
    };
    assert_eq!(code, 10);

    // Garbage body on a live connection: Reject(malformed), connection stays usable.
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    write_frame(&mut s, &[1, 1, 0, 0]).await.unwrap();
    let reply = codec::decode(&read_frame(&mut s).await.unwrap().unwrap()).unwrap();
    assert!(matches!(reply, Message::Reject { code: 1, .. }));
    assert_eq!(exchange(&mut s, &response(), t).await.unwrap(), Reply::Ack);

    // Oversized frame: rejected, that connection closed, the server still answers others.
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(&(1u32 << 30).to_be_bytes()).await.unwrap();
    match read_frame(&mut s).await {
        Ok(Some(f)) => assert!(matches!(
            codec::decode(&f),
            Ok(Message::Reject { code: 1, .. })
        )),
        // madsim's TCP drops data written just before a close; real TCP delivers the reject.
        other => {
            if !cfg!(madsim) {
                panic!("expected a reject, got {other:?}");
            }
        }
    }
    assert!(matches!(read_frame(&mut s).await, Ok(None) | Err(_)));
    assert_eq!(
        send_response(addr, &response(), t).await.unwrap(),
        Reply::Ack
    );
}

#[tokio::test]
async fn client_times_out_on_a_silent_server() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Accepts but never answers.
    let _keep = tokio::spawn(async move {
        let (_s, _) = listener.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(60)).await;
    });
    let err = send_response(addr, &response(), Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(matches!(err, NetError::Timeout(_)), "{err}");
}

/// Under the simulator: the same client and server over madsim's TCP between two nodes.
#[cfg(madsim)]
#[tokio::test]
async fn works_over_simulated_tcp() {
    let handle = tokio::madsim::runtime::Handle::current();
    let server = handle
        .create_node()
        .name("aggregator")
        .ip([10, 0, 0, 1].into())
        .build();
    let client = handle
        .create_node()
        .name("operator")
        .ip([10, 0, 0, 2].into())
        .build();
    let addr: SocketAddr = "10.0.0.1:7000".parse().unwrap();
    server.spawn(async move {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let (tx, mut rx) = mpsc::channel::<Incoming>(8);
        tokio::spawn(serve(listener, tx));
        while let Some((_r, reply)) = rx.recv().await {
            let _ = reply.send(Ok(()));
        }
    });
    let reply = client
        .spawn(async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            send_response(addr, &response(), Duration::from_secs(5)).await
        })
        .await
        .unwrap();
    assert_eq!(reply.unwrap(), Reply::Ack);
}

fn ack_all(mut rx: mpsc::Receiver<Incoming>) {
    tokio::spawn(async move {
        while let Some((_, reply)) = rx.recv().await {
            let _ = reply.send(Ok(()));
        }
    });
}

/// Malformed frames do not refresh the idle timer and close the connection after
/// `max_malformed`; a peer sending junk forever is gone within the first-frame deadline.
#[cfg(not(madsim))]
#[tokio::test]
async fn malformed_frames_neither_keep_a_slot_nor_go_unbounded() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel::<Incoming>(8);
    ack_all(rx);
    let cfg = ServerConfig {
        first_frame_timeout: Duration::from_millis(600),
        max_malformed: 1_000,
        ..ServerConfig::default()
    };
    tokio::spawn(serve_with(listener, tx, cfg, ServerState::default()));
    // One bad frame every 100 ms: the connection still dies at the first-frame deadline.
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut replies = 0;
    let closed = loop {
        if write_frame(&mut s, &[2, 2]).await.is_err() {
            break true;
        }
        match tokio::time::timeout(Duration::from_secs(2), read_frame(&mut s)).await {
            Ok(Ok(Some(_))) => replies += 1,
            _ => break true,
        }
        assert!(replies < 100, "junk kept the connection open for 10 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(closed && replies >= 1);

    // With a small bound, the frame after the bound closes the connection.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel::<Incoming>(8);
    ack_all(rx);
    let cfg = ServerConfig {
        max_malformed: 3,
        ..ServerConfig::default()
    };
    tokio::spawn(serve_with(listener, tx, cfg, ServerState::default()));
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut answered = 0;
    for _ in 0..10 {
        if write_frame(&mut s, &[2, 2]).await.is_err() {
            break;
        }
        match read_frame(&mut s).await {
            Ok(Some(_)) => answered += 1,
            _ => break,
        }
    }
    assert_eq!(answered, 4, "3 tolerated, the 4th answered and then closed");
    assert!(matches!(read_frame(&mut s).await, Ok(None) | Err(_)));
}

/// Idle connections from one IP (loopback, like the honest client) fill at most `max_per_ip`
/// slots; each new one evicts the oldest, so a fresh honest connection is always served, and a
/// proven connection is never evicted.
#[cfg(not(madsim))]
#[tokio::test]
async fn idle_flood_evicts_itself_and_honest_connections_are_served() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel::<Incoming>(8);
    ack_all(rx);
    let cfg = ServerConfig {
        max_unproven: 16,
        max_per_ip: 8,
        ..ServerConfig::default()
    };
    let state = ServerState::default();
    tokio::spawn(serve_with(listener, tx, cfg, state.clone()));
    let t = Duration::from_secs(5);
    // A proven connection first.
    let mut proven = tokio::net::TcpStream::connect(addr).await.unwrap();
    assert_eq!(
        exchange(&mut proven, &response(), t).await.unwrap(),
        Reply::Ack
    );
    let mut idle = Vec::new();
    for _ in 0..200 {
        idle.push(tokio::net::TcpStream::connect(addr).await.unwrap());
    }
    // Let the server accept them all.
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if state.lock().next >= 201 {
            break;
        }
    }
    let (unproven, n_proven) = state.connections();
    assert!(unproven <= 8, "{unproven} unproven connections held");
    assert_eq!(n_proven, 1);
    assert_eq!(
        send_response(addr, &response(), t).await.unwrap(),
        Reply::Ack
    );
    // The proven connection survived the flood.
    assert_eq!(
        exchange(&mut proven, &response(), t).await.unwrap(),
        Reply::Ack
    );
}
