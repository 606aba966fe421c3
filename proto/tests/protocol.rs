//! Host-side protocol tests: framing, CRC, decoder robustness, every command and response.

use revspike_proto::protocol::*;

fn decode_all(bytes: &[u8]) -> Vec<Result<Frame, FrameError>> {
    let mut d = FrameDecoder::new();
    d.push(bytes);
    d.collect()
}

fn sample_info() -> BuildInfo {
    BuildInfo {
        protocol_version: PROTOCOL_VERSION,
        name: "cu-test".into(),
        lanes: 128,
        row_bits: 128,
        rows: 1024,
        max_width: 1024,
        max_classes: 16,
        max_stages: 4,
        max_blocks: 8,
        max_timesteps: 8,
        input_entries: 1024,
        state_entries: 512,
        rx_fifo: RX_FIFO_DEPTH as u16,
        max_payload: MAX_PAYLOAD as u16,
        clock_hz: 100_000_000,
        baud: 4_000_000,
    }
}

fn all_commands() -> Vec<Command> {
    vec![
        Command::Identify,
        Command::Write {
            addr: 0x10003,
            words: vec![0, 0xC0DB, 0xFFFF, 0x1234],
        },
        Command::Write {
            addr: 5,
            words: vec![],
        },
        Command::Read {
            addr: 0x30000,
            count: 20,
        },
        Command::Input {
            bytes: (0..=255).collect(),
        },
        Command::Run,
        Command::Infer {
            bytes: vec![0xC0; 100],
        },
        Command::Rewind { steps: 3 },
        Command::Reset,
        Command::Status,
        Command::LoadBegin,
        Command::LoadEnd {
            expected_words: 0x12345,
        },
        Command::InferPacked {
            packed: vec![3, 0, 9, 0xC0, 0, 0],
        },
    ]
}

#[test]
fn every_command_round_trips() {
    for (i, cmd) in all_commands().into_iter().enumerate() {
        let seq = (i * 37) as u8;
        let wire = cmd.to_frame(seq).unwrap();
        assert_eq!(wire[0], SLIP_END);
        assert_eq!(*wire.last().unwrap(), SLIP_END);
        // No raw END inside a frame.
        assert!(!wire[1..wire.len() - 1].contains(&SLIP_END));
        let frames = decode_all(&wire);
        assert_eq!(frames.len(), 1, "{cmd:?}");
        let f = frames[0].clone().unwrap();
        assert_eq!(f.seq, seq);
        assert_eq!(f.cmd, cmd.code().code());
        assert_eq!(Command::parse(&f).unwrap(), cmd);
    }
}

#[test]
fn every_response_round_trips() {
    let responses = vec![
        (CommandCode::Identify, Response::Identify(sample_info())),
        (CommandCode::Write, Response::Written),
        (
            CommandCode::Read,
            Response::Read(vec![1, 0xC0C0, 0xDBDB, 0]),
        ),
        (
            CommandCode::Input,
            Response::InputAccepted {
                status: 0,
                entries: 784,
            },
        ),
        (
            CommandCode::Run,
            Response::Run(RunResult {
                timesteps: 4,
                prediction: 7,
                cycles: 0x1_0203,
                status: 0,
                logits: vec![-1, i32::MAX, i32::MIN, 0x00C0_DB00],
            }),
        ),
        (
            CommandCode::Infer,
            Response::Run(RunResult {
                timesteps: 2,
                prediction: 0,
                cycles: 99,
                status: 0,
                logits: vec![5; 10],
            }),
        ),
        (CommandCode::Rewind, Response::Rewound { timesteps: 1 }),
        (CommandCode::Reset, Response::ResetDone),
        (
            CommandCode::Status,
            Response::Status(DeviceStatus {
                core: CoreStatusWords {
                    timesteps: 3,
                    prediction: 2,
                    cycles: 70000,
                    status: 1,
                },
                words_written: 0xF_FFFF,
                loaded: true,
                dirty: false,
                input_valid: true,
                last_error: ErrorCode::BadCrc.code(),
                crc_errors: 3,
                framing_errors: 4,
                timeouts: 5,
                overruns: 6,
            }),
        ),
        (CommandCode::LoadBegin, Response::LoadBegun),
        (
            CommandCode::LoadEnd,
            Response::LoadEnded {
                words: 70000,
                loaded: false,
                dirty: true,
            },
        ),
        (
            CommandCode::Run,
            Response::Error {
                cmd: CommandCode::Run.code(),
                code: ErrorCode::Core.code(),
                detail: 1,
            },
        ),
    ];
    for (req, r) in responses {
        let wire = r.to_frame(req.code(), 9).unwrap();
        let f = decode_all(&wire).pop().unwrap().unwrap();
        assert_eq!(f.seq, 9);
        assert_eq!(Response::parse(&f).unwrap(), r, "{req:?}");
    }
}

