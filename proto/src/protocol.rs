//! The revspike link protocol, defined once for the host, the simulators and the
//! hardware tests.
//!
//! On the wire every frame is SLIP-framed (RFC 1055: END 0xC0, ESC 0xDB,
//! ESC_END 0xDC, ESC_ESC 0xDD) and starts and ends with END, so line noise in front
//! of a frame is flushed by its leading END. The SLIP payload (the frame *body*) is
//!
//! ```text
//! [cmd u8][seq u8][len u16 LE][payload: len bytes][crc u16 LE]
//! ```
//!
//! with `crc` = CRC-16/IBM-3740 (CCITT-FALSE: poly 0x1021, init 0xFFFF, no
//! reflection) over `cmd..payload`. A response echoes `seq` and carries `cmd | 0x80`,
//! or is an error frame (`cmd` = [`ERROR_CMD`]) naming the offending command.
//!
//! Every response payload is a sequence of little-endian 16-bit words: the device
//! streams them straight out of the core's host port, its own link registers or its
//! build-information ROM, which is why the layouts below are word-aligned.
//! `docs/protocol.md` is the prose version of this module.

use std::collections::VecDeque;
use std::fmt;

use crc::{Crc, CRC_16_IBM_3740};
use thiserror::Error;

pub use crate::bit_timing::BitTiming;
use crate::contract::StatusReg;

/// Version of this protocol, reported by IDENTIFY.
pub const PROTOCOL_VERSION: u8 = 2;

/// SLIP frame delimiter.
pub const SLIP_END: u8 = 0xC0;
/// SLIP escape.
pub const SLIP_ESC: u8 = 0xDB;
/// Escaped END.
pub const SLIP_ESC_END: u8 = 0xDC;
/// Escaped ESC.
pub const SLIP_ESC_ESC: u8 = 0xDD;

/// Largest request payload the device accepts (a WRITE of [`MAX_WRITE_WORDS`] words).
pub const MAX_PAYLOAD: usize = 4 + 2 * MAX_WRITE_WORDS;
/// Most words one WRITE frame carries.
pub const MAX_WRITE_WORDS: usize = 2048;
/// Most words one READ returns.
pub const MAX_READ_WORDS: usize = 2048;
/// Largest response payload the device produces (a full READ).
pub const MAX_RESPONSE_PAYLOAD: usize = 2 * MAX_READ_WORDS;
/// Byte positions of a frame body's header, `[cmd u8][seq u8][len u16 LE]`.
pub mod header {
    /// The command code.
    pub const CMD: usize = 0;
    /// The sequence number.
    pub const SEQ: usize = 1;
    /// The payload length, low byte.
    pub const LEN_LO: usize = 2;
    /// The payload length, high byte (the header's last).
    pub const LEN_HI: usize = 3;
    /// Header bytes.
    pub const BYTES: usize = 4;

    // `frame_body` writes the fields in this order.
    const _: () = assert!(CMD == 0 && SEQ == 1 && LEN_LO == 2 && LEN_HI == 3 && BYTES == 4);
}
/// CRC bytes after the payload (low byte first).
pub const CRC_BYTES: usize = 2;
/// Header plus CRC bytes around a payload.
pub const FRAME_OVERHEAD: usize = header::BYTES + CRC_BYTES;
/// Receive FIFO of the device, in bytes (consecutive END bytes take no room in it).
pub const RX_FIFO_DEPTH: usize = 8;
/// Command code of error responses.
pub const ERROR_CMD: u8 = 0x7F;
/// Bit set in the command code of a normal response.
pub const RESPONSE_BIT: u8 = 0x80;
/// Bytes of the IDENTIFY payload ([`BuildInfo::to_bytes`]).
pub const BUILD_INFO_LEN: usize = 42;
/// Length of the build name field in [`BuildInfo`].
pub const BUILD_NAME_LEN: usize = 8;

/// Word addresses of the core's host port used by the link: the region bases of
/// [`crate::contract::Region`], named for the link's users.
pub mod addr {
    use crate::contract::{self, ConfigReg, Region};

    /// Region 0: unified memory.
    pub const MEMORY: u32 = Region::Rows.base();
    /// Region 1: configuration registers.
    pub const CONFIG: u32 = Region::Config.base();
    /// Configuration register 3: number of classes.
    pub const CONFIG_CLASSES: u32 = ConfigReg::Classes.address();
    /// Region 2: turn-on membrane state, `l * P + c`.
    pub const STATE: u32 = Region::State.base();
    /// Region 3: logits, two words each.
    pub const LOGITS: u32 = Region::Logits.base();
    /// Region 4: status words (timesteps, prediction, cycles lo/hi, status code, input entries).
    pub const STATUS: u32 = Region::Status.base();
    /// Host-port addresses are 20 bits wide.
    pub const LIMIT: u32 = 1 << contract::addr::BITS;
}

/// Where the words of each response come from, defined once: the device streams them
/// from these places (the link's response engine reads its addresses and counts from
/// here) and the host parses responses by the same counts.
pub mod response_words {
    use super::LinkWord;
    use crate::contract::{ConfigReg, Region, StatusReg};

    /// Where a segment's words are read.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Source {
        /// The core's host port, from a word address.
        HostPort,
        /// The link's register file, from a link word index.
        Link,
    }

    /// `words` consecutive words from `first` on.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Segment {
        pub source: Source,
        pub first: u32,
        pub words: usize,
    }

    /// RUN, INFER and STATUS begin with the core's status registers: timesteps done,
    /// prediction, cycles (low, high), status code.
    pub const CORE_STATUS: Segment = Segment {
        source: Source::HostPort,
        first: StatusReg::TimestepsDone.address(),
        words: 5,
    };
    /// INPUT: the core's status code and the input entries the sample uses.
    pub const INPUT: Segment = Segment {
        source: Source::HostPort,
        first: StatusReg::Code.address(),
        words: 2,
    };
    /// REWIND: timesteps done.
    pub const REWIND: Segment = Segment {
        source: Source::HostPort,
        first: StatusReg::TimestepsDone.address(),
        words: 1,
    };
    /// RUN and INFER end with the logits, two words per class, from the logit region.
    pub const LOGITS_FIRST: u32 = Region::Logits.base();
    /// The register the device reads to size the logits segment.
    pub const CLASSES_REGISTER: u32 = ConfigReg::Classes.address();
    /// STATUS ends with link words 0..4: words written (low, high), flags and last
    /// error, CRC and framing error counts, timeout and overrun counts.
    pub const LINK_STATUS: Segment = Segment {
        source: Source::Link,
        first: 0,
        words: 5,
    };
    /// LOAD_END: words written (low, high) and the flags.
    pub const LOAD_END: Segment = Segment {
        source: Source::Link,
        first: 0,
        words: 3,
    };
    /// An error frame's payload, `[cmd][code][detail u16]`: link words 5 and 6.
    pub const ERROR: Segment = Segment {
        source: Source::Link,
        first: LinkWord::ErrorCommand as u32,
        words: 2,
    };
    /// Link words the register file holds.
    pub const LINK_WORDS: u32 = LinkWord::ALL.len() as u32;

    const _: () = {
        assert!(CORE_STATUS.words == StatusReg::Code as usize + 1);
        assert!(INPUT.first + INPUT.words as u32 == StatusReg::Entries.address() + 1);
        assert!(LINK_STATUS.words == LinkWord::TimeoutOverrun as usize + 1);
        assert!(LOAD_END.words == LinkWord::Flags as usize + 1);
        assert!(LINK_STATUS.words as u32 <= ERROR.first);
        assert!(ERROR.first + ERROR.words as u32 == LINK_WORDS);
    };
}

/// The standard CRC of the protocol.
pub const CRC16: Crc<u16> = Crc::<u16>::new(&CRC_16_IBM_3740);

/// CRC-16/IBM-3740 of `bytes`.
pub fn crc16(bytes: &[u8]) -> u16 {
    CRC16.checksum(bytes)
}

/// One byte step of the CRC in the shift-and-xor form the hardware uses
/// (`hdl/src/crc16.rs`); kept here so the software and hardware forms are tested
/// against each other.
pub fn crc16_step(crc: u16, byte: u8) -> u16 {
    let mut x = ((crc >> 8) as u8) ^ byte;
    x ^= x >> 4;
    let x = x as u16;
    (crc << 8) ^ (x << 12) ^ (x << 5) ^ x
}

/// The payload lengths a command accepts ([`CommandCode::payload_rule`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayloadRule {
    /// Exactly this many bytes.
    Exactly(usize),
    /// A 4-byte address and whole 16-bit words: at least 4 bytes, an even count.
    AddressAndWords,
    /// Any length up to [`MAX_PAYLOAD`] (the frame's own limit).
    Any,
}

impl PayloadRule {
    /// Whether a payload of `len` bytes follows the rule.
    pub const fn allows(self, len: usize) -> bool {
        match self {
            PayloadRule::Exactly(n) => len == n,
            PayloadRule::AddressAndWords => len >= 4 && len.is_multiple_of(2),
            PayloadRule::Any => true,
        }
    }
}

/// Command codes (requests). Responses carry `code | 0x80`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum CommandCode {
    /// Build information.
    Identify = 0x01,
    /// Write words to the host port.
    Write = 0x02,
    /// Read words from the host port.
    Read = 0x03,
    /// Give the core one input sample.
    Input = 0x04,
    /// Run the network on the committed input.
    Run = 0x05,
    /// INPUT followed by RUN.
    Infer = 0x06,
    /// Step the turn-on state back.
    Rewind = 0x07,
    /// Clear state, errors and counters; keep the model.
    Reset = 0x08,
    /// Link flags, counters and the core's status words.
    Status = 0x09,
    /// Start loading a model.
    LoadBegin = 0x0A,
    /// Finish loading a model.
    LoadEnd = 0x0B,
    /// INFER with the input zero-run encoded ([`zero_run`]); since protocol version 2.
    InferPacked = 0x0C,
}

