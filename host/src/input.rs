//! Reading sample inputs: a JSON array of 0..=255 integers, or raw bytes.
//!
//! How a file is read is never guessed from whether a parse happens to fail: the
//! name decides when it ends in a known extension, else the content must be
//! unambiguous (see [`Format::of`]). A file that is meant as JSON, IDX or gzip and
//! does not parse is an error saying what failed where. Every read is bounded by
//! what a valid file can hold, so `/dev/zero` or a gzip bomb is refused early.

use std::io::Read;
use std::path::Path;

use anyhow::{anyhow, bail, Result};
use revspike_golden::model::limits;
use serde_json::Value;

/// The longest input any valid model takes (T x G at the model file's limits).
pub const MAX_INPUT_LEN: usize = limits::MAX_TIMESTEPS * limits::MAX_GROUP_LEN;

/// The largest single-input file: a JSON array of [`MAX_INPUT_LEN`] values with
/// room for any indentation (64 bytes per value).
pub const MAX_INPUT_FILE_BYTES: u64 = 64 * MAX_INPUT_LEN as u64;

/// File name endings that mark a file of raw u8 bytes.
pub const RAW_EXTENSIONS: [&str; 3] = ["bin", "raw", "u8"];

/// How an input file is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// A JSON array (of integers for one input, or of arrays for a batch).
    Json,
    /// Raw u8 bytes, one input after another.
    Raw,
    /// An IDX file of unsigned bytes.
    Idx,
    /// A gzip-compressed IDX file.
    Gzip,
}

impl Format {
    /// The format of a file named `path` whose first bytes are `head`:
    ///
    /// - by name: `*.json` is JSON, `*.bin`, `*.raw` and `*.u8` are raw bytes,
    ///   `*.gz` is gzip, `*.idx` and `*-ubyte` are IDX;
    /// - otherwise (other names, stdin) by content: the gzip magic, the IDX magic
    ///   (0, 0, type), or a `[` after optional whitespace and a UTF-8 byte order
    ///   mark (JSON); anything else is raw bytes, unless it is all printable text,
    ///   which is refused as ambiguous (text that is not a JSON array is far
    ///   more likely a mistake than an input).
    pub fn of(path: &Path, head: &[u8]) -> Result<Format> {
        if let Some(f) = Format::by_name(path) {
            return Ok(f);
        }
        if head.starts_with(&[0x1f, 0x8b]) {
            return Ok(Format::Gzip);
        }
        if head.len() >= 3 && head[0] == 0 && head[1] == 0 && (0x08..=0x0e).contains(&head[2]) {
            return Ok(Format::Idx);
        }
        if json_text(head).first() == Some(&b'[') {
            return Ok(Format::Json);
        }
        if !head.is_empty()
            && head
                .iter()
                .all(|&b| b.is_ascii_graphic() || b" \t\r\n".contains(&b))
        {
            bail!(
                "{}: text that is not a JSON array; an input is a JSON array of 0..=255 \
                 integers, or raw bytes in a file named *.{}",
                name(path),
                RAW_EXTENSIONS.join(", *.")
            );
        }
        Ok(Format::Raw)
    }

    fn by_name(path: &Path) -> Option<Format> {
        let file = path.file_name()?.to_str()?.to_ascii_lowercase();
        let ext = file.rsplit_once('.').map(|(_, e)| e);
        match ext {
            Some("json") => Some(Format::Json),
            Some(e) if RAW_EXTENSIONS.contains(&e) => Some(Format::Raw),
            Some("gz") => Some(Format::Gzip),
            Some("idx") => Some(Format::Idx),
            _ if file.ends_with("-ubyte") => Some(Format::Idx),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Json => "JSON",
            Format::Raw => "raw bytes",
            Format::Idx => "IDX",
            Format::Gzip => "gzip",
        }
    }
}

/// `path` for messages (`-` is stdin).
pub fn name(path: &Path) -> String {
    if path.as_os_str() == "-" {
        "stdin".into()
    } else {
        path.display().to_string()
    }
}

/// JSON text with a UTF-8 byte order mark and leading whitespace skipped.
fn json_text(bytes: &[u8]) -> &[u8] {
    let b = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    &b[start..]
}