#[test]
fn error_frames_become_device_errors_with_messages() {
    let r = Response::Error {
        cmd: CommandCode::Infer.code(),
        code: ErrorCode::NotLoaded.code(),
        detail: 0,
    };
    let e = r.into_result().unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("INFER") && msg.contains("no model loaded"),
        "{msg}"
    );
    let r = Response::Error {
        cmd: 0x42,
        code: 200,
        detail: 0,
    };
    assert_eq!(
        r.into_result().unwrap_err(),
        ProtocolError::UnknownDeviceError {
            cmd: 0x42,
            code: 200
        }
    );
    for c in ErrorCode::ALL {
        assert_eq!(ErrorCode::from_code(c.code()), Some(c));
        assert!(!c.message().is_empty());
    }
}

#[test]
fn corrupted_crc_is_reported_and_next_frame_decodes() {
    let mut body = frame_body(CommandCode::Status.code(), 1, &[]);
    let n = body.len();
    body[n - 1] ^= 0x01;
    let mut wire = slip_encode(&body);
    wire.extend(Command::Status.to_frame(2).unwrap());
    let frames = decode_all(&wire);
    assert_eq!(frames.len(), 2);
    assert!(matches!(frames[0], Err(FrameError::BadCrc { .. })));
    assert_eq!(frames[1].as_ref().unwrap().seq, 2);
    // Corrupting a payload byte is also caught.
    let mut body = frame_body(CommandCode::Input.code(), 3, &[1, 2, 3]);
    body[5] ^= 0x80;
    assert!(matches!(
        decode_all(&slip_encode(&body))[0],
        Err(FrameError::BadCrc { .. })
    ));
}

#[test]
fn truncation_and_length_mismatch() {
    let body = frame_body(CommandCode::Input.code(), 3, &[1, 2, 3, 4]);
    // Drop one payload byte: the length field no longer matches.
    let mut short = body.clone();
    short.remove(5);
    assert_eq!(
        decode_all(&slip_encode(&short))[0],
        Err(FrameError::Length {
            declared: 4,
            actual: 3
        })
    );
    // An extra byte.
    let mut long = body.clone();
    long.insert(5, 9);
    assert!(matches!(
        decode_all(&slip_encode(&long))[0],
        Err(FrameError::Length { .. })
    ));
    // Fewer than 6 bytes.
    assert_eq!(
        decode_all(&slip_encode(&body[..4]))[0],
        Err(FrameError::TooShort(4))
    );
}

#[test]
fn oversize_is_dropped_to_next_end() {
    let mut d = FrameDecoder::with_max_payload(16);
    let big = encode_frame(CommandCode::Input.code(), 1, &[7u8; 64]);
    d.push(&big);
    d.push(&encode_frame(CommandCode::Input.code(), 2, &[7u8; 16]));
    let out: Vec<_> = d.collect();
    assert_eq!(out.len(), 2);
    assert_eq!(out[0], Err(FrameError::Oversize { max: 16 }));
    assert_eq!(out[1].as_ref().unwrap().seq, 2);
    // A declared length above the limit is oversize even if the bytes are short.
    let mut body = frame_body(CommandCode::Input.code(), 1, &[0; 4]);
    body[3] = 0x20;
    assert!(matches!(
        parse_body(&body, MAX_PAYLOAD),
        Err(FrameError::Oversize { .. })
    ));
}

#[test]
fn garbage_between_frames_is_ignored() {
    let mut wire = vec![0x55, 0xAA, 0x13]; // noise before the first END
    wire.extend(Command::Identify.to_frame(1).unwrap());
    wire.extend([SLIP_END, SLIP_END, SLIP_END]); // idle padding
    wire.extend(Command::Run.to_frame(2).unwrap());
    let out = decode_all(&wire);
    let good: Vec<_> = out.iter().filter_map(|f| f.as_ref().ok()).collect();
    assert_eq!(good.len(), 2);
    assert_eq!(good[0].seq, 1);
    assert_eq!(good[1].seq, 2);
    assert_eq!(out.len(), 2, "padding ENDs must not make frames: {out:?}");
}

