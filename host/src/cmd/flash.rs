//! `revspike flash BITSTREAM`: writes a bitstream to the Alchitry Cu's SPI flash with
//! `iceprog` (fpga-icestorm); the board then boots it.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context, Result};
use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct FlashArgs {
    /// Bitstream (.bin from icepack, e.g. bitstreams/alchitry-cu/revspike-cu.bin).
    pub bitstream: PathBuf,
    /// The iceprog program to run.
    #[arg(long, default_value = revspike_proto::board::ALCHITRY_CU.programmer)]
    pub iceprog: PathBuf,
    /// FTDI device for iceprog's -d (default: iceprog's own choice, the first FT2232H).
    #[arg(long, value_name = "DEVSTR")]
    pub device: Option<String>,
}

/// The iceprog command line for these arguments.
pub fn command(a: &FlashArgs) -> Command {
    let mut c = Command::new(&a.iceprog);
    if let Some(d) = &a.device {
        c.arg("-d").arg(d);
    }
    c.arg(&a.bitstream);
    c
}

/// The iCE40 configuration preamble every bitstream starts its command stream with.
pub const PREAMBLE: [u8; 4] = [0x7e, 0xaa, 0x99, 0x7e];

/// The iCE40-HX8K's configuration RAM bank width, which icepack writes in the
/// bitstream's "set bank width" command (0x62, width - 1 in two bytes).
pub const HX8K_BANK_WIDTH: usize = 872;

/// The size icepack gives an HX8K bitstream without a comment; a comment adds its
/// length. Anything far off is not a bitstream for the Alchitry Cu.
pub const HX8K_BYTES: u64 = 135_100;

/// The most bytes a comment before the preamble may take.
const MAX_COMMENT: usize = 4096;

/// Checks that `bytes` are an icepack bitstream for the iCE40-HX8K: an optional
/// `FF 00 comment 00 FF` prefix, the preamble, a bank width of 872 among the first
/// commands, and a plausible size. The error says what was found instead.
pub fn check_bitstream(bytes: &[u8]) -> Result<()> {
    let n = bytes.len() as u64;
    let mut at = 0;
    if bytes.starts_with(&[0xff, 0x00]) {
        // icepack's comment block: FF 00, text, 00 FF.
        at = bytes
            .windows(2)
            .take(MAX_COMMENT)
            .skip(2)
            .position(|w| w == [0x00, 0xff])
            .map(|p| p + 4)
            .ok_or_else(|| {
                anyhow::anyhow!("the comment block (FF 00 ...) never ends with 00 FF")
            })?;
    }
    if bytes.get(at..at + 4) != Some(&PREAMBLE[..]) {
        let start: Vec<String> = bytes.iter().take(8).map(|b| format!("{b:02x}")).collect();
        bail!(
            "not an iCE40 bitstream: no preamble 7e aa 99 7e at byte {at} (the file starts {})",
            if start.is_empty() {
                "empty".to_string()
            } else {
                start.join(" ")
            }
        );
    }
    // The first commands: opcode in the high nibble, payload bytes in the low one.
    let mut i = at + 4;
    let mut width = None;
    while i < bytes.len() && i < at + 64 {
        let (op, len) = (bytes[i] >> 4, (bytes[i] & 0x0f) as usize);
        let Some(payload) = bytes.get(i + 1..i + 1 + len) else {
            break; // the file ends inside a command
        };
        if op == 0x6 && len == 2 {
            width = Some(((payload[0] as usize) << 8 | payload[1] as usize) + 1);
            break;
        }
        if op == 0x0 && payload == [0x01] {
            break; // configuration data follows
        }
        i += 1 + len;
    }
    match width {
        Some(HX8K_BANK_WIDTH) => {}
        Some(w) => bail!(
            "a bitstream for another iCE40 (bank width {w}{}), not the HX8K of the Alchitry Cu \
             (width {HX8K_BANK_WIDTH})",
            match w {
                332 => ", an HX1K/LP1K",
                692 => ", an UP5K",
                _ => "",
            }
        ),
        None => bail!("not an iCE40 bitstream: no bank width command after the preamble"),
    }
    if !(HX8K_BYTES..=HX8K_BYTES + MAX_COMMENT as u64 + 4).contains(&n) {
        bail!(
            "{n} bytes: an HX8K bitstream from icepack is {HX8K_BYTES} bytes (plus its comment); \
             truncated or not from icepack?"
        );
    }
    Ok(())
}

pub fn run(a: &FlashArgs) -> Result<()> {
    let path = a.bitstream.display();
    let meta = std::fs::metadata(&a.bitstream)
        .with_context(|| format!("{path}: cannot read the bitstream"))?;
    if !meta.is_file() {
        bail!("{path}: not a file");
    }
    let limit = HX8K_BYTES + 2 * MAX_COMMENT as u64;
    let o = crate::input::open(&a.bitstream)?;
    let bytes = o.read_all(limit, "an HX8K bitstream")?;
    check_bitstream(&bytes).with_context(|| format!("{path}: refusing to flash it"))?;
    let status = match command(a).status() {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "{} not found: install fpga-icestorm (scripts/setup.sh) or name it with --iceprog",
            a.iceprog.display()
        ),
        Err(e) => return Err(e).with_context(|| format!("running {}", a.iceprog.display())),
    };
    if !status.success() {
        bail!(
            "{} failed ({status}): is the board plugged in, and may this user open its \
             FTDI device?",
            a.iceprog.display()
        );
    }
    super::note(format_args!(
        "revspike: {} written to the board's flash",
        a.bitstream.display()
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn committed() -> Vec<u8> {
        std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../bitstreams/alchitry-cu/revspike-cu.bin"
        ))
        .unwrap()
    }

    fn err(b: &[u8]) -> String {
        check_bitstream(b).unwrap_err().to_string()
    }

    #[test]
    fn the_committed_bitstream_passes() {
        check_bitstream(&committed()).unwrap();
    }

    #[test]
    fn what_is_not_an_hx8k_bitstream_is_refused() {
        let good = committed();
        assert!(err(b"{\"version\": 1}").contains("no preamble 7e aa 99 7e at byte 0"));
        assert!(err(&[]).contains("the file starts empty"));
        assert!(err(&[0xff, 0x00, b'h', b'i']).contains("never ends with 00 FF"));
        // Cut inside the bank width command.
        let cut = [0x7e, 0xaa, 0x99, 0x7e, 0x51, 0x00, 0x62, 0x03];
        assert!(err(&cut).contains("no bank width command"), "{}", err(&cut));
        assert!(err(&good[..good.len() / 2]).contains("truncated"));
        let mut one_k = good.clone();
        let w = one_k
            .windows(3)
            .position(|w| w == [0x62, 0x03, 0x67])
            .unwrap();
        one_k[w + 1..w + 3].copy_from_slice(&[0x01, 0x4b]);
        assert!(
            err(&one_k).contains("bank width 332, an HX1K"),
            "{}",
            err(&one_k)
        );
        // A comment before the preamble, as icepack writes with one, is skipped.
        let mut commented = vec![0xff, 0x00];
        commented.extend_from_slice(b"revspike cu");
        commented.extend_from_slice(&good[2..]);
        check_bitstream(&commented).unwrap();
    }
}