/// An open file (or stdin) whose first bytes have been read to tell its format.
pub struct Opened {
    reader: Box<dyn Read>,
    /// The bytes read so far.
    pub head: Vec<u8>,
    /// The file for messages.
    pub name: String,
}

/// Bytes read before the format is decided.
const HEAD: u64 = 4096;

/// Opens `path` (`-`: stdin) and reads its first bytes.
pub fn open(path: &Path) -> Result<Opened> {
    let name = name(path);
    let reader: Box<dyn Read> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(std::fs::File::open(path).map_err(|e| anyhow!("{name}: cannot open: {e}"))?)
    };
    let mut o = Opened {
        reader,
        head: Vec::new(),
        name,
    };
    o.fill_head()?;
    Ok(o)
}

impl Opened {
    /// Bytes already in memory, read as a file named `path` would be (for tests
    /// and fuzzing: the same limits and format rules as a file).
    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Opened {
        Opened {
            reader: Box::new(std::io::Cursor::new(bytes.to_vec())),
            head: Vec::new(),
            name: name(path),
        }
    }

    /// Reads the first bytes, which decide the format.
    pub fn fill_head(&mut self) -> Result<()> {
        self.read_to(HEAD)
    }

    fn read_to(&mut self, limit: u64) -> Result<()> {
        let want = limit.saturating_sub(self.head.len() as u64);
        (&mut self.reader)
            .take(want)
            .read_to_end(&mut self.head)
            .map_err(|e| anyhow!("{}: cannot read: {e}", self.name))?;
        Ok(())
    }

    /// The file from its first byte, the head included.
    pub fn into_reader(self) -> Box<dyn Read> {
        Box::new(std::io::Cursor::new(self.head).chain(self.reader))
    }

    /// The whole file, refused when it has more than `limit` bytes (`what` says
    /// why that is the limit).
    pub fn read_all(mut self, limit: u64, what: &str) -> Result<Vec<u8>> {
        self.read_to(limit.saturating_add(1))?;
        if self.head.len() as u64 > limit {
            bail!(
                "{}: more than {limit} bytes, larger than {what} can be",
                self.name
            );
        }
        Ok(self.head)
    }
}

/// Reads an input vector from `path` (`-` reads stdin): JSON or raw bytes, as
/// [`Format::of`] decides. IDX and gzip files hold batches and are refused here.
pub fn read_input(path: &Path) -> Result<Vec<u8>> {
    input_from(open(path)?, path)
}

/// Parses one input held in memory, as if read from a file named `path`.
pub fn parse_input_named(path: &Path, bytes: &[u8]) -> Result<Vec<u8>> {
    let mut o = Opened::from_bytes(path, bytes);
    o.fill_head()?;
    input_from(o, path)
}

/// Parses one input held in memory by content alone, as stdin is read.
pub fn parse_input(bytes: &[u8]) -> Result<Vec<u8>> {
    parse_input_named(Path::new("-"), bytes)
}

fn input_from(o: Opened, path: &Path) -> Result<Vec<u8>> {
    let format = Format::of(path, &o.head)?;
    let name = o.name.clone();
    match format {
        Format::Json => {
            let bytes = o.read_all(MAX_INPUT_FILE_BYTES, "a JSON input")?;
            parse_json_input(&bytes).map_err(|e| anyhow!("{name}: {e}"))
        }
        Format::Raw => o.read_all(MAX_INPUT_LEN as u64, "an input (at most T x G values)"),
        Format::Idx | Format::Gzip => bail!(
            "{name}: looks like {} file, which holds a batch of inputs (give it to \
             `run --inputs`); one input is a JSON array, or raw bytes in a file named *.{}",
            if format == Format::Idx {
                "an IDX"
            } else {
                "a gzip"
            },
            RAW_EXTENSIONS.join(", *.")
        ),
    }
}

/// The JSON value of `bytes` (a UTF-8 byte order mark is skipped); the error
/// names the line and column serde_json stopped at.
pub fn parse_json(bytes: &[u8]) -> Result<Value> {
    let b = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    serde_json::from_slice(b).map_err(|e| anyhow!("not valid JSON: {e}"))
}

/// One input from JSON text: an array of 0..=255 integers.
pub fn parse_json_input(bytes: &[u8]) -> Result<Vec<u8>> {
    json_values(&parse_json(bytes)?, "input")
}