#[test]
fn bad_escape_drops_frame() {
    let mut wire = vec![SLIP_END, 0x01, SLIP_ESC, 0x42, 0x00, SLIP_END];
    wire.extend(Command::Status.to_frame(5).unwrap());
    let out = decode_all(&wire);
    assert_eq!(out[0], Err(FrameError::BadEscape));
    assert_eq!(out.last().unwrap().as_ref().unwrap().seq, 5);
}

#[test]
fn byte_by_byte_streaming_matches_bulk() {
    let mut wire = Vec::new();
    for (i, c) in all_commands().iter().enumerate() {
        wire.extend(c.to_frame(i as u8).unwrap());
    }
    let bulk = decode_all(&wire);
    let mut d = FrameDecoder::new();
    let mut streamed = Vec::new();
    for b in &wire {
        d.push(std::slice::from_ref(b));
        streamed.extend(d.by_ref());
    }
    assert_eq!(bulk, streamed);
    assert_eq!(bulk.len(), all_commands().len());
}

#[test]
fn build_info_round_trip_and_validation() {
    let info = sample_info();
    let b = info.to_bytes().unwrap();
    assert_eq!(b.len(), BUILD_INFO_LEN);
    assert_eq!(BuildInfo::from_bytes(&b).unwrap(), info);
    assert_eq!(
        info.bit_timing().unwrap(),
        BitTiming {
            clocks: 25,
            bits: 1
        }
    );
    let mut fast = info.clone();
    fast.baud = 12_000_000;
    assert_eq!(
        fast.bit_timing().unwrap(),
        BitTiming {
            clocks: 25,
            bits: 3
        }
    );
    fast.baud = 0;
    assert!(fast.bit_timing().is_err());
    let mut long = info.clone();
    long.name = "much-too-long".into();
    assert!(long.to_bytes().is_err());
    let mut spaced = info.clone();
    spaced.name = "a b".into();
    assert!(spaced.to_bytes().is_err());
    assert!(BuildInfo::from_bytes(&b[1..]).is_err());
}

#[test]
fn command_limits_are_enforced() {
    let too_many = Command::Write {
        addr: 0,
        words: vec![0; MAX_WRITE_WORDS + 1],
    };
    assert!(too_many.to_frame(0).is_err());
    let past_end = Command::Write {
        addr: addr::LIMIT - 1,
        words: vec![0; 2],
    };
    assert!(past_end.to_frame(0).is_err());
    assert!(Command::Read {
        addr: 0,
        count: (MAX_READ_WORDS + 1) as u16
    }
    .to_frame(0)
    .is_err());
    assert!(Command::read_state(4, 128).is_ok());
    assert!(Command::read_state(32, 128).is_err());
    // Malformed request payloads are refused with a message, never a panic.
    let f = Frame {
        cmd: CommandCode::Read.code(),
        seq: 0,
        payload: vec![1, 2, 3],
    };
    let e = Command::parse(&f).unwrap_err().to_string();
    assert!(e.contains("READ"), "{e}");
    let f = Frame {
        cmd: 0x33,
        seq: 0,
        payload: vec![],
    };
    assert_eq!(
        Command::parse(&f).unwrap_err(),
        ProtocolError::UnknownCommand(0x33)
    );
    let f = Frame {
        cmd: 0x85,
        seq: 0,
        payload: vec![0; 7],
    };
    assert!(Response::parse(&f).is_err());
}

#[test]
fn padding_covers_execution_time() {
    let t4 = BitTiming {
        clocks: 25,
        bits: 1,
    };
    assert_eq!(padding_ends(0, t4), 1);
    assert_eq!(padding_ends(250, t4), 2);
    assert_eq!(padding_ends(251, t4), 3);
    assert!(padding_ends(100_000, t4) * 250 >= 100_000);
    // 12 Mbaud: a byte is 250/3 = 83.3 clocks.
    let t12 = BitTiming {
        clocks: 25,
        bits: 3,
    };
    assert_eq!(padding_ends(250, t12), 4);
    assert_eq!(padding_ends(251, t12), 5);
    for cycles in [1u64, 83, 84, 2450, 100_000] {
        let pad = padding_ends(cycles, t12) as f64;
        assert!((pad - 1.0) * 250.0 / 3.0 >= cycles as f64, "{cycles}");
        assert!((pad - 2.0) * 250.0 / 3.0 < cycles as f64, "{cycles}");
    }
}

/// A loopback "device" that answers with canned frames, to test the client.
struct Loop {
    pending: Vec<u8>,
    answer: Box<dyn FnMut(Frame) -> Vec<u8>>,
    dec: FrameDecoder,
}

