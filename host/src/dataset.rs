//! Batches of inputs: the installed Fashion-MNIST test and training sets, IDX files
//! (gzip or plain), JSON arrays of inputs and raw u8 files of several inputs.
//!
//! The format of a file is decided by its name or unambiguous content
//! ([`Format::of`]), never by a parse that happened to fail; every read is
//! bounded by what a valid batch can hold ([`MAX_BATCH_INPUTS`] inputs), and an
//! IDX header is checked against the model before its data is read, so a gzip
//! bomb is refused after a few bytes.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Result};
use serde_json::Value;

use crate::input::{self, Format};

/// Where Debian's `dataset-fashion-mnist` installs the IDX files; the environment
/// variable `REVSPIKE_DATASETS` names another root.
pub const DEFAULT_ROOT: &str = "/usr/share/datasets";

/// The most inputs one batch may hold (Fashion-MNIST's training set has 60,000).
pub const MAX_BATCH_INPUTS: usize = 100_000;

/// The largest JSON batch file.
pub const MAX_JSON_BATCH_BYTES: u64 = 256 << 20;

/// Inputs, with labels when the source has them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Samples {
    pub inputs: Vec<Vec<u8>>,
    pub labels: Option<Vec<u8>>,
    /// Where the samples came from, for messages.
    pub source: String,
}

impl Samples {
    /// Keeps `count` samples starting at `offset` (fewer where the batch ends first).
    pub fn window(mut self, offset: usize, count: Option<usize>) -> Result<Samples> {
        let n = self.inputs.len();
        if offset >= n && n > 0 {
            bail!("{}: offset {offset} is past its {n} samples", self.source);
        }
        let start = offset.min(n);
        let end = count.map_or(n, |c| offset.saturating_add(c).min(n));
        self.inputs = self.inputs.drain(start..end).collect();
        if let Some(l) = &mut self.labels {
            *l = l.drain(start..end).collect();
        }
        Ok(self)
    }
}

/// An IDX array: dimensions and the raw u8 data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Idx {
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

/// What an IDX file must hold, checked on its header before the data is read.
#[derive(Clone, Copy, Debug)]
pub struct IdxShape {
    /// Bytes per item (the product of every dimension after the first), when the
    /// caller needs a particular one.
    pub item_len: Option<usize>,
    /// The most items.
    pub max_items: usize,
}

impl IdxShape {
    /// Any shape of at most [`MAX_BATCH_INPUTS`] x [`input::MAX_INPUT_LEN`] bytes.
    pub const ANY: IdxShape = IdxShape {
        item_len: None,
        max_items: MAX_BATCH_INPUTS,
    };
}

fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}