impl CommandCode {
    /// Every command, in code order.
    pub const ALL: [CommandCode; 12] = [
        CommandCode::Identify,
        CommandCode::Write,
        CommandCode::Read,
        CommandCode::Input,
        CommandCode::Run,
        CommandCode::Infer,
        CommandCode::Rewind,
        CommandCode::Reset,
        CommandCode::Status,
        CommandCode::LoadBegin,
        CommandCode::LoadEnd,
        CommandCode::InferPacked,
    ];

    /// The code byte.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The command with code `code`, if any.
    pub fn from_code(code: u8) -> Option<CommandCode> {
        CommandCode::ALL.iter().copied().find(|c| c.code() == code)
    }

    /// The payload length the command takes (docs/protocol.md, commands): the one
    /// rule [`Command::parse`] and the device's link apply (`BAD_ARGUMENTS` otherwise).
    pub const fn payload_rule(self) -> PayloadRule {
        match self {
            CommandCode::Identify
            | CommandCode::Run
            | CommandCode::Reset
            | CommandCode::Status
            | CommandCode::LoadBegin => PayloadRule::Exactly(0),
            CommandCode::Write => PayloadRule::AddressAndWords,
            CommandCode::Read => PayloadRule::Exactly(6),
            CommandCode::Rewind => PayloadRule::Exactly(1),
            CommandCode::LoadEnd => PayloadRule::Exactly(4),
            CommandCode::Input | CommandCode::Infer | CommandCode::InferPacked => PayloadRule::Any,
        }
    }

    /// Command name as used in messages and docs.
    pub fn name(self) -> &'static str {
        match self {
            CommandCode::Identify => "IDENTIFY",
            CommandCode::Write => "WRITE",
            CommandCode::Read => "READ",
            CommandCode::Input => "INPUT",
            CommandCode::Run => "RUN",
            CommandCode::Infer => "INFER",
            CommandCode::Rewind => "REWIND",
            CommandCode::Reset => "RESET",
            CommandCode::Status => "STATUS",
            CommandCode::LoadBegin => "LOAD_BEGIN",
            CommandCode::LoadEnd => "LOAD_END",
            CommandCode::InferPacked => "INFER_PACKED",
        }
    }
}

/// Error codes of error frames (`cmd` = [`ERROR_CMD`], payload `[cmd][code][detail u16]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ErrorCode {
    /// The frame's CRC did not match.
    BadCrc = 1,
    /// The frame was shorter or longer than its length field says.
    Length = 2,
    /// The length field exceeds [`MAX_PAYLOAD`]; the rest of the frame was dropped.
    Oversize = 3,
    /// Unknown command code.
    UnknownCommand = 4,
    /// The payload does not fit the command (size, address range, count).
    BadArguments = 5,
    /// RUN/INFER without a completely and correctly loaded model.
    NotLoaded = 6,
    /// The core refused; `detail` is its status code.
    Core = 7,
    /// Bytes were lost because the device's receive FIFO overflowed.
    Overrun = 8,
}

impl ErrorCode {
    /// Every code, in order.
    pub const ALL: [ErrorCode; 8] = [
        ErrorCode::BadCrc,
        ErrorCode::Length,
        ErrorCode::Oversize,
        ErrorCode::UnknownCommand,
        ErrorCode::BadArguments,
        ErrorCode::NotLoaded,
        ErrorCode::Core,
        ErrorCode::Overrun,
    ];

    /// The code byte.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The error with code `code`, if any.
    pub fn from_code(code: u8) -> Option<ErrorCode> {
        ErrorCode::ALL.iter().copied().find(|c| c.code() == code)
    }

    /// One-line explanation for users.
    pub fn message(self) -> &'static str {
        match self {
            ErrorCode::BadCrc => "frame CRC mismatch (line noise?); resend the frame",
            ErrorCode::Length => "frame length does not match its length field (bytes lost?)",
            ErrorCode::Oversize => "frame payload longer than the device accepts",
            ErrorCode::UnknownCommand => "unknown command code",
            ErrorCode::BadArguments => "payload does not fit the command",
            ErrorCode::NotLoaded => "no model loaded (or the load was incomplete or corrupted)",
            ErrorCode::Core => "the core refused the command",
            ErrorCode::Overrun => "device receive FIFO overflowed; send slower or pad more",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

/// Detail of a `CORE` error the link itself raises when the core's command did not
/// finish within the link's watchdog bound (docs/protocol.md): the link stopped it
/// and cleared `loaded`.
pub const CORE_DETAIL_WATCHDOG: u16 = 0x80;

/// The message of a core status code (the detail of a `CORE` error):
/// [`crate::core_port::CoreStatus`], or "ok" for 0.
pub fn core_status_message(status: u16) -> String {
    crate::core_port::CoreStatus::from_code(status).map_or_else(|| "ok".into(), |s| s.to_string())
}

/// Errors of the host-side protocol layer.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ProtocolError {
    /// The device answered with an error frame.
    #[error("device error on {cmd}: {code} (detail {detail}: {})", core_status_message(*detail))]
    Device {
        /// Name of the offending command (or its code in hex).
        cmd: String,
        /// The error.
        code: ErrorCode,
        /// Extra information (the core status for [`ErrorCode::Core`]).
        detail: u16,
    },
    /// The device sent an error frame with a code this host does not know.
    #[error("device error on command 0x{cmd:02x}: unknown error code {code}")]
    UnknownDeviceError {
        /// Offending command code.
        cmd: u8,
        /// Unknown code.
        code: u8,
    },
    /// A payload did not have the layout its command requires.
    #[error("bad {what} payload: {why}")]
    BadPayload {
        /// Which command or response.
        what: &'static str,
        /// What was wrong.
        why: String,
    },
    /// A response code that is not the answer to any command.
    #[error("unexpected response code 0x{0:02x}")]
    UnexpectedResponse(u8),
    /// An unknown request command code.
    #[error("unknown command code 0x{0:02x}")]
    UnknownCommand(u8),
    /// Build information that cannot be encoded.
    #[error("bad build information: {0}")]
    BadBuildInfo(String),
    /// A request argument outside what the protocol can carry.
    #[error("argument out of range: {0}")]
    OutOfRange(String),
}

fn bad(what: &'static str, why: impl Into<String>) -> ProtocolError {
    ProtocolError::BadPayload {
        what,
        why: why.into(),
    }
}

// ---------------------------------------------------------------------------------
// Frames
// ---------------------------------------------------------------------------------

/// A decoded frame with a good CRC and a consistent length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Command (request) or response code.
    pub cmd: u8,
    /// Sequence number chosen by the host and echoed by the device.
    pub seq: u8,
    /// The payload.
    pub payload: Vec<u8>,
}

/// Why a received frame was rejected.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum FrameError {
    /// Fewer bytes than header plus CRC.
    #[error("frame too short: {0} bytes (need at least 6)")]
    TooShort(usize),
    /// More bytes than any frame may have; the rest up to the next END was dropped.
    #[error("frame longer than {max} bytes; dropped up to the next END")]
    Oversize {
        /// The limit in body bytes.
        max: usize,
    },
    /// The length field disagrees with the number of bytes received.
    #[error("length field says {declared} payload bytes but {actual} arrived")]
    Length {
        /// Value of the length field.
        declared: usize,
        /// Payload bytes actually present.
        actual: usize,
    },
    /// CRC mismatch.
    #[error("CRC mismatch: frame says 0x{received:04x}, computed 0x{computed:04x}")]
    BadCrc {
        /// CRC carried by the frame.
        received: u16,
        /// CRC computed over the frame.
        computed: u16,
    },
    /// An ESC followed by something other than ESC_END or ESC_ESC.
    #[error("bad SLIP escape sequence; frame dropped")]
    BadEscape,
}

/// Frame body (before SLIP): header, payload and CRC. The length field is
/// `payload.len()`, saturated at 0xFFFF (a longer payload is refused by every
/// receiver as oversize).
pub fn frame_body(cmd: u8, seq: u8, payload: &[u8]) -> Vec<u8> {
    let len = payload.len().min(0xFFFF) as u16;
    let mut body = Vec::with_capacity(payload.len() + FRAME_OVERHEAD);
    body.push(cmd);
    body.push(seq);
    body.extend_from_slice(&len.to_le_bytes());
    body.extend_from_slice(payload);
    let crc = crc16(&body);
    body.extend_from_slice(&crc.to_le_bytes());
    body
}

/// SLIP-encode `body` with a leading and a trailing END.
pub fn slip_encode(body: &[u8]) -> Vec<u8> {
    // Worst case every byte is escaped, plus the two ENDs.
    let mut out = vec![0u8; 2 * body.len() + 2];
    let mut enc = serial_line_ip::Encoder::new();
    let mut written = match enc.encode(body, &mut out) {
        Ok(t) => t.written,
        Err(_) => unreachable!("output buffer sized for the worst case"),
    };
    written += match enc.finish(&mut out[written..]) {
        Ok(t) => t.written,
        Err(_) => unreachable!("output buffer sized for the worst case"),
    };
    out.truncate(written);
    out
}

/// A complete wire frame: END, SLIP-escaped body, END.
pub fn encode_frame(cmd: u8, seq: u8, payload: &[u8]) -> Vec<u8> {
    slip_encode(&frame_body(cmd, seq, payload))
}