impl Transport for Loop {
    fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.dec.push(bytes);
        while let Some(f) = self.dec.next_frame() {
            if let Ok(f) = f {
                let a = (self.answer)(f);
                self.pending.extend(a);
            }
        }
        Ok(())
    }
    fn recv(&mut self) -> Result<Vec<u8>, String> {
        Ok(std::mem::take(&mut self.pending))
    }
}

#[test]
fn client_skips_stale_frames_and_retries_load_chunks() {
    let mut failures = 1;
    let dev = Loop {
        pending: Vec::new(),
        dec: FrameDecoder::new(),
        answer: Box::new(move |f: Frame| {
            let mut out = vec![0x11, 0x22]; // noise
                                            // A stale answer to some other request first.
            out.extend(
                Response::Written
                    .to_frame(2, f.seq.wrapping_sub(1))
                    .unwrap(),
            );
            let r = match Command::parse(&f).unwrap() {
                Command::Write { .. } if failures > 0 => {
                    failures -= 1;
                    Response::Error {
                        cmd: 2,
                        code: ErrorCode::BadCrc.code(),
                        detail: 0,
                    }
                }
                Command::Write { .. } => Response::Written,
                Command::LoadBegin => Response::LoadBegun,
                Command::LoadEnd { expected_words } => Response::LoadEnded {
                    words: expected_words,
                    loaded: true,
                    dirty: false,
                },
                _ => Response::Error {
                    cmd: f.cmd,
                    code: ErrorCode::UnknownCommand.code(),
                    detail: 0,
                },
            };
            out.extend(r.to_frame(f.cmd, f.seq).unwrap());
            out
        }),
    };
    let mut c = Client::new(dev);
    assert!(c.load(&[(0, vec![1, 2, 3]), (3, vec![4])], 2).unwrap());
    let e = c.request(&Command::Run).unwrap_err();
    assert!(e.to_string().contains("unknown command"), "{e}");
    assert!(!is_retryable(&e));
}

#[test]
fn zero_run_round_trips_and_cuts_runs() {
    // Deterministic pseudo-random inputs with zero runs of every length up to 300.
    let mut x = 0x1234_5678u32;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x
    };
    for n in [0usize, 1, 2, 255, 256, 257, 784, 4100] {
        let mut input = Vec::with_capacity(n);
        while input.len() < n {
            let r = next();
            if r % 3 == 0 {
                let run = (next() % 300) as usize;
                input.extend(std::iter::repeat_n(0, run.min(n - input.len())));
            } else {
                input.push((r >> 8) as u8);
            }
        }
        let packed = zero_run::encode(&input);
        assert_eq!(zero_run::decode(&packed).unwrap(), input, "{n} values");
        // Every token's run is at most the encoder's cut.
        let mut i = 0;
        while i < packed.len() {
            if packed[i] == 0 {
                assert!((packed[i + 1] as usize) < zero_run::ENCODER_MAX_RUN);
                i += 2;
            } else {
                i += 1;
            }
        }
    }
    assert_eq!(zero_run::encode(&[0; 80]), vec![0, 79]);
    assert_eq!(zero_run::encode(&[0; 81]), vec![0, 79, 0, 0]);
    assert_eq!(zero_run::encode(&[7, 0, 0, 9]), vec![7, 0, 1, 9]);
    assert_eq!(zero_run::decode(&[0, 255]).unwrap().len(), 256);
}

#[test]
fn zero_run_refuses_truncated_and_overlong_payloads() {
    assert_eq!(zero_run::decode(&[4, 0]), Err(zero_run::Error::Truncated));
    assert_eq!(zero_run::decode(&[0]), Err(zero_run::Error::Truncated));
    assert_eq!(
        zero_run::decode(&[0u8, 255].repeat(17)),
        Err(zero_run::Error::TooLong)
    );
    assert_eq!(
        zero_run::decode(&[0u8, 255].repeat(16)).unwrap().len(),
        4096
    );
    assert!(zero_run::decode(&[1; MAX_PAYLOAD + 1]).is_err());
}