/// Reads an IDX file of unsigned bytes (type 0x08) from `r`. `gz` says whether
/// `r` is a gzip decoder (for messages).
pub fn read_idx_from(r: &mut dyn Read, shape: IdxShape, gz: bool) -> Result<Idx> {
    let io = |e: std::io::Error| {
        if gz {
            anyhow!("not a valid gzip stream: {e}")
        } else {
            anyhow!("cannot read: {e}")
        }
    };
    let mut head = Vec::new();
    r.take(4).read_to_end(&mut head).map_err(io)?;
    if head.len() < 4 || head[0] != 0 || head[1] != 0 {
        bail!(
            "{}not an IDX file (an IDX file starts 00 00 08 NDIMS, this starts {})",
            if gz { "gzip data: " } else { "" },
            hex(&head)
        );
    }
    if head[2] != 0x08 {
        bail!(
            "IDX element type 0x{:02x} is not unsigned byte (0x08)",
            head[2]
        );
    }
    let nd = head[3] as usize;
    let mut raw_dims = Vec::new();
    r.take(4 * nd as u64)
        .read_to_end(&mut raw_dims)
        .map_err(io)?;
    if nd == 0 || raw_dims.len() < 4 * nd {
        bail!("IDX header is truncated ({nd} dimensions)");
    }
    let dims: Vec<usize> = raw_dims
        .chunks(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let shown = dims_text(&dims);
    let item = dims[1..]
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .filter(|&i| i <= input::MAX_INPUT_LEN)
        .ok_or_else(|| {
            anyhow!(
                "IDX dimensions {shown}: items larger than any input ({} bytes)",
                input::MAX_INPUT_LEN
            )
        })?;
    if let Some(want) = shape.item_len {
        if nd == 1 {
            bail!(
                "a 1-dimensional IDX file ({} values, like a label file) holds no inputs; \
                 inputs of {want} bytes need dimensions COUNT x {want} (or e.g. COUNT x 28 x 28)",
                dims[0]
            );
        }
        if item != want {
            bail!(
                "IDX dimensions {shown}: each item is {} = {item} bytes, the model takes {want}",
                dims_text(&dims[1..])
            );
        }
    }
    if dims[0] > shape.max_items {
        bail!(
            "IDX dimensions {shown}: {} items, more than a batch may hold ({})",
            dims[0],
            shape.max_items
        );
    }
    let total = dims[0] * item;
    let mut data = Vec::new();
    r.take(total as u64 + 1)
        .read_to_end(&mut data)
        .map_err(io)?;
    if data.len() != total {
        bail!(
            "IDX dimensions {shown} need {total} bytes of data, the file has {}",
            if data.len() > total {
                "more".to_string()
            } else {
                format!("{} (truncated)", data.len())
            }
        );
    }
    if gz {
        // The gzip trailer (length and CRC) is only checked at the end of the stream.
        let mut rest = Vec::new();
        r.take(1).read_to_end(&mut rest).map_err(io)?;
    }
    Ok(Idx { dims, data })
}

fn dims_text(dims: &[usize]) -> String {
    dims.iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("x")
}

fn hex(b: &[u8]) -> String {
    if b.is_empty() {
        return "(empty)".into();
    }
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Parses an IDX file of unsigned bytes (type 0x08), gunzipping it first when it
/// starts with the gzip magic.
pub fn parse_idx(bytes: &[u8]) -> Result<Idx> {
    parse_idx_shaped(bytes, IdxShape::ANY)
}

/// As [`parse_idx`], checking `shape`.
pub fn parse_idx_shaped(bytes: &[u8], shape: IdxShape) -> Result<Idx> {
    let mut plain = bytes;
    if is_gzip(bytes) {
        read_idx_from(&mut flate2::read::GzDecoder::new(bytes), shape, true)
    } else {
        read_idx_from(&mut plain, shape, false)
    }
}

/// Reads an IDX file (gzip or plain) whose items are `shape`.
pub fn read_idx(path: &Path, shape: IdxShape) -> Result<Idx> {
    let o = input::open(path)?;
    let name = o.name.clone();
    let gz = is_gzip(&o.head);
    let r = o.into_reader();
    let idx = if gz {
        read_idx_from(&mut flate2::read::GzDecoder::new(r), shape, true)
    } else {
        let mut r = r;
        read_idx_from(&mut r, shape, false)
    };
    idx.map_err(|e| anyhow!("{name}: {e}"))
}

/// The IDX files of a named dataset: `fashion-mnist` (the test split),
/// `fashion-mnist:test` or `fashion-mnist:train`.
pub fn dataset_files(spec: &str) -> Result<(PathBuf, PathBuf)> {
    let (name, split) = spec.split_once(':').unwrap_or((spec, "test"));
    let prefix = match split {
        "test" | "t10k" => "t10k",
        "train" => "train",
        other => bail!("dataset '{spec}': unknown split '{other}' (test or train)"),
    };
    match name {
        "fashion-mnist" => {}
        other => bail!("unknown dataset '{other}' (known: fashion-mnist[:test|:train])"),
    }
    let root = std::env::var_os("REVSPIKE_DATASETS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_ROOT))
        .join(name);
    Ok((
        root.join(format!("{prefix}-images-idx3-ubyte.gz")),
        root.join(format!("{prefix}-labels-idx1-ubyte.gz")),
    ))
}

/// Loads a named dataset (see [`dataset_files`]) for a model taking `input_len` bytes.
pub fn load_dataset(spec: &str, input_len: usize) -> Result<Samples> {
    let (images, labels) = dataset_files(spec)?;
    if !images.exists() {
        bail!(
            "{}: not found (install it with scripts/setup.sh, package dataset-fashion-mnist)",
            images.display()
        );
    }
    let shape = IdxShape {
        item_len: Some(input_len),
        max_items: MAX_BATCH_INPUTS,
    };
    let idx = read_idx(&images, shape)?;
    let inputs = items(&idx);
    let lab = read_idx(&labels, IdxShape::ANY)?;
    if lab.dims.len() != 1 || lab.dims[0] != inputs.len() {
        bail!(
            "{}: {} labels for {} images",
            labels.display(),
            dims_text(&lab.dims),
            inputs.len()
        );
    }
    Ok(Samples {
        inputs,
        labels: Some(lab.data),
        source: spec.to_string(),
    })
}

fn items(idx: &Idx) -> Vec<Vec<u8>> {
    let item: usize = idx.dims[1..].iter().product();
    idx.data.chunks(item.max(1)).map(|c| c.to_vec()).collect()
}

/// Reads a file of several inputs of `input_len` bytes each, in the format
/// [`Format::of`] decides: IDX (gzip or plain), a JSON array of inputs (or one
/// input), or raw u8 bytes, one input after another.
pub fn load_inputs_file(path: &Path, input_len: usize) -> Result<Samples> {
    inputs_from(input::open(path)?, path, input_len)
}

/// As [`load_inputs_file`], for bytes in memory read as a file named `path`.
pub fn parse_inputs(path: &Path, bytes: &[u8], input_len: usize) -> Result<Samples> {
    let mut o = input::Opened::from_bytes(path, bytes);
    o.fill_head()?;
    inputs_from(o, path, input_len)
}

fn inputs_from(o: input::Opened, path: &Path, input_len: usize) -> Result<Samples> {
    let source = o.name.clone();
    let format = Format::of(path, &o.head)?;
    let shape = IdxShape {
        item_len: Some(input_len),
        max_items: MAX_BATCH_INPUTS,
    };
    let inputs = match format {
        Format::Idx | Format::Gzip => {
            let gz = is_gzip(&o.head);
            if format == Format::Gzip && !gz {
                bail!(
                    "{source}: named as gzip, but it does not start with the gzip magic \
                     (1f 8b): {}",
                    hex(&o.head[..o.head.len().min(4)])
                );
            }
            let mut r = o.into_reader();
            let idx = if gz {
                read_idx_from(&mut flate2::read::GzDecoder::new(r), shape, true)
            } else {
                read_idx_from(&mut r, shape, false)
            };
            items(&idx.map_err(|e| anyhow!("{source}: {e}"))?)
        }
        Format::Json => {
            let bytes = o.read_all(MAX_JSON_BATCH_BYTES, "a JSON batch")?;
            let inputs = json_batch(&bytes).map_err(|e| anyhow!("{source}: {e}"))?;
            if let Some((i, x)) = inputs
                .iter()
                .enumerate()
                .find(|(_, x)| x.len() != input_len)
            {
                bail!(
                    "{source}: input #{i} has {} values, the model takes {input_len}",
                    x.len()
                );
            }
            inputs
        }
        Format::Raw => {
            let limit = (input_len.max(1) * MAX_BATCH_INPUTS) as u64;
            let bytes = o.read_all(
                limit,
                &format!("a batch ({MAX_BATCH_INPUTS} inputs of {input_len} bytes)"),
            )?;
            if input_len == 0 || bytes.is_empty() || bytes.len() % input_len != 0 {
                bail!(
                    "{source}: {} bytes is not a whole number of {input_len}-byte inputs",
                    bytes.len()
                );
            }
            bytes.chunks(input_len).map(|c| c.to_vec()).collect()
        }
    };
    Ok(Samples {
        inputs,
        labels: None,
        source,
    })
}

/// The inputs of a JSON batch: an array of arrays of 0..=255 integers, or one
/// such array (a single input).
pub fn json_batch(bytes: &[u8]) -> Result<Vec<Vec<u8>>> {
    let v = input::parse_json(bytes)?;
    match &v {
        Value::Array(a) if a.iter().all(Value::is_array) && !a.is_empty() => {
            if a.len() > MAX_BATCH_INPUTS {
                bail!(
                    "{} inputs, more than a batch may hold ({MAX_BATCH_INPUTS})",
                    a.len()
                );
            }
            a.iter()
                .enumerate()
                .map(|(i, x)| input::json_values(x, &format!("input #{i}")))
                .collect()
        }
        Value::Array(a) if a.iter().any(Value::is_array) => bail!(
            "a JSON batch is an array of inputs (arrays) or one input (an array of \
             integers), not a mix"
        ),
        _ => Ok(vec![input::json_values(&v, "input")?]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut b = vec![0, 0, 8, dims.len() as u8];
        for d in dims {
            b.extend_from_slice(&d.to_be_bytes());
        }
        b.extend_from_slice(data);
        b
    }

    fn gzip(b: &[u8]) -> Vec<u8> {
        let mut gz = Vec::new();
        let mut e = flate2::write::GzEncoder::new(&mut gz, flate2::Compression::fast());
        e.write_all(b).unwrap();
        e.finish().unwrap();
        gz
    }

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("revspike-ds-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn load_err(p: &Path, len: usize) -> String {
        format!("{:#}", load_inputs_file(p, len).unwrap_err())
    }

    #[test]
    fn idx_plain_and_gzip_parse_alike() {
        let raw = idx(&[2, 2, 3], &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        let a = parse_idx(&raw).unwrap();
        assert_eq!(a.dims, vec![2, 2, 3]);
        assert_eq!(parse_idx(&gzip(&raw)).unwrap(), a);
        assert_eq!(items(&a)[1], vec![7, 8, 9, 10, 11, 12]);
        let shape = |n| IdxShape {
            item_len: Some(n),
            max_items: 10,
        };
        let e = parse_idx_shaped(&raw, shape(5)).unwrap_err().to_string();
        assert!(
            e.contains("each item is 2x3 = 6 bytes, the model takes 5"),
            "{e}"
        );
        let e = parse_idx_shaped(&idx(&[3], &[1, 2, 3]), shape(5))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("a 1-dimensional IDX file (3 values, like a label file) holds no inputs"),
            "{e}"
        );
        assert!(!e.contains("  "), "{e}");
    }

    #[test]
    fn bad_idx_is_an_error_not_a_panic() {
        assert!(parse_idx(&[0, 0, 8]).is_err());
        assert!(parse_idx(&idx(&[3], &[1, 2])).is_err());
        assert!(parse_idx(&[0, 0, 0x0d, 1, 0, 0, 0, 0]).is_err());
        assert!(parse_idx(&[0x1f, 0x8b, 1, 2, 3]).is_err());
        assert!(parse_idx(&[0, 0, 8, 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(parse_idx(&idx(&[2, 2], &[1, 2, 3, 4, 5])).is_err());
    }

    #[test]
    fn a_gzip_bomb_is_refused_from_its_header() {
        // 1 GiB of zeros declared as 2^30 one-byte items: refused before inflating.
        let mut head = idx(&[1 << 30, 1], &[]);
        head.extend_from_slice(&vec![0; 1 << 20]);
        let gz = gzip(&head);
        let e = parse_idx_shaped(
            &gz,
            IdxShape {
                item_len: Some(1),
                max_items: MAX_BATCH_INPUTS,
            },
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("more than a batch may hold (100000)"), "{e}");
        // A header within bounds but data running on past it.
        let mut b = idx(&[2, 1], &[1, 2]);
        b.extend_from_slice(&vec![0; 1 << 20]);
        let e = parse_idx(&gzip(&b)).unwrap_err().to_string();
        assert!(e.contains("need 2 bytes of data, the file has more"), "{e}");
    }

    #[test]
    fn truncated_and_corrupt_files_say_what_failed() {
        let d = tmpdir("bad");
        let good = gzip(&idx(&[4, 3], &[7; 12]));
        let cut = d.join("cut.gz");
        std::fs::write(&cut, &good[..good.len() - 6]).unwrap();
        let e = load_err(&cut, 3);
        assert!(e.contains("cut.gz") && e.contains("gzip"), "{e}");
        // The same bytes without a telling name are still gzip, not raw input.
        let cut2 = d.join("cut");
        std::fs::write(&cut2, &good[..good.len() - 6]).unwrap();
        let e = load_err(&cut2, 3);
        assert!(e.contains("gzip"), "{e}");
        let notgz = d.join("x.gz");
        std::fs::write(&notgz, [1u8, 2, 3]).unwrap();
        assert!(load_err(&notgz, 3).contains("gzip magic"));
        let plain = gzip(b"hello world");
        let p = d.join("text.gz");
        std::fs::write(&p, plain).unwrap();
        let e = load_err(&p, 3);
        assert!(e.contains("gzip data: not an IDX file"), "{e}");
        let j = d.join("bad.json");
        std::fs::write(&j, "[[1,2,3],[4,5,]]").unwrap();
        let e = load_err(&j, 3);
        assert!(
            e.contains("bad.json: not valid JSON") && e.contains("column"),
            "{e}"
        );
        std::fs::remove_dir_all(&d).ok();
    }

    #[test]
    fn reads_are_bounded() {
        let e = load_err(Path::new("/dev/zero"), 3);
        assert!(
            e.contains("/dev/zero: more than 300000 bytes, larger than a batch"),
            "{e}"
        );
    }

    #[test]
    fn window_clamps_huge_counts() {
        let s = Samples {
            inputs: vec![vec![1], vec![2], vec![3]],
            labels: Some(vec![0, 1, 2]),
            source: "x".into(),
        };
        let w = s.clone().window(1, Some(usize::MAX)).unwrap();
        assert_eq!(w.inputs, vec![vec![2], vec![3]]);
        assert_eq!(w.labels, Some(vec![1, 2]));
        assert!(s.window(usize::MAX, Some(usize::MAX)).is_err());
    }

    #[test]
    fn json_batches() {
        assert_eq!(
            json_batch(b"[[1,2],[3,4]]").unwrap(),
            vec![vec![1, 2], vec![3, 4]]
        );
        assert_eq!(json_batch(b"[1,2]").unwrap(), vec![vec![1, 2]]);
        let e = json_batch(b"[[1],2]").unwrap_err().to_string();
        assert!(e.contains("not a mix"), "{e}");
        let e = json_batch(b"[[1],[300]]").unwrap_err().to_string();
        assert!(
            e.contains("input #1[0]: expected an integer in 0..=255"),
            "{e}"
        );
    }

    #[test]
    fn dataset_names() {
        let (i, l) = dataset_files("fashion-mnist").unwrap();
        assert!(i.ends_with("fashion-mnist/t10k-images-idx3-ubyte.gz"));
        assert!(l.ends_with("fashion-mnist/t10k-labels-idx1-ubyte.gz"));
        let (i, _) = dataset_files("fashion-mnist:train").unwrap();
        assert!(i.ends_with("train-images-idx3-ubyte.gz"));
        assert!(dataset_files("mnist").is_err());
        assert!(dataset_files("fashion-mnist:val").is_err());
    }

    #[test]
    fn installed_fashion_mnist_test_split_loads_with_labels() {
        let (i, _) = dataset_files("fashion-mnist").unwrap();
        if !i.exists() {
            eprintln!("skipped: {} not installed", i.display());
            return;
        }
        let s = load_dataset("fashion-mnist", 784).unwrap();
        assert_eq!(s.inputs.len(), 10_000);
        assert_eq!(s.labels.as_ref().unwrap().len(), 10_000);
        assert!(s.labels.as_ref().unwrap().iter().all(|&l| l < 10));
        let w = s.window(9_998, Some(5)).unwrap();
        assert_eq!(w.inputs.len(), 2);
        assert_eq!(w.labels.unwrap().len(), 2);
        let e = format!("{:#}", load_dataset("fashion-mnist", 22).unwrap_err());
        assert!(
            e.contains("each item is 28x28 = 784 bytes, the model takes 22"),
            "{e}"
        );
    }

    #[test]
    fn raw_files_split_into_inputs() {
        let dir = tmpdir("raw");
        let p = dir.join("raw.bin");
        std::fs::write(&p, [1u8, 2, 3, 4, 5, 6]).unwrap();
        let s = load_inputs_file(&p, 3).unwrap();
        assert_eq!(s.inputs, vec![vec![1, 2, 3], vec![4, 5, 6]]);
        let e = load_err(&p, 4);
        assert!(
            e.contains("6 bytes is not a whole number of 4-byte inputs"),
            "{e}"
        );
        let q = dir.join("x.idx");
        std::fs::write(&q, idx(&[2, 3], &[9, 9, 9, 8, 8, 8])).unwrap();
        assert_eq!(load_inputs_file(&q, 3).unwrap().inputs[1], vec![8, 8, 8]);
        // A raw file that starts like IDX is only raw when its name says so.
        let r = dir.join("looks-idx");
        std::fs::write(&r, [0u8, 0, 8, 1, 5, 6]).unwrap();
        assert!(load_err(&r, 3).contains("IDX"));
        let r = dir.join("looks-idx.bin");
        std::fs::write(&r, [0u8, 0, 8, 1, 5, 6]).unwrap();
        assert_eq!(load_inputs_file(&r, 3).unwrap().inputs.len(), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