/// Check and split a frame body (without SLIP), as the device does.
pub fn parse_body(body: &[u8], max_payload: usize) -> Result<Frame, FrameError> {
    if body.len() < FRAME_OVERHEAD {
        return Err(FrameError::TooShort(body.len()));
    }
    let declared = u16::from_le_bytes([body[header::LEN_LO], body[header::LEN_HI]]) as usize;
    if declared > max_payload {
        return Err(FrameError::Oversize { max: max_payload });
    }
    let actual = body.len() - FRAME_OVERHEAD;
    if declared != actual {
        return Err(FrameError::Length { declared, actual });
    }
    let split = body.len() - CRC_BYTES;
    let received = u16::from_le_bytes([body[split], body[split + 1]]);
    let computed = crc16(&body[..split]);
    if received != computed {
        return Err(FrameError::BadCrc { received, computed });
    }
    Ok(Frame {
        cmd: body[header::CMD],
        seq: body[header::SEQ],
        payload: body[header::BYTES..split].to_vec(),
    })
}

/// Streaming frame decoder: push received bytes, take frames or frame errors.
///
/// Empty frames (END END) are skipped; bytes before the first END are line noise
/// and dropped; a bad escape or an oversize frame drops everything up to the next END.
pub struct FrameDecoder {
    slip: serial_line_ip::Decoder,
    body: Vec<u8>,
    max_payload: usize,
    overflow: bool,
    out: VecDeque<Result<Frame, FrameError>>,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameDecoder {
    /// A decoder for device responses (payload up to [`MAX_RESPONSE_PAYLOAD`]).
    pub fn new() -> Self {
        Self::with_max_payload(MAX_RESPONSE_PAYLOAD.max(MAX_PAYLOAD))
    }

    /// A decoder with a given payload limit.
    pub fn with_max_payload(max_payload: usize) -> Self {
        FrameDecoder {
            slip: serial_line_ip::Decoder::new(),
            body: Vec::new(),
            max_payload,
            overflow: false,
            out: VecDeque::new(),
        }
    }

    /// Feed received bytes.
    pub fn push(&mut self, mut bytes: &[u8]) {
        let mut buf = [0u8; 256];
        while !bytes.is_empty() {
            match self.slip.decode(bytes, &mut buf) {
                Ok((used, decoded, end)) => {
                    if !self.overflow {
                        self.body.extend_from_slice(decoded);
                        if self.body.len() > self.max_payload + FRAME_OVERHEAD {
                            self.overflow = true;
                            self.body.clear();
                        }
                    }
                    bytes = &bytes[used..];
                    if end {
                        self.finish_frame();
                    }
                }
                Err(serial_line_ip::Error::BadHeaderDecode) => {
                    // Before the first END (or after a dropped frame): line noise.
                    bytes = &bytes[1..];
                }
                Err(_) => {
                    // Bad escape: drop this frame; a fresh decoder waits for the next END.
                    self.out.push_back(Err(FrameError::BadEscape));
                    self.slip = serial_line_ip::Decoder::new();
                    self.body.clear();
                    self.overflow = false;
                    bytes = &bytes[1..];
                }
            }
        }
    }

    fn finish_frame(&mut self) {
        if self.overflow {
            self.out.push_back(Err(FrameError::Oversize {
                max: self.max_payload,
            }));
        } else if !self.body.is_empty() {
            self.out.push_back(parse_body(&self.body, self.max_payload));
        }
        self.overflow = false;
        self.body.clear();
    }

    /// The next decoded frame or frame error, in arrival order.
    pub fn next_frame(&mut self) -> Option<Result<Frame, FrameError>> {
        self.out.pop_front()
    }

    /// Whether a partial frame is pending.
    pub fn in_frame(&self) -> bool {
        !self.body.is_empty() || self.overflow
    }
}

impl Iterator for FrameDecoder {
    type Item = Result<Frame, FrameError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_frame()
    }
}

// ---------------------------------------------------------------------------------
// Build information
// ---------------------------------------------------------------------------------

/// What a bitstream was built with, reported by IDENTIFY. The hardware gets the
/// bytes of [`BuildInfo::to_bytes`] as a constant at elaboration.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct BuildInfo {
    /// Protocol version the build speaks ([`PROTOCOL_VERSION`]).
    pub protocol_version: u8,
    /// Short ASCII build name (at most [`BUILD_NAME_LEN`] bytes).
    pub name: String,
    /// Processing lanes P.
    pub lanes: u16,
    /// Bits per unified-memory row.
    pub row_bits: u16,
    /// Unified-memory rows.
    pub rows: u16,
    /// Widest layer.
    pub max_width: u16,
    /// Most classes.
    pub max_classes: u16,
    /// Most stages.
    pub max_stages: u16,
    /// Most blocks.
    pub max_blocks: u16,
    /// Most timesteps.
    pub max_timesteps: u16,
    /// Input buffer entries.
    pub input_entries: u16,
    /// Turn-on state buffer entries.
    pub state_entries: u16,
    /// Receive FIFO depth of the link ([`RX_FIFO_DEPTH`]).
    pub rx_fifo: u16,
    /// Largest accepted request payload ([`MAX_PAYLOAD`]).
    pub max_payload: u16,
    /// Core clock in Hz.
    pub clock_hz: u32,
    /// UART baud rate.
    pub baud: u32,
}

impl BuildInfo {
    /// The UART bit period this build runs at (`clock_hz / baud` as an exact fraction,
    /// or within 0.5 % of it).
    pub fn bit_timing(&self) -> Result<BitTiming, ProtocolError> {
        BitTiming::from_rates(self.clock_hz, self.baud).map_err(|e| {
            ProtocolError::BadBuildInfo(format!(
                "clock {} Hz, baud {}: {e}",
                self.clock_hz, self.baud
            ))
        })
    }

    /// The IDENTIFY payload: version u8, 0 u8, name (8 bytes, NUL padded), then
    /// lanes, row_bits, rows, max_width, max_classes, max_stages, max_blocks,
    /// max_timesteps, input_entries, state_entries, rx_fifo, max_payload as u16 LE,
    /// then clock_hz and baud as u32 LE: [`BUILD_INFO_LEN`] bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, ProtocolError> {
        if self.name.len() > BUILD_NAME_LEN {
            return Err(ProtocolError::BadBuildInfo(format!(
                "name {:?} is longer than {BUILD_NAME_LEN} bytes",
                self.name
            )));
        }
        if !self.name.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ProtocolError::BadBuildInfo(format!(
                "name {:?} must be printable ASCII without spaces",
                self.name
            )));
        }
        let mut out = Vec::with_capacity(BUILD_INFO_LEN);
        out.push(self.protocol_version);
        out.push(0);
        let mut name = [0u8; BUILD_NAME_LEN];
        name[..self.name.len()].copy_from_slice(self.name.as_bytes());
        out.extend_from_slice(&name);
        for v in [
            self.lanes,
            self.row_bits,
            self.rows,
            self.max_width,
            self.max_classes,
            self.max_stages,
            self.max_blocks,
            self.max_timesteps,
            self.input_entries,
            self.state_entries,
            self.rx_fifo,
            self.max_payload,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&self.clock_hz.to_le_bytes());
        out.extend_from_slice(&self.baud.to_le_bytes());
        debug_assert_eq!(out.len(), BUILD_INFO_LEN);
        Ok(out)
    }

    /// Parse an IDENTIFY payload.
    pub fn from_bytes(b: &[u8]) -> Result<BuildInfo, ProtocolError> {
        if b.len() != BUILD_INFO_LEN {
            return Err(bad(
                "IDENTIFY",
                format!("{} bytes, expected {BUILD_INFO_LEN}", b.len()),
            ));
        }
        let name_bytes = &b[2..2 + BUILD_NAME_LEN];
        let end = name_bytes
            .iter()
            .position(|&c| c == 0)
            .unwrap_or(BUILD_NAME_LEN);
        if !name_bytes[..end].iter().all(|c| c.is_ascii_graphic()) {
            return Err(bad("IDENTIFY", "build name is not printable ASCII"));
        }
        let name = String::from_utf8_lossy(&name_bytes[..end]).into_owned();
        let h = |i: usize| u16::from_le_bytes([b[10 + 2 * i], b[11 + 2 * i]]);
        let w = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        Ok(BuildInfo {
            protocol_version: b[0],
            name,
            lanes: h(0),
            row_bits: h(1),
            rows: h(2),
            max_width: h(3),
            max_classes: h(4),
            max_stages: h(5),
            max_blocks: h(6),
            max_timesteps: h(7),
            input_entries: h(8),
            state_entries: h(9),
            rx_fifo: h(10),
            max_payload: h(11),
            clock_hz: w(34),
            baud: w(38),
        })
    }
}

// ---------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------

/// A request from the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Ask for the build information.
    Identify,
    /// Write `words` to consecutive word addresses starting at `addr`.
    Write {
        /// First word address (20 bits).
        addr: u32,
        /// Words to write (at most [`MAX_WRITE_WORDS`]).
        words: Vec<u16>,
    },
    /// Read `count` words from consecutive word addresses starting at `addr`.
    Read {
        /// First word address (20 bits).
        addr: u32,
        /// Word count (at most [`MAX_READ_WORDS`]).
        count: u16,
    },
    /// One input sample, raw u8 values.
    Input {
        /// The sample.
        bytes: Vec<u8>,
    },
    /// Run the network on the committed input.
    Run,
    /// Input then run in one frame.
    Infer {
        /// The sample.
        bytes: Vec<u8>,
    },
    /// Step the turn-on state back `steps` timesteps.
    Rewind {
        /// Number of steps.
        steps: u8,
    },
    /// Clear state, errors, counters; keep the model.
    Reset,
    /// Link flags, counters and the core's status words.
    Status,
    /// Start loading a model (clears `loaded`, `dirty` and the word counter).
    LoadBegin,
    /// Finish loading: `loaded` is set iff nothing was dirty and the word counter equals `expected_words`.
    LoadEnd {
        /// Words the host wrote since LOAD_BEGIN.
        expected_words: u32,
    },
    /// INFER with a zero-run encoded input ([`zero_run::encode`]).
    InferPacked {
        /// The encoded sample, sent as it is (tests send malformed ones too).
        packed: Vec<u8>,
    },
}