#[test]
fn infer_smallest_picks_the_shorter_wire_form() {
    // Mostly zeros: packed.
    let sparse: Vec<u8> = (0..784).map(|i| if i % 50 == 0 { 9 } else { 0 }).collect();
    match Command::infer_smallest(&sparse) {
        Command::InferPacked { packed } => {
            assert!(packed.len() < 100);
            assert_eq!(zero_run::decode(&packed).unwrap(), sparse);
        }
        c => panic!("{c:?}"),
    }
    // No zeros: raw (the encoding would be as long).
    let dense: Vec<u8> = (0..784).map(|i| (i % 250) as u8 + 1).collect();
    assert!(matches!(
        Command::infer_smallest(&dense),
        Command::Infer { .. }
    ));
    // Lone zeros cost two bytes each: raw again.
    let lone: Vec<u8> = (0..100).map(|i| (i % 2) as u8).collect();
    assert!(matches!(
        Command::infer_smallest(&lone),
        Command::Infer { .. }
    ));
    // SLIP escapes count: 0xC0 literals double in both forms, so a few zero runs
    // still win.
    assert_eq!(zero_run::wire_len(&[0xC0, 0xDB, 1]), 5);
    // The response to INFER_PACKED is a run result.
    let f = Frame {
        cmd: CommandCode::InferPacked.code() | RESPONSE_BIT,
        seq: 3,
        payload: Response::Run(RunResult {
            timesteps: 2,
            prediction: 1,
            cycles: 9,
            status: 0,
            logits: vec![-1, 5],
        })
        .payload()
        .unwrap(),
    };
    assert!(matches!(Response::parse(&f), Ok(Response::Run(r)) if r.logits == [-1, 5]));
}

#[test]
fn every_command_parses_exactly_the_payload_lengths_its_rule_allows() {
    for code in CommandCode::ALL {
        let rule = code.payload_rule();
        for len in 0..12 {
            let frame = Frame {
                cmd: code.code(),
                seq: 1,
                payload: vec![0; len],
            };
            let parsed = Command::parse(&frame);
            assert_eq!(
                parsed.is_ok(),
                rule.allows(len),
                "{} with {len} bytes: {parsed:?}",
                code.name()
            );
            if let Ok(c) = parsed {
                assert_eq!(c.code(), code);
            }
        }
    }
    assert!(PayloadRule::AddressAndWords.allows(4) && !PayloadRule::AddressAndWords.allows(5));
    assert!(!PayloadRule::AddressAndWords.allows(2) && PayloadRule::Any.allows(0));
}

#[test]
fn response_payloads_have_the_word_counts_the_device_streams() {
    use revspike_proto::protocol::response_words as rw;
    let words = |r: Response| r.payload().unwrap().len() / 2;
    let status = DeviceStatus {
        words_written: 0x5_1234,
        loaded: true,
        dirty: false,
        input_valid: true,
        last_error: ErrorCode::Length.code(),
        crc_errors: 3,
        framing_errors: 4,
        timeouts: 5,
        overruns: 6,
        ..Default::default()
    };
    assert_eq!(
        words(Response::InputAccepted {
            status: 0,
            entries: 9
        }),
        rw::INPUT.words
    );
    assert_eq!(words(Response::Rewound { timesteps: 2 }), rw::REWIND.words);
    assert_eq!(
        words(Response::Status(status.clone())),
        rw::CORE_STATUS.words + rw::LINK_STATUS.words
    );
    assert_eq!(
        words(Response::LoadEnded {
            words: 7,
            loaded: true,
            dirty: false
        }),
        rw::LOAD_END.words
    );
    assert_eq!(
        words(Response::Error {
            cmd: 2,
            code: ErrorCode::BadArguments.code(),
            detail: 0
        }),
        rw::ERROR.words
    );
    let run = RunResult {
        timesteps: 4,
        prediction: 1,
        cycles: 70_000,
        status: 0,
        logits: vec![-3, 5, 1 << 20],
    };
    assert_eq!(words(Response::Run(run)), rw::CORE_STATUS.words + 2 * 3);

    // The link words sit where LinkWord says: the STATUS payload's link part, word by
    // word, against the fields it carries.
    let p = Response::Status(status).payload().unwrap();
    let w: Vec<u16> = p
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    let link = &w[rw::CORE_STATUS.words..];
    assert_eq!(link[LinkWord::WordsLo.index()], 0x1234);
    assert_eq!(link[LinkWord::WordsHi.index()], 0x5);
    assert_eq!(
        link[LinkWord::Flags.index()],
        flags::LOADED | flags::INPUT_VALID | (ErrorCode::Length.code() as u16) << 8
    );
    assert_eq!(link[LinkWord::CrcFraming.index()], 3 | 4 << 8);
    assert_eq!(link[LinkWord::TimeoutOverrun.index()], 5 | 6 << 8);
}