/// The 0..=255 integers of a JSON array; `what` names it in messages.
pub fn json_values(v: &Value, what: &str) -> Result<Vec<u8>> {
    let Value::Array(a) = v else {
        bail!(
            "{what}: expected a JSON array of integers 0..=255, found {}",
            kind(v)
        );
    };
    a.iter()
        .enumerate()
        .map(|(i, v)| match v.as_u64() {
            Some(x) if x <= 255 => Ok(x as u8),
            _ => bail!("{what}[{i}]: expected an integer in 0..=255, found {v}"),
        })
        .collect()
}

/// What kind of JSON value `v` is, for messages.
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Formats an input vector as a one-line JSON array.
pub fn to_json(input: &[u8]) -> String {
    serde_json::to_string(input).unwrap_or_else(|_| "[]".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("revspike-input-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let p = d.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn err(p: &Path) -> String {
        format!("{:#}", read_input(p).unwrap_err())
    }

    #[test]
    fn malformed_json_is_a_parse_error_not_raw_bytes() {
        // Each of these was once taken as raw bytes, then refused for its length.
        for (file, text, want) in [
            ("comma.json", "[1,2,3,4,5,6,7,8,9,1,]", "trailing comma"),
            ("comma", "[1,2,3,4,5,6,7,8,9,1,]", "trailing comma"),
            ("nan", "[1, NaN, 3]", "expected value at line 1 column 5"),
            (
                "comment",
                "[1, 2 // two\n, 3]",
                "expected `,` or `]` at line 1 column 7",
            ),
            (
                "cut",
                "[1, 2, 3, 4",
                "EOF while parsing a list at line 1 column 11",
            ),
        ] {
            let e = err(&tmp(file, text.as_bytes()));
            assert!(e.contains(file) && e.contains(want), "{file}: {e}");
            assert!(!e.contains("values"), "{file}: {e}");
        }
        // Text that is no JSON array at all is not an input either.
        let e = err(&tmp("words", b"one two three"));
        assert!(e.contains("text that is not a JSON array"), "{e}");
        let e = err(&tmp("obj.json", b"{\"a\": 1}"));
        assert!(e.contains("expected a JSON array"), "{e}");
    }

    #[test]
    fn a_byte_order_mark_and_whitespace_are_skipped() {
        let p = tmp("bom", b"\xef\xbb\xbf \n[1, 2, 255]\n");
        assert_eq!(read_input(&p).unwrap(), vec![1, 2, 255]);
        let e = err(&tmp("big", b"[1, 1e20]"));
        assert!(
            e.contains("input[1]: expected an integer in 0..=255, found 1e+20"),
            "{e}"
        );
    }

    #[test]
    fn raw_is_by_name_or_unambiguous_content() {
        // A raw file named *.bin is raw even when it starts like JSON or gzip.
        assert_eq!(read_input(&tmp("x.bin", b"[1,")).unwrap(), b"[1,".to_vec());
        assert_eq!(
            read_input(&tmp("y.raw", &[0x1f, 0x8b, 0])).unwrap().len(),
            3
        );
        // Binary content that is no other format is raw whatever its name.
        assert_eq!(
            read_input(&tmp("img", &[0, 7, 200])).unwrap(),
            vec![0, 7, 200]
        );
        // Batch formats are refused, naming them.
        let e = err(&tmp("b.gz", &[0x1f, 0x8b, 8, 0]));
        assert!(
            e.contains("looks like a gzip file") && e.contains("--inputs"),
            "{e}"
        );
        let e = err(&tmp("idx", &[0, 0, 8, 1, 0, 0, 0, 1, 5]));
        assert!(e.contains("looks like an IDX file"), "{e}");
    }

    #[test]
    fn reads_are_bounded() {
        let e = err(Path::new("/dev/zero"));
        assert!(
            e.contains("/dev/zero: more than 16384 bytes, larger than an input"),
            "{e}"
        );
        let big = vec![b' '; MAX_INPUT_FILE_BYTES as usize + 10];
        let mut text = b"[".to_vec();
        text.extend_from_slice(&big);
        let e = err(&tmp("spaces.json", &text));
        assert!(e.contains("larger than a JSON input"), "{e}");
        let e = err(Path::new("/nonexistent/x.json"));
        assert_eq!(e.matches("No such file").count(), 1, "{e}");
    }
}