impl Command {
    /// The command code.
    pub fn code(&self) -> CommandCode {
        match self {
            Command::Identify => CommandCode::Identify,
            Command::Write { .. } => CommandCode::Write,
            Command::Read { .. } => CommandCode::Read,
            Command::Input { .. } => CommandCode::Input,
            Command::Run => CommandCode::Run,
            Command::Infer { .. } => CommandCode::Infer,
            Command::Rewind { .. } => CommandCode::Rewind,
            Command::Reset => CommandCode::Reset,
            Command::Status => CommandCode::Status,
            Command::LoadBegin => CommandCode::LoadBegin,
            Command::LoadEnd { .. } => CommandCode::LoadEnd,
            Command::InferPacked { .. } => CommandCode::InferPacked,
        }
    }

    /// INFER of `input` in the encoding that puts fewer bytes on the wire: INFER with
    /// the raw values, or INFER_PACKED with them zero-run encoded.
    pub fn infer_smallest(input: &[u8]) -> Command {
        let packed = zero_run::encode(input);
        if zero_run::wire_len(&packed) < zero_run::wire_len(input) {
            Command::InferPacked { packed }
        } else {
            Command::Infer {
                bytes: input.to_vec(),
            }
        }
    }

    /// Request to read the turn-on state: `stages * max_width` words of region 2 (N words per stage).
    pub fn read_state(stages: u16, max_width: u16) -> Result<Command, ProtocolError> {
        let count = stages as usize * max_width as usize;
        if count > MAX_READ_WORDS {
            return Err(ProtocolError::OutOfRange(format!(
                "state of {count} words exceeds one READ ({MAX_READ_WORDS}); read it in parts"
            )));
        }
        Ok(Command::Read {
            addr: addr::STATE,
            count: count as u16,
        })
    }

    /// Check that the command fits the protocol's limits.
    pub fn validate(&self) -> Result<(), ProtocolError> {
        match self {
            Command::Write { addr, words } => {
                if words.len() > MAX_WRITE_WORDS {
                    return Err(ProtocolError::OutOfRange(format!(
                        "WRITE of {} words exceeds {MAX_WRITE_WORDS}",
                        words.len()
                    )));
                }
                if *addr as u64 + words.len() as u64 > addr::LIMIT as u64 {
                    return Err(ProtocolError::OutOfRange(format!(
                        "WRITE at 0x{addr:x} of {} words passes the 20-bit address space",
                        words.len()
                    )));
                }
            }
            Command::Read { addr, count } => {
                if *count as usize > MAX_READ_WORDS {
                    return Err(ProtocolError::OutOfRange(format!(
                        "READ of {count} words exceeds {MAX_READ_WORDS}"
                    )));
                }
                if *addr >= addr::LIMIT {
                    return Err(ProtocolError::OutOfRange(format!(
                        "READ address 0x{addr:x} is outside the 20-bit address space"
                    )));
                }
            }
            Command::Input { bytes }
            | Command::Infer { bytes }
            | Command::InferPacked { packed: bytes }
                if bytes.len() > MAX_PAYLOAD =>
            {
                return Err(ProtocolError::OutOfRange(format!(
                    "input of {} bytes exceeds {MAX_PAYLOAD}",
                    bytes.len()
                )));
            }
            _ => {}
        }
        Ok(())
    }

    /// The request payload.
    pub fn payload(&self) -> Vec<u8> {
        match self {
            Command::Write { addr, words } => {
                let mut p = Vec::with_capacity(4 + 2 * words.len());
                p.extend_from_slice(&addr.to_le_bytes());
                for w in words {
                    p.extend_from_slice(&w.to_le_bytes());
                }
                p
            }
            Command::Read { addr, count } => {
                let mut p = addr.to_le_bytes().to_vec();
                p.extend_from_slice(&count.to_le_bytes());
                p
            }
            Command::Input { bytes }
            | Command::Infer { bytes }
            | Command::InferPacked { packed: bytes } => bytes.clone(),
            Command::Rewind { steps } => vec![*steps],
            Command::LoadEnd { expected_words } => expected_words.to_le_bytes().to_vec(),
            Command::Identify
            | Command::Run
            | Command::Reset
            | Command::Status
            | Command::LoadBegin => Vec::new(),
        }
    }

    /// The wire frame of this request with sequence number `seq`.
    pub fn to_frame(&self, seq: u8) -> Result<Vec<u8>, ProtocolError> {
        self.validate()?;
        Ok(encode_frame(self.code().code(), seq, &self.payload()))
    }

    /// Parse a request frame (device side: simulators and device models).
    pub fn parse(frame: &Frame) -> Result<Command, ProtocolError> {
        let code =
            CommandCode::from_code(frame.cmd).ok_or(ProtocolError::UnknownCommand(frame.cmd))?;
        let p = &frame.payload;
        match code.payload_rule() {
            rule if rule.allows(p.len()) => {}
            PayloadRule::Exactly(n) => {
                return Err(bad(code.name(), format!("{} bytes, expected {n}", p.len())))
            }
            _ => {
                return Err(bad(
                    code.name(),
                    format!("{} bytes; need a 4-byte address and whole words", p.len()),
                ))
            }
        }
        let u32_at = |o: usize| u32::from_le_bytes([p[o], p[o + 1], p[o + 2], p[o + 3]]);
        let cmd = match code {
            CommandCode::Identify => Command::Identify,
            CommandCode::Write => Command::Write {
                addr: u32_at(0),
                words: p[4..]
                    .chunks_exact(2)
                    .map(|c| u16::from_le_bytes([c[0], c[1]]))
                    .collect(),
            },
            CommandCode::Read => Command::Read {
                addr: u32_at(0),
                count: u16::from_le_bytes([p[4], p[5]]),
            },
            CommandCode::Input => Command::Input { bytes: p.clone() },
            CommandCode::Infer => Command::Infer { bytes: p.clone() },
            CommandCode::InferPacked => Command::InferPacked { packed: p.clone() },
            CommandCode::Run => Command::Run,
            CommandCode::Rewind => Command::Rewind { steps: p[0] },
            CommandCode::Reset => Command::Reset,
            CommandCode::Status => Command::Status,
            CommandCode::LoadBegin => Command::LoadBegin,
            CommandCode::LoadEnd => Command::LoadEnd {
                expected_words: u32_at(0),
            },
        };
        cmd.validate()
            .map_err(|e| bad(code.name(), e.to_string()))?;
        Ok(cmd)
    }
}

// ---------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------

/// Result of RUN / INFER: the core's status words and the logits.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct RunResult {
    /// Timesteps done (status word 0).
    pub timesteps: u16,
    /// Predicted class (status word 1).
    pub prediction: u16,
    /// Core clock cycles of the run (status words 2, 3).
    pub cycles: u32,
    /// Core status code (status word 4; always 0 in a RUN result, failures are error frames).
    pub status: u16,
    /// One logit per class.
    pub logits: Vec<i32>,
}

impl RunResult {
    /// The logits as the golden model gives them.
    pub fn logits_i64(&self) -> Vec<i64> {
        self.logits.iter().map(|&v| i64::from(v)).collect()
    }
}

/// The core's status words 0..4, as carried by RUN and STATUS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct CoreStatusWords {
    /// Timesteps done.
    pub timesteps: u16,
    /// Last prediction.
    pub prediction: u16,
    /// Cycles of the last command.
    pub cycles: u32,
    /// Status code of the last command.
    pub status: u16,
}

/// The link's register file as the device reads it, one 16-bit word each: STATUS
/// ends with words 0..4, LOAD_END is words 0..2, an error frame's payload is words
/// 5..6 ([`response_words`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkWord {
    /// Words written since LOAD_BEGIN, bits 15..0.
    WordsLo = 0,
    /// Words written since LOAD_BEGIN, bits 19..16.
    WordsHi = 1,
    /// [`flags`] in the low byte, the last error's code in the high byte.
    Flags = 2,
    /// CRC errors in the low byte, framing errors in the high byte.
    CrcFraming = 3,
    /// Timeouts in the low byte, overruns in the high byte.
    TimeoutOverrun = 4,
    /// An error frame's offending command (low byte) and error code (high byte).
    ErrorCommand = 5,
    /// An error frame's detail.
    ErrorDetail = 6,
}

impl LinkWord {
    pub const ALL: [LinkWord; 7] = [
        LinkWord::WordsLo,
        LinkWord::WordsHi,
        LinkWord::Flags,
        LinkWord::CrcFraming,
        LinkWord::TimeoutOverrun,
        LinkWord::ErrorCommand,
        LinkWord::ErrorDetail,
    ];

    pub const fn index(self) -> usize {
        self as usize
    }
}

/// Link flags (link word 2, low byte).
pub mod flags {
    /// A model was loaded completely and correctly.
    pub const LOADED: u16 = 1 << 0;
    /// A WRITE frame failed since LOAD_BEGIN: memory may hold garbage.
    pub const DIRTY: u16 = 1 << 1;
    /// The last INPUT was committed and accepted by the core.
    pub const INPUT_VALID: u16 = 1 << 2;
}

/// STATUS response.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct DeviceStatus {
    /// The core's status words.
    pub core: CoreStatusWords,
    /// Words written since LOAD_BEGIN (20 bits).
    pub words_written: u32,
    /// `flags::LOADED`.
    pub loaded: bool,
    /// `flags::DIRTY`.
    pub dirty: bool,
    /// `flags::INPUT_VALID`.
    pub input_valid: bool,
    /// Code of the last error frame sent since RESET (0 = none).
    pub last_error: u8,
    /// Frames dropped for a bad CRC (mod 256).
    pub crc_errors: u8,
    /// UART bytes with a bad stop bit (mod 256).
    pub framing_errors: u8,
    /// Half frames dropped after the inter-byte timeout (mod 256).
    pub timeouts: u8,
    /// Receive FIFO overflows (mod 256).
    pub overruns: u8,
}

/// A response from the device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    /// IDENTIFY.
    Identify(BuildInfo),
    /// WRITE accepted.
    Written,
    /// READ words.
    Read(Vec<u16>),
    /// INPUT committed: the core's status code and the input entries it used.
    InputAccepted {
        /// Core status (0).
        status: u16,
        /// Input entries used.
        entries: u16,
    },
    /// RUN or INFER.
    Run(RunResult),
    /// REWIND: timesteps done afterwards.
    Rewound {
        /// Timesteps done.
        timesteps: u16,
    },
    /// RESET done.
    ResetDone,
    /// STATUS.
    Status(DeviceStatus),
    /// LOAD_BEGIN done.
    LoadBegun,
    /// LOAD_END: word counter and flags.
    LoadEnded {
        /// Words written since LOAD_BEGIN.
        words: u32,
        /// Whether the model is now loaded.
        loaded: bool,
        /// Whether a WRITE failed during the load.
        dirty: bool,
    },
    /// Error frame.
    Error {
        /// Offending command code.
        cmd: u8,
        /// Error code byte (see [`ErrorCode`]).
        code: u8,
        /// Detail (core status for [`ErrorCode::Core`]).
        detail: u16,
    },
}

fn words_of(what: &'static str, p: &[u8]) -> Result<Vec<u16>, ProtocolError> {
    if p.len() & 1 != 0 {
        return Err(bad(what, format!("odd length {}", p.len())));
    }
    Ok(p.chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect())
}

fn push_words(out: &mut Vec<u8>, words: &[u16]) {
    for w in words {
        out.extend_from_slice(&w.to_le_bytes());
    }
}

impl CoreStatusWords {
    /// From the [`response_words::CORE_STATUS`] words, indexed by status register.
    fn from_words(w: &[u16]) -> CoreStatusWords {
        let r = |reg: StatusReg| w[reg as usize];
        CoreStatusWords {
            timesteps: r(StatusReg::TimestepsDone),
            prediction: r(StatusReg::Prediction),
            cycles: r(StatusReg::CyclesLo) as u32 | (r(StatusReg::CyclesHi) as u32) << 16,
            status: r(StatusReg::Code),
        }
    }
    fn words(&self) -> [u16; response_words::CORE_STATUS.words] {
        let mut w = [0; response_words::CORE_STATUS.words];
        w[StatusReg::TimestepsDone as usize] = self.timesteps;
        w[StatusReg::Prediction as usize] = self.prediction;
        w[StatusReg::CyclesLo as usize] = self.cycles as u16;
        w[StatusReg::CyclesHi as usize] = (self.cycles >> 16) as u16;
        w[StatusReg::Code as usize] = self.status;
        w
    }
}

impl Response {
    /// Response code on the wire (`cmd | 0x80`, or [`ERROR_CMD`]).
    pub fn wire_code(&self) -> u8 {
        let c = match self {
            Response::Identify(_) => CommandCode::Identify,
            Response::Written => CommandCode::Write,
            Response::Read(_) => CommandCode::Read,
            Response::InputAccepted { .. } => CommandCode::Input,
            Response::Run(_) => CommandCode::Run,
            Response::Rewound { .. } => CommandCode::Rewind,
            Response::ResetDone => CommandCode::Reset,
            Response::Status(_) => CommandCode::Status,
            Response::LoadBegun => CommandCode::LoadBegin,
            Response::LoadEnded { .. } => CommandCode::LoadEnd,
            Response::Error { .. } => return ERROR_CMD,
        };
        c.code() | RESPONSE_BIT
    }

    /// The response payload (device side).
    pub fn payload(&self) -> Result<Vec<u8>, ProtocolError> {
        let mut p = Vec::new();
        match self {
            Response::Identify(info) => {
                p = info.to_bytes()?;
            }
            Response::Written | Response::ResetDone | Response::LoadBegun => {}
            Response::Read(words) => push_words(&mut p, words),
            Response::InputAccepted { status, entries } => push_words(&mut p, &[*status, *entries]),
            Response::Run(r) => {
                push_words(
                    &mut p,
                    &CoreStatusWords {
                        timesteps: r.timesteps,
                        prediction: r.prediction,
                        cycles: r.cycles,
                        status: r.status,
                    }
                    .words(),
                );
                for l in &r.logits {
                    p.extend_from_slice(&l.to_le_bytes());
                }
            }
            Response::Rewound { timesteps } => push_words(&mut p, &[*timesteps]),
            Response::Status(s) => {
                push_words(&mut p, &s.core.words());
                push_words(&mut p, &link_words(s));
            }
            Response::LoadEnded {
                words,
                loaded,
                dirty,
            } => {
                let f =
                    if *loaded { flags::LOADED } else { 0 } | if *dirty { flags::DIRTY } else { 0 };
                push_words(&mut p, &[*words as u16, (*words >> 16) as u16, f]);
            }
            Response::Error { cmd, code, detail } => {
                p.extend_from_slice(&[*cmd, *code]);
                p.extend_from_slice(&detail.to_le_bytes());
            }
        }
        Ok(p)
    }

    /// The wire frame answering request `request_cmd` with sequence `seq` (device
    /// models): `request_cmd | 0x80`, or [`ERROR_CMD`] for an error.
    pub fn to_frame(&self, request_cmd: u8, seq: u8) -> Result<Vec<u8>, ProtocolError> {
        let code = match self {
            Response::Error { .. } => ERROR_CMD,
            _ => request_cmd | RESPONSE_BIT,
        };
        Ok(encode_frame(code, seq, &self.payload()?))
    }

    /// Parse a response frame.
    pub fn parse(frame: &Frame) -> Result<Response, ProtocolError> {
        use LinkWord::*;
        let p = &frame.payload;
        if frame.cmd == ERROR_CMD {
            let n = 2 * response_words::ERROR.words;
            if p.len() != n {
                return Err(bad("error", format!("{} bytes, expected {n}", p.len())));
            }
            return Ok(Response::Error {
                cmd: p[0],
                code: p[1],
                detail: u16::from_le_bytes([p[2], p[3]]),
            });
        }
        if frame.cmd & RESPONSE_BIT == 0 {
            return Err(ProtocolError::UnexpectedResponse(frame.cmd));
        }
        let code = CommandCode::from_code(frame.cmd & !RESPONSE_BIT)
            .ok_or(ProtocolError::UnexpectedResponse(frame.cmd))?;
        let name = code.name();
        let w = words_of(name, p)?;
        let need = |n: usize| -> Result<(), ProtocolError> {
            if w.len() == n {
                Ok(())
            } else {
                Err(bad(name, format!("{} words, expected {n}", w.len())))
            }
        };
        Ok(match code {
            CommandCode::Identify => Response::Identify(BuildInfo::from_bytes(p)?),
            CommandCode::Write => {
                need(0)?;
                Response::Written
            }
            CommandCode::Read => Response::Read(w),
            CommandCode::Input => {
                need(response_words::INPUT.words)?;
                Response::InputAccepted {
                    status: w[0],
                    entries: w[1],
                }
            }
            CommandCode::Run | CommandCode::Infer | CommandCode::InferPacked => {
                let n = response_words::CORE_STATUS.words;
                if w.len() < n || !(w.len() - n).is_multiple_of(2) {
                    return Err(bad(
                        name,
                        format!("{} words; need {n} status words and 2 per logit", w.len()),
                    ));
                }
                let s = CoreStatusWords::from_words(&w);
                Response::Run(RunResult {
                    timesteps: s.timesteps,
                    prediction: s.prediction,
                    cycles: s.cycles,
                    status: s.status,
                    logits: w[n..]
                        .chunks_exact(2)
                        .map(|c| (c[0] as u32 | (c[1] as u32) << 16) as i32)
                        .collect(),
                })
            }
            CommandCode::Rewind => {
                need(response_words::REWIND.words)?;
                Response::Rewound { timesteps: w[0] }
            }
            CommandCode::Reset => {
                need(0)?;
                Response::ResetDone
            }
            CommandCode::Status => {
                let n = response_words::CORE_STATUS.words;
                need(n + response_words::LINK_STATUS.words)?;
                let l = &w[n..];
                Response::Status(DeviceStatus {
                    core: CoreStatusWords::from_words(&w),
                    words_written: l[WordsLo.index()] as u32 | (l[WordsHi.index()] as u32) << 16,
                    loaded: l[Flags.index()] & flags::LOADED != 0,
                    dirty: l[Flags.index()] & flags::DIRTY != 0,
                    input_valid: l[Flags.index()] & flags::INPUT_VALID != 0,
                    last_error: (l[Flags.index()] >> 8) as u8,
                    crc_errors: l[CrcFraming.index()] as u8,
                    framing_errors: (l[CrcFraming.index()] >> 8) as u8,
                    timeouts: l[TimeoutOverrun.index()] as u8,
                    overruns: (l[TimeoutOverrun.index()] >> 8) as u8,
                })
            }
            CommandCode::LoadBegin => {
                need(0)?;
                Response::LoadBegun
            }
            CommandCode::LoadEnd => {
                need(response_words::LOAD_END.words)?;
                Response::LoadEnded {
                    words: w[WordsLo.index()] as u32 | (w[WordsHi.index()] as u32) << 16,
                    loaded: w[Flags.index()] & flags::LOADED != 0,
                    dirty: w[Flags.index()] & flags::DIRTY != 0,
                }
            }
        })
    }

    /// Turn an error frame into a [`ProtocolError`]; other responses pass through.
    pub fn into_result(self) -> Result<Response, ProtocolError> {
        match self {
            Response::Error { cmd, code, detail } => match ErrorCode::from_code(code) {
                Some(code) => Err(ProtocolError::Device {
                    cmd: CommandCode::from_code(cmd)
                        .map(|c| c.name().to_string())
                        .unwrap_or_else(|| format!("command 0x{cmd:02x}")),
                    code,
                    detail,
                }),
                None => Err(ProtocolError::UnknownDeviceError { cmd, code }),
            },
            other => Ok(other),
        }
    }
}

/// Link words 0..4 of a STATUS response (the device's link register file).
fn link_words(s: &DeviceStatus) -> [u16; response_words::LINK_STATUS.words] {
    let f = if s.loaded { flags::LOADED } else { 0 }
        | if s.dirty { flags::DIRTY } else { 0 }
        | if s.input_valid { flags::INPUT_VALID } else { 0 };
    let mut w = [0; response_words::LINK_STATUS.words];
    w[LinkWord::WordsLo.index()] = s.words_written as u16;
    w[LinkWord::WordsHi.index()] = (s.words_written >> 16) as u16;
    w[LinkWord::Flags.index()] = f | (s.last_error as u16) << 8;
    w[LinkWord::CrcFraming.index()] = s.crc_errors as u16 | (s.framing_errors as u16) << 8;
    w[LinkWord::TimeoutOverrun.index()] = s.timeouts as u16 | (s.overruns as u16) << 8;
    w
}

// ---------------------------------------------------------------------------------
// Zero-run encoding of inputs (INFER_PACKED)
// ---------------------------------------------------------------------------------

/// The input encoding of INFER_PACKED (protocol version 2): a nonzero byte is a
/// literal value; `0x00` followed by a count byte `L` stands for `L + 1` zero values
/// (1..=256). A payload that ends right after a `0x00`, or that expands to more than
/// [`MAX_PAYLOAD`] values, is refused with `BAD_ARGUMENTS`; one that expands to the
/// wrong length for the model is refused by the core like a raw INFER of that length.
///
/// The device expands a run at one zero per two clocks (the input compactor's pace),
/// so [`zero_run::encode`] cuts runs at [`zero_run::ENCODER_MAX_RUN`] zeros: a two-byte token then never
/// takes longer to expand than to arrive at 12 Mbaud, and pipelined frames never back
/// up in the receive FIFO. Longer runs are valid; a frame of many of them can outpace
/// the expansion at 12 Mbaud and be answered OVERRUN.
pub mod zero_run {
    use super::{MAX_PAYLOAD, SLIP_END, SLIP_ESC};

    /// Longest run one token of [`encode`] carries.
    pub const ENCODER_MAX_RUN: usize = 80;
    /// Longest run one token can carry.
    pub const MAX_RUN: usize = 256;

    /// Why an encoded payload does not decode.
    #[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
    pub enum Error {
        /// The payload ends inside a run token (a `0x00` without its count byte).
        #[error("payload ends inside a zero-run token (0x00 without its count)")]
        Truncated,
        /// More values than one input may have.
        #[error("payload expands to more than {MAX_PAYLOAD} values")]
        TooLong,
    }

    /// The zero-run encoding of `input`, runs cut at [`ENCODER_MAX_RUN`].
    pub fn encode(input: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(input.len());
        let mut i = 0;
        while i < input.len() {
            if input[i] != 0 {
                out.push(input[i]);
                i += 1;
                continue;
            }
            let run = input[i..]
                .iter()
                .take(ENCODER_MAX_RUN)
                .take_while(|&&v| v == 0)
                .count();
            out.push(0);
            out.push((run - 1) as u8);
            i += run;
        }
        out
    }

    /// The values `packed` stands for (host-side check and tests; the device expands
    /// the same way as the bytes arrive).
    pub fn decode(packed: &[u8]) -> Result<Vec<u8>, Error> {
        let mut out = Vec::with_capacity(2 * packed.len());
        let mut it = packed.iter();
        while let Some(&b) = it.next() {
            if b != 0 {
                out.push(b);
            } else {
                let l = *it.next().ok_or(Error::Truncated)?;
                out.extend(std::iter::repeat_n(0, l as usize + 1));
            }
            if out.len() > MAX_PAYLOAD {
                return Err(Error::TooLong);
            }
        }
        Ok(out)
    }

    /// Bytes a payload takes on the wire after SLIP escaping.
    pub fn wire_len(payload: &[u8]) -> usize {
        payload.len()
            + payload
                .iter()
                .filter(|&&b| b == SLIP_END || b == SLIP_ESC)
                .count()
    }
}

// ---------------------------------------------------------------------------------
// Flow control
// ---------------------------------------------------------------------------------

/// END bytes to send after a frame whose execution takes `exec_cycles` core clocks,
/// so that the next frame's bytes do not pile up in the device's receive FIFO while
/// it executes (consecutive ENDs take no FIFO room): the bytes the line carries in
/// that time at the build's bit timing (25/3 clocks per bit on the Cu at 12 Mbaud),
/// rounded up. One spare byte covers the response start-up.
pub fn padding_ends(exec_cycles: u64, timing: BitTiming) -> usize {
    (timing.bytes_in_cycles(exec_cycles) + 1) as usize
}

// ---------------------------------------------------------------------------------
// A transport-independent client, used by the host and by every test bench
// ---------------------------------------------------------------------------------

/// Byte transport to a device: the serial port, the Verilator model, or the
/// rust-hdl simulator's UART pins.
pub trait Transport {
    /// Send raw wire bytes.
    fn send(&mut self, bytes: &[u8]) -> Result<(), String>;
    /// Receive whatever arrives within the transport's patience; empty means it timed out.
    fn recv(&mut self) -> Result<Vec<u8>, String>;
    /// Keep the line idle for `micros` microseconds of device time.
    fn pause(&mut self, micros: u64) -> Result<(), String> {
        std::thread::sleep(std::time::Duration::from_micros(micros));
        Ok(())
    }
}

/// Errors of [`Client`].
#[derive(Debug, Error)]
pub enum ClientError {
    /// Transport failure.
    #[error("transport: {0}")]
    Transport(String),
    /// No response within the transport's patience.
    #[error("no response to {0} (timeout)")]
    Timeout(&'static str),
    /// A received frame was damaged.
    #[error("damaged response: {0}")]
    Frame(#[from] FrameError),
    /// Protocol-level failure (including device error frames).
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// The response answered another request.
    #[error("response sequence {got} does not match request {want}")]
    Sequence {
        /// Expected seq.
        want: u8,
        /// Received seq.
        got: u8,
    },
}

/// Request/response client over any [`Transport`].
pub struct Client<T: Transport> {
    /// The transport.
    pub transport: T,
    decoder: FrameDecoder,
    seq: u8,
    /// Empty `recv` results tolerated before a request times out.
    pub patience: usize,
}

impl<T: Transport> Client<T> {
    /// A client starting at sequence number 0.
    pub fn new(transport: T) -> Self {
        Client {
            transport,
            decoder: FrameDecoder::new(),
            seq: 0,
            patience: 4,
        }
    }

    /// Sequence number the next request will carry.
    pub fn next_seq(&self) -> u8 {
        self.seq
    }

    /// Send raw bytes (tests inject noise with this).
    pub fn send_raw(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        self.transport.send(bytes).map_err(ClientError::Transport)
    }

    /// Wait for the next frame (good or damaged).
    pub fn recv_frame(&mut self) -> Result<Result<Frame, FrameError>, ClientError> {
        let mut idle = 0;
        loop {
            if let Some(f) = self.decoder.next_frame() {
                return Ok(f);
            }
            let bytes = self.transport.recv().map_err(ClientError::Transport)?;
            if bytes.is_empty() {
                idle += 1;
                if idle > self.patience {
                    return Err(ClientError::Timeout("frame"));
                }
            }
            self.decoder.push(&bytes);
        }
    }

    /// Send a request frame without waiting; returns its seq.
    pub fn send(&mut self, cmd: &Command) -> Result<u8, ClientError> {
        let seq = self.seq;
        let frame = cmd.to_frame(seq)?;
        self.seq = self.seq.wrapping_add(1);
        self.send_raw(&frame)?;
        Ok(seq)
    }

    /// Receive the response to request `seq`, skipping stale frames of other requests.
    pub fn recv_response(&mut self, seq: u8) -> Result<Response, ClientError> {
        loop {
            let frame = match self.recv_frame()? {
                Ok(f) => f,
                // Line noise between frames: not an answer at all.
                Err(FrameError::TooShort(_)) => continue,
                Err(e) => return Err(e.into()),
            };
            if frame.seq != seq {
                // A late answer to an abandoned request, or noise that parsed.
                continue;
            }
            return Ok(Response::parse(&frame)?);
        }
    }

    /// Send `cmd` and return its response (error frames included, unconverted).
    pub fn request_raw(&mut self, cmd: &Command) -> Result<Response, ClientError> {
        let seq = self.send(cmd)?;
        self.recv_response(seq)
    }

    /// Send `cmd` and return its response; error frames become [`ProtocolError::Device`].
    pub fn request(&mut self, cmd: &Command) -> Result<Response, ClientError> {
        Ok(self.request_raw(cmd)?.into_result()?)
    }

    /// IDENTIFY.
    pub fn identify(&mut self) -> Result<BuildInfo, ClientError> {
        match self.request(&Command::Identify)? {
            Response::Identify(b) => Ok(b),
            r => Err(unexpected(r)),
        }
    }

    /// READ.
    pub fn read(&mut self, addr: u32, count: u16) -> Result<Vec<u16>, ClientError> {
        match self.request(&Command::Read { addr, count })? {
            Response::Read(w) if w.len() == count as usize => Ok(w),
            r => Err(unexpected(r)),
        }
    }

    /// WRITE.
    pub fn write(&mut self, addr: u32, words: &[u16]) -> Result<(), ClientError> {
        match self.request(&Command::Write {
            addr,
            words: words.to_vec(),
        })? {
            Response::Written => Ok(()),
            r => Err(unexpected(r)),
        }
    }

    /// STATUS.
    pub fn status(&mut self) -> Result<DeviceStatus, ClientError> {
        match self.request(&Command::Status)? {
            Response::Status(s) => Ok(s),
            r => Err(unexpected(r)),
        }
    }

    /// LOAD_BEGIN, WRITE each `(addr, words)` chunk, LOAD_END; retries a chunk
    /// answered with a link error (CRC, length, overrun) up to `retries` times.
    /// Returns whether the device reports the model loaded.
    pub fn load(
        &mut self,
        chunks: &[(u32, Vec<u16>)],
        retries: usize,
    ) -> Result<bool, ClientError> {
        self.request(&Command::LoadBegin)?;
        let mut total: u32 = 0;
        for (a, words) in chunks {
            let mut tries = 0;
            loop {
                match self.write(*a, words) {
                    Ok(()) => break,
                    Err(e) if tries < retries && is_retryable(&e) => tries += 1,
                    Err(e) => return Err(e),
                }
            }
            total += words.len() as u32;
        }
        match self.request(&Command::LoadEnd {
            expected_words: total,
        })? {
            Response::LoadEnded { loaded, .. } => Ok(loaded),
            r => Err(unexpected(r)),
        }
    }
}

/// Whether a failed request may simply be sent again (a damaged frame on either side).
pub fn is_retryable(e: &ClientError) -> bool {
    match e {
        ClientError::Timeout(_) | ClientError::Frame(_) => true,
        ClientError::Protocol(ProtocolError::Device { code, .. }) => matches!(
            code,
            ErrorCode::BadCrc | ErrorCode::Length | ErrorCode::Overrun
        ),
        _ => false,
    }
}

fn unexpected(r: Response) -> ClientError {
    ClientError::Protocol(ProtocolError::UnexpectedResponse(r.wire_code()))
}

/// Link-level conformance scenarios, independent of the core behind the host port:
/// the same checks run against the rust-hdl simulation, the Verilator model and a
/// board. Each returns a one-line description of the first failure.
pub mod conformance {
    use super::*;

    /// Outcome of a scenario.
    pub type Outcome = Result<(), String>;

    fn ce(e: ClientError) -> String {
        e.to_string()
    }

    fn expect_error<T: Transport>(c: &mut Client<T>, seq: u8, cmd: u8, code: ErrorCode) -> Outcome {
        match c.recv_response(seq).map_err(ce)? {
            Response::Error {
                cmd: got_cmd,
                code: got,
                ..
            } if got_cmd == cmd && got == code.code() => Ok(()),
            r => Err(format!(
                "expected error {code:?} for command 0x{cmd:02x}, got {r:?}"
            )),
        }
    }

    /// The link still answers a good frame correctly.
    pub fn still_alive<T: Transport>(c: &mut Client<T>, info: &BuildInfo) -> Outcome {
        let got = c.identify().map_err(ce)?;
        if &got != info {
            return Err(format!("IDENTIFY returned {got:?}, expected {info:?}"));
        }
        Ok(())
    }

    /// IDENTIFY returns the build information.
    pub fn identify<T: Transport>(c: &mut Client<T>, info: &BuildInfo) -> Outcome {
        still_alive(c, info)
    }

    /// Words with SLIP special bytes written to region 0 read back unchanged.
    pub fn write_read_back<T: Transport>(c: &mut Client<T>, base: u32) -> Outcome {
        let words: Vec<u16> = (0..40u16)
            .map(|i| match i % 4 {
                0 => 0xC0DB,
                1 => 0xDBC0,
                2 => i.wrapping_mul(0x1357),
                _ => 0xC0C0 ^ i,
            })
            .collect();
        c.write(base, &words).map_err(ce)?;
        let back = c.read(base, words.len() as u16).map_err(ce)?;
        if back != words {
            return Err(format!("read back {back:04x?}, wrote {words:04x?}"));
        }
        let one = c.read(base + 7, 1).map_err(ce)?;
        if one != [words[7]] {
            return Err(format!("single-word read gave {one:?}"));
        }
        Ok(())
    }

    /// A WRITE with a corrupted CRC is refused, marks the device dirty, and counts.
    pub fn bad_crc<T: Transport>(c: &mut Client<T>, info: &BuildInfo) -> Outcome {
        let before = c.status().map_err(ce)?;
        let seq = 0xA5;
        let cmd = Command::Write {
            addr: 0x300,
            words: vec![1, 2, 3, 4],
        };
        let mut body = frame_body(CommandCode::Write.code(), seq, &cmd.payload());
        let n = body.len();
        body[n - 2] ^= 0x5A;
        c.send_raw(&slip_encode(&body)).map_err(ce)?;
        expect_error(c, seq, CommandCode::Write.code(), ErrorCode::BadCrc)?;
        let after = c.status().map_err(ce)?;
        if !after.dirty {
            return Err("a WRITE with a bad CRC did not set dirty".into());
        }
        if after.crc_errors != before.crc_errors.wrapping_add(1) {
            return Err(format!(
                "CRC error counter went {} -> {}",
                before.crc_errors, after.crc_errors
            ));
        }
        if after.last_error != ErrorCode::BadCrc.code() {
            return Err(format!("last error {} after a bad CRC", after.last_error));
        }
        still_alive(c, info)
    }

    /// Frames shorter or longer than their length field are refused.
    pub fn length_mismatch<T: Transport>(c: &mut Client<T>, info: &BuildInfo) -> Outcome {
        // A READ missing one payload byte.
        let seq = 0x31;
        let mut body = frame_body(
            CommandCode::Read.code(),
            seq,
            &Command::Read { addr: 0, count: 2 }.payload(),
        );
        body.remove(6);
        c.send_raw(&slip_encode(&body)).map_err(ce)?;
        expect_error(c, seq, CommandCode::Read.code(), ErrorCode::Length)?;
        // A STATUS with two extra bytes.
        let seq = 0x32;
        let mut body = frame_body(CommandCode::Status.code(), seq, &[]);
        body.extend_from_slice(&[0x12, 0x34]);
        c.send_raw(&slip_encode(&body)).map_err(ce)?;
        expect_error(c, seq, CommandCode::Status.code(), ErrorCode::Length)?;
        still_alive(c, info)
    }

    /// A length field above the maximum is refused and the rest of the frame dropped.
    pub fn oversize<T: Transport>(c: &mut Client<T>, info: &BuildInfo) -> Outcome {
        let seq = 0x44;
        let mut body = vec![CommandCode::Input.code(), seq, 0xFF, 0xFF];
        body.extend((0..40u8).map(|i| i.wrapping_mul(7)));
        c.send_raw(&slip_encode(&body)).map_err(ce)?;
        expect_error(c, seq, CommandCode::Input.code(), ErrorCode::Oversize)?;
        still_alive(c, info)
    }

    /// Noise outside frames and short noise "frames" get no answer and do no harm.
    pub fn garbage_between_frames<T: Transport>(c: &mut Client<T>, info: &BuildInfo) -> Outcome {
        c.send_raw(&[0x00, 0x55, 0xFF, SLIP_END, 0x13, 0x37, SLIP_END, SLIP_END])
            .map_err(ce)?;
        still_alive(c, info)?;
        let mut wire = vec![0x42, 0x24];
        let seq = c.next_seq();
        wire.extend(Command::Identify.to_frame(seq).map_err(|e| e.to_string())?);
        c.send_raw(&wire).map_err(ce)?;
        match c.recv_response(seq).map_err(ce)? {
            Response::Identify(_) => {}
            r => return Err(format!("IDENTIFY after noise answered {r:?}")),
        }
        still_alive(c, info)
    }

    /// Unknown commands and malformed arguments are refused.
    pub fn bad_requests<T: Transport>(c: &mut Client<T>, info: &BuildInfo) -> Outcome {
        c.send_raw(&encode_frame(0x3C, 7, &[1, 2, 3])).map_err(ce)?;
        expect_error(c, 7, 0x3C, ErrorCode::UnknownCommand)?;
        c.send_raw(&encode_frame(CommandCode::Read.code(), 8, &[0, 0, 0, 0, 1]))
            .map_err(ce)?;
        expect_error(c, 8, CommandCode::Read.code(), ErrorCode::BadArguments)?;
        let too_many = (MAX_READ_WORDS as u16 + 1).to_le_bytes();
        c.send_raw(&encode_frame(
            CommandCode::Read.code(),
            9,
            &[0, 0, 0, 0, too_many[0], too_many[1]],
        ))
        .map_err(ce)?;
        expect_error(c, 9, CommandCode::Read.code(), ErrorCode::BadArguments)?;
        c.send_raw(&encode_frame(CommandCode::Run.code(), 10, &[0]))
            .map_err(ce)?;
        expect_error(c, 10, CommandCode::Run.code(), ErrorCode::BadArguments)?;
        still_alive(c, info)
    }

    /// LOAD_BEGIN / WRITE / LOAD_END bookkeeping, including refusal to run unloaded.
    pub fn load_cycle<T: Transport>(c: &mut Client<T>) -> Outcome {
        let chunks: Vec<(u32, Vec<u16>)> = (0..3u32)
            .map(|k| {
                (
                    0x400 + 16 * k,
                    (0..16u16).map(|i| i * 3 + k as u16).collect(),
                )
            })
            .collect();
        if !c.load(&chunks, 0).map_err(ce)? {
            return Err("a clean load was not reported loaded".into());
        }
        let s = c.status().map_err(ce)?;
        if !s.loaded || s.dirty || s.words_written != 48 {
            return Err(format!("after a clean load STATUS says {s:?}"));
        }
        // Wrong expected count.
        c.request(&Command::LoadBegin).map_err(ce)?;
        c.write(0x400, &[1, 2]).map_err(ce)?;
        match c
            .request(&Command::LoadEnd { expected_words: 3 })
            .map_err(ce)?
        {
            Response::LoadEnded {
                words: 2,
                loaded: false,
                dirty: false,
            } => {}
            r => return Err(format!("LOAD_END with a wrong count answered {r:?}")),
        }
        let seq = c.send(&Command::Run).map_err(ce)?;
        expect_error(c, seq, CommandCode::Run.code(), ErrorCode::NotLoaded)?;
        // A corrupted WRITE inside a load: dirty, not loaded even with the right count.
        c.request(&Command::LoadBegin).map_err(ce)?;
        c.write(0x400, &[1, 2]).map_err(ce)?;
        let mut body = frame_body(
            CommandCode::Write.code(),
            0x77,
            &Command::Write {
                addr: 0x402,
                words: vec![3, 4],
            }
            .payload(),
        );
        body[8] ^= 1;
        c.send_raw(&slip_encode(&body)).map_err(ce)?;
        expect_error(c, 0x77, CommandCode::Write.code(), ErrorCode::BadCrc)?;
        match c
            .request(&Command::LoadEnd { expected_words: 4 })
            .map_err(ce)?
        {
            Response::LoadEnded {
                loaded: false,
                dirty: true,
                ..
            } => {}
            r => return Err(format!("LOAD_END after a bad WRITE answered {r:?}")),
        }
        // A clean reload recovers.
        if !c.load(&chunks, 0).map_err(ce)? {
            return Err("reload after a dirty load failed".into());
        }
        Ok(())
    }

    /// RESET in the middle of a load keeps the load session and clears the counters.
    pub fn reset_mid_load<T: Transport>(c: &mut Client<T>) -> Outcome {
        c.request(&Command::LoadBegin).map_err(ce)?;
        c.write(0x500, &[9; 8]).map_err(ce)?;
        match c.request(&Command::Reset).map_err(ce)? {
            Response::ResetDone => {}
            r => return Err(format!("RESET answered {r:?}")),
        }
        let s = c.status().map_err(ce)?;
        if s.crc_errors != 0 || s.timeouts != 0 || s.last_error != 0 || s.words_written != 8 {
            return Err(format!("after RESET mid-load STATUS says {s:?}"));
        }
        c.write(0x508, &[7; 8]).map_err(ce)?;
        match c
            .request(&Command::LoadEnd { expected_words: 16 })
            .map_err(ce)?
        {
            Response::LoadEnded { loaded: true, .. } => {}
            r => return Err(format!("LOAD_END after RESET mid-load answered {r:?}")),
        }
        let back = c.read(0x500, 16).map_err(ce)?;
        if back[..8] != [9; 8] || back[8..] != [7; 8] {
            return Err(format!("memory after RESET mid-load: {back:?}"));
        }
        Ok(())
    }

    /// A half frame followed by silence times out with a LENGTH error; the next frame is answered.
    pub fn half_frame_timeout<T: Transport>(
        c: &mut Client<T>,
        info: &BuildInfo,
        timeout_micros: u64,
    ) -> Outcome {
        let before = c.status().map_err(ce)?;
        let wire = Command::Read {
            addr: 0x10,
            count: 3,
        }
        .to_frame(0x66)
        .map_err(|e| e.to_string())?;
        c.send_raw(&wire[..5]).map_err(ce)?;
        c.transport.pause(2 * timeout_micros + 100)?;
        // Its header arrived, so the device names it in a LENGTH error.
        expect_error(c, 0x66, CommandCode::Read.code(), ErrorCode::Length)?;
        still_alive(c, info)?;
        let after = c.status().map_err(ce)?;
        if after.timeouts != before.timeouts.wrapping_add(1) {
            return Err(format!(
                "timeout counter went {} -> {}",
                before.timeouts, after.timeouts
            ));
        }
        Ok(())
    }

    /// RUN, INFER and INFER_PACKED with no clean model answer NOT_LOADED.
    pub fn not_loaded<T: Transport>(c: &mut Client<T>, info: &BuildInfo) -> Outcome {
        c.request(&Command::LoadBegin).map_err(ce)?;
        for (cmd, code) in [
            (Command::Run, CommandCode::Run),
            (Command::Infer { bytes: vec![1; 9] }, CommandCode::Infer),
            (
                Command::InferPacked {
                    packed: vec![1, 0, 7],
                },
                CommandCode::InferPacked,
            ),
        ] {
            let seq = c.send(&cmd).map_err(ce)?;
            expect_error(c, seq, code.code(), ErrorCode::NotLoaded)?;
        }
        still_alive(c, info)
    }

    /// WRITE and READ outside the regions they may address, or running out of their
    /// region, are refused; a WRITE to the model after LOAD_END clears `loaded`.
    pub fn address_checks<T: Transport>(c: &mut Client<T>, info: &BuildInfo) -> Outcome {
        let first = c.read(addr::MEMORY, 2).map_err(ce)?;
        for (a, n) in [
            (0xF_FFFEu32, 4usize),
            (0x5_0000, 1),
            (0xF_0000, 1),
            (addr::LOGITS, 1),
            (addr::STATUS, 1),
            (0x0_FFFF, 2),
        ] {
            let mut p = a.to_le_bytes().to_vec();
            p.extend(std::iter::repeat_n(0x5A, 2 * n));
            c.send_raw(&encode_frame(CommandCode::Write.code(), 0x52, &p))
                .map_err(ce)?;
            expect_error(c, 0x52, CommandCode::Write.code(), ErrorCode::BadArguments)
                .map_err(|e| format!("WRITE at 0x{a:05x} of {n} words: {e}"))?;
        }
        for (a, n) in [(0x5_0000u32, 1u16), (0xF_0000, 1), (0x3_FFFF, 2)] {
            let mut p = a.to_le_bytes().to_vec();
            p.extend(n.to_le_bytes());
            c.send_raw(&encode_frame(CommandCode::Read.code(), 0x53, &p))
                .map_err(ce)?;
            expect_error(c, 0x53, CommandCode::Read.code(), ErrorCode::BadArguments)
                .map_err(|e| format!("READ at 0x{a:05x} of {n} words: {e}"))?;
        }
        if c.read(addr::MEMORY, 2).map_err(ce)? != first {
            return Err("a refused WRITE changed region 0".into());
        }
        // A clean load, then a WRITE to it.
        if !c.load(&[(0x600, vec![1, 2, 3])], 0).map_err(ce)? {
            return Err("a clean load was not reported loaded".into());
        }
        c.write(addr::STATE, &[0]).map_err(ce)?;
        if !c.status().map_err(ce)?.loaded {
            return Err("a WRITE to the turn-on state cleared loaded".into());
        }
        c.write(0x601, &[9]).map_err(ce)?;
        let s = c.status().map_err(ce)?;
        if s.loaded {
            return Err(format!("a WRITE to the model after LOAD_END left {s:?}"));
        }
        still_alive(c, info)
    }

    /// Malformed INFER_PACKED payloads are refused before anything runs: one that
    /// ends inside a run token, one that expands past [`MAX_PAYLOAD`] values, one with
    /// a bad CRC.
    pub fn packed_errors<T: Transport>(c: &mut Client<T>, info: &BuildInfo) -> Outcome {
        // A clean load first, so NOT_LOADED does not answer before the payload counts.
        if !c.load(&[(0x600, vec![1, 2, 3])], 0).map_err(ce)? {
            return Err("a clean load was not reported loaded".into());
        }
        let code = CommandCode::InferPacked.code();
        for (what, p) in [
            ("ends inside a token", vec![5, 0, 3, 9, 0]),
            // Runs of at most 80, so the expansion keeps pace with the line (longer
            // runs may be answered OVERRUN first, see docs/protocol.md).
            (
                "expands past MAX_PAYLOAD",
                zero_run::encode(&[0; MAX_PAYLOAD + 1]),
            ),
        ] {
            c.send_raw(&encode_frame(code, 0x54, &p)).map_err(ce)?;
            expect_error(c, 0x54, code, ErrorCode::BadArguments)
                .map_err(|e| format!("INFER_PACKED that {what}: {e}"))?;
        }
        let mut body = frame_body(code, 0x55, &[3, 0, 9, 4]);
        body[5] ^= 0x10;
        c.send_raw(&slip_encode(&body)).map_err(ce)?;
        expect_error(c, 0x55, code, ErrorCode::BadCrc)?;
        still_alive(c, info)
    }

    /// A named scenario step: client, build information, timeout in microseconds.
    type Step<T> = (&'static str, fn(&mut Client<T>, &BuildInfo, u64) -> Outcome);

    /// Every link scenario that needs nothing from the core but memory.
    pub fn all<T: Transport>(c: &mut Client<T>, info: &BuildInfo, timeout_micros: u64) -> Outcome {
        let steps: [Step<T>; 13] = [
            ("identify", |c, i, _| identify(c, i)),
            ("write_read_back", |c, _, _| write_read_back(c, 0x100)),
            ("bad_crc", |c, i, _| bad_crc(c, i)),
            ("length_mismatch", |c, i, _| length_mismatch(c, i)),
            ("oversize", |c, i, _| oversize(c, i)),
            ("garbage_between_frames", |c, i, _| {
                garbage_between_frames(c, i)
            }),
            ("bad_requests", |c, i, _| bad_requests(c, i)),
            ("not_loaded", |c, i, _| not_loaded(c, i)),
            ("address_checks", |c, i, _| address_checks(c, i)),
            ("packed_errors", |c, i, _| packed_errors(c, i)),
            ("load_cycle", |c, _, _| load_cycle(c)),
            ("reset_mid_load", |c, _, _| reset_mid_load(c)),
            ("half_frame_timeout", |c, i, t| half_frame_timeout(c, i, t)),
        ];
        for (name, f) in steps {
            f(c, info, timeout_micros).map_err(|e| format!("{name}: {e}"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_forms_agree() {
        assert_eq!(crc16(b"123456789"), 0x29B1);
        let data: Vec<u8> = (0..=255u8).chain([0xC0, 0xDB, 0, 7]).collect();
        let stepped = data.iter().fold(0xFFFF, |c, &b| crc16_step(c, b));
        assert_eq!(stepped, crc16(&data));
    }
}
