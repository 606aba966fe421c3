//! The top-level port list of an emitted Verilog design.
//!
//! rust-hdl's `generate_verilog` writes the top module as a non-ANSI header,
//! `module top(clock,usb_rx,...);`, followed by one declaration per port
//! (`input wire [7:0] x;`, `output reg y;`). Reading the list from the text keeps
//! the co-simulation in step with the design without anyone maintaining it by hand.
//! ANSI headers (`module top(input wire [7:0] x, ...)`) are accepted as well.

use crate::{Error, Result};

/// Direction of a top-level port, seen from the design.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Driven by the testbench.
    Input,
    /// Driven by the design.
    Output,
    /// Both (Verilator exposes it as a settable and readable member).
    InOut,
}

impl Direction {
    /// Whether the testbench may drive the port.
    pub fn is_input(self) -> bool {
        matches!(self, Direction::Input | Direction::InOut)
    }
    /// Whether the design drives the port.
    pub fn is_output(self) -> bool {
        matches!(self, Direction::Output | Direction::InOut)
    }
}

impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Direction::Input => "input",
            Direction::Output => "output",
            Direction::InOut => "inout",
        })
    }
}

/// One top-level port: its Verilog name, direction and width in bits (1..=64).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Port {
    pub name: String,
    pub direction: Direction,
    pub width: u32,
}

impl Port {
    /// Mask of the bits the port holds.
    pub fn mask(&self) -> u64 {
        if self.width >= 64 {
            u64::MAX
        } else {
            (1u64 << self.width) - 1
        }
    }
}

/// Largest port the fast `u64` access path carries.
pub const MAX_PORT_WIDTH: u32 = 64;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    Ident(String),
    Number(String),
    Punct(char),
}

/// Splits Verilog text into identifiers, numbers and punctuation, dropping
/// comments, strings and compiler directives' backticks.
fn tokenize(text: &str) -> Vec<Tok> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '/' && chars.get(i + 1) == Some(&'/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && chars.get(i + 1) == Some(&'*') {
            i += 2;
            while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                i += 1;
            }
            i += 2;
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
        } else if c == '\\' {
            // Escaped identifier: everything up to the next whitespace.
            let start = i + 1;
            i += 1;
            while i < chars.len() && !chars[i].is_whitespace() {
                i += 1;
            }
            out.push(Tok::Ident(chars[start..i].iter().collect()));
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == '$')
            {
                i += 1;
            }
            out.push(Tok::Ident(chars[start..i].iter().collect()));
        } else if c.is_ascii_digit() || c == '\'' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '\'' || chars[i] == '_')
            {
                i += 1;
            }
            out.push(Tok::Number(chars[start..i].iter().collect()));
        } else {
            out.push(Tok::Punct(c));
            i += 1;
        }
    }
    out
}

fn parse_err(msg: impl Into<String>) -> Error {
    Error::Ports(msg.into())
}

/// Reads `[msb:lsb]` starting at `toks[*i]` (which must be `[`) and returns the width.
fn parse_range(toks: &[Tok], i: &mut usize, port_hint: &str) -> Result<u32> {
    let num = |t: Option<&Tok>| -> Result<i64> {
        match t {
            Some(Tok::Number(n)) => n.replace('_', "").parse::<i64>().map_err(|_| {
                parse_err(format!(
                    "port range bound `{n}` near `{port_hint}` is not a plain decimal number"
                ))
            }),
            Some(other) => Err(parse_err(format!(
                "port range near `{port_hint}` uses `{}`; only numeric ranges are supported",
                tok_text(other)
            ))),
            None => Err(parse_err("the Verilog text ends inside a port range")),
        }
    };
    *i += 1; // '['
    let msb = num(toks.get(*i))?;
    *i += 1;
    if toks.get(*i) != Some(&Tok::Punct(':')) {
        return Err(parse_err(format!(
            "port range near `{port_hint}` is not of the form [msb:lsb]"
        )));
    }
    *i += 1;
    let lsb = num(toks.get(*i))?;
    *i += 1;
    if toks.get(*i) != Some(&Tok::Punct(']')) {
        return Err(parse_err(format!(
            "port range near `{port_hint}` is not closed by `]`"
        )));
    }
    *i += 1;
    Ok((msb - lsb).unsigned_abs() as u32 + 1)
}

fn tok_text(t: &Tok) -> String {
    match t {
        Tok::Ident(s) | Tok::Number(s) => s.clone(),
        Tok::Punct(c) => c.to_string(),
    }
}

fn direction_of(word: &str) -> Option<Direction> {
    match word {
        "input" => Some(Direction::Input),
        "output" => Some(Direction::Output),
        "inout" => Some(Direction::InOut),
        _ => None,
    }
}

const NET_WORDS: &[&str] = &["wire", "reg", "logic", "signed", "unsigned", "var", "tri"];

/// Parses one declaration `input wire signed [7:0] a, b` from `toks[*i]` up to the
/// terminator (`;` for body declarations, `,`/`)` for ANSI headers, where a following
/// bare name continues the previous declaration). Returns the declared names.
fn parse_decl(toks: &[Tok], i: &mut usize, ansi: bool) -> Result<(Direction, u32, Vec<String>)> {
    let dir = match toks.get(*i) {
        Some(Tok::Ident(w)) => direction_of(w)
            .ok_or_else(|| parse_err(format!("expected a port direction, found `{w}`")))?,
        _ => return Err(parse_err("expected a port direction")),
    };
    *i += 1;
    let mut width = 1;
    let mut names = Vec::new();
    loop {
        match toks.get(*i) {
            // A net keyword, unless it is the port's name itself (Verilog-2005 allows
            // `logic` or `var` as names): then a separator follows it.
            Some(Tok::Ident(w))
                if NET_WORDS.contains(&w.as_str())
                    && !matches!(
                        toks.get(*i + 1),
                        None | Some(Tok::Punct(','))
                            | Some(Tok::Punct(';'))
                            | Some(Tok::Punct(')'))
                    ) =>
            {
                *i += 1
            }
            Some(Tok::Punct('[')) => {
                let hint = names.last().cloned().unwrap_or_else(|| dir.to_string());
                width = parse_range(toks, i, &hint)?;
            }
            Some(Tok::Ident(name)) => {
                if ansi && direction_of(name).is_some() {
                    break;
                }
                names.push(name.clone());
                *i += 1;
                // Skip unpacked dimensions or defaults up to the separator.
                while let Some(t) = toks.get(*i) {
                    match t {
                        Tok::Punct(',') | Tok::Punct(';') | Tok::Punct(')') => break,
                        Tok::Punct('[') => {
                            return Err(parse_err(format!(
                                "port `{name}` is an array; only plain vectors are supported"
                            )))
                        }
                        _ => *i += 1,
                    }
                }
                match toks.get(*i) {
                    Some(Tok::Punct(',')) => {
                        *i += 1;
                        if ansi {
                            // The next item either starts a new declaration or is another name.
                            if let Some(Tok::Ident(w)) = toks.get(*i) {
                                if direction_of(w).is_some() {
                                    break;
                                }
                            }
                        }
                    }
                    _ => break,
                }
            }
            Some(other) => {
                return Err(parse_err(format!(
                    "unexpected `{}` in a {dir} port declaration",
                    tok_text(other)
                )))
            }
            None => return Err(parse_err("the Verilog text ends inside a port declaration")),
        }
    }
    if names.is_empty() {
        return Err(parse_err(format!("a {dir} declaration names no port")));
    }
    Ok((dir, width, names))
}

/// Reads the port list of module `top` from Verilog text.
///
/// Ports keep the order of the module header. Widths above 64 bits are refused:
/// the `u64` access path cannot carry them.
pub fn parse_top_ports(verilog: &str) -> Result<Vec<Port>> {
    parse_module_ports(verilog, "top")
}

/// Reads the port list of the named module from Verilog text.
pub fn parse_module_ports(verilog: &str, module: &str) -> Result<Vec<Port>> {
    let toks = tokenize(verilog);
    let mut i = 0;
    let start = loop {
        match toks.get(i) {
            None => {
                return Err(parse_err(format!(
                    "no `module {module}` in the Verilog text"
                )))
            }
            Some(Tok::Ident(w)) if w == "module" || w == "macromodule" => {
                if toks.get(i + 1) == Some(&Tok::Ident(module.to_string())) {
                    break i + 2;
                }
                i += 1;
            }
            _ => i += 1,
        }
    };
    i = start;
    // Skip a parameter list `#( ... )`.
    if toks.get(i) == Some(&Tok::Punct('#')) {
        i += 1;
        let mut depth = 0usize;
        while let Some(t) = toks.get(i) {
            i += 1;
            match t {
                Tok::Punct('(') => depth += 1,
                Tok::Punct(')') => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
        }
    }
    let mut ports: Vec<Port> = Vec::new();
    let mut header_names: Vec<String> = Vec::new();
    if toks.get(i) == Some(&Tok::Punct('(')) {
        i += 1;
        let ansi = matches!(toks.get(i), Some(Tok::Ident(w)) if direction_of(w).is_some());
        if ansi {
            loop {
                let (dir, width, names) = parse_decl(&toks, &mut i, true)?;
                for n in names {
                    ports.push(Port {
                        name: n,
                        direction: dir,
                        width,
                    });
                }
                match toks.get(i) {
                    Some(Tok::Punct(')')) => {
                        i += 1;
                        break;
                    }
                    Some(Tok::Ident(w)) if direction_of(w).is_some() => {}
                    Some(Tok::Punct(',')) => i += 1,
                    _ => return Err(parse_err(format!("malformed header of module {module}"))),
                }
            }
        } else {
            loop {
                match toks.get(i) {
                    Some(Tok::Ident(n)) => {
                        header_names.push(n.clone());
                        i += 1;
                    }
                    Some(Tok::Punct(')')) => {
                        i += 1;
                        break;
                    }
                    Some(Tok::Punct(',')) => i += 1,
                    Some(other) => {
                        return Err(parse_err(format!(
                            "unexpected `{}` in the header of module {module}",
                            tok_text(other)
                        )))
                    }
                    None => return Err(parse_err(format!("module {module} header is not closed"))),
                }
            }
        }
    }
    if toks.get(i) != Some(&Tok::Punct(';')) {
        return Err(parse_err(format!(
            "module {module} header does not end with `;`"
        )));
    }
    i += 1;
    if !header_names.is_empty() {
        // Non-ANSI: the directions and widths come from declarations in the body.
        let mut declared: Vec<(String, Direction, u32)> = Vec::new();
        let mut at_statement_start = true;
        while let Some(t) = toks.get(i) {
            match t {
                Tok::Ident(w) if w == "endmodule" => break,
                Tok::Ident(w) if at_statement_start && direction_of(w).is_some() => {
                    let (dir, width, names) = parse_decl(&toks, &mut i, false)?;
                    for n in names {
                        declared.push((n, dir, width));
                    }
                    at_statement_start = false;
                }
                Tok::Punct(';') => {
                    at_statement_start = true;
                    i += 1;
                }
                _ => {
                    at_statement_start = false;
                    i += 1;
                }
            }
        }
        for name in &header_names {
            let (_, dir, width) = declared.iter().find(|(n, _, _)| n == name).ok_or_else(|| {
                parse_err(format!(
                    "port `{name}` of module {module} has no input/output declaration"
                ))
            })?;
            ports.push(Port {
                name: name.clone(),
                direction: *dir,
                width: *width,
            });
        }
    }
    for p in &ports {
        if p.width > MAX_PORT_WIDTH {
            return Err(Error::PortTooWide {
                name: p.name.clone(),
                width: p.width,
            });
        }
    }
    for (k, p) in ports.iter().enumerate() {
        if ports[..k].iter().any(|q| q.name == p.name) {
            return Err(parse_err(format!(
                "port `{}` is listed twice in module {module}",
                p.name
            )));
        }
    }
    Ok(ports)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_ansi_header_as_rust_hdl_writes_it() {
        let v = "\n\nmodule top$sub(a);\n input wire a;\nendmodule\n\nmodule top(clock,usb_rx,usb_tx,leds,bus$data);\n    \n    // Module arguments\n    input wire  clock;\n    input wire  usb_rx;\n    output reg  usb_tx;\n    output wire  [7:0] leds;\n    input wire signed [63:0] bus$data;\n  reg [3:0] x;\n  always @(posedge clock) x <= 4'h0; // input fake;\nendmodule // top\n";
        let ports = parse_top_ports(v).unwrap();
        let got: Vec<(&str, Direction, u32)> = ports
            .iter()
            .map(|p| (p.name.as_str(), p.direction, p.width))
            .collect();
        assert_eq!(
            got,
            vec![
                ("clock", Direction::Input, 1),
                ("usb_rx", Direction::Input, 1),
                ("usb_tx", Direction::Output, 1),
                ("leds", Direction::Output, 8),
                ("bus$data", Direction::Input, 64),
            ]
        );
        assert_eq!(ports[3].mask(), 0xFF);
        assert_eq!(ports[4].mask(), u64::MAX);
    }

    #[test]
    fn keywords_of_later_languages_are_names() {
        let v = "module top(byte, logic); input wire [7:0] byte; output reg logic; endmodule";
        let ports = parse_top_ports(v).unwrap();
        assert_eq!(ports[0].name, "byte");
        assert_eq!((ports[1].name.as_str(), ports[1].width), ("logic", 1));
    }

    #[test]
    fn ansi_header() {
        let v = "module top #(parameter W = 4) (input wire clock, input [19:0] addr, raddr, output reg [15:0] rdata /* x */, inout wire io);\nendmodule";
        let ports = parse_top_ports(v).unwrap();
        let got: Vec<(&str, Direction, u32)> = ports
            .iter()
            .map(|p| (p.name.as_str(), p.direction, p.width))
            .collect();
        assert_eq!(
            got,
            vec![
                ("clock", Direction::Input, 1),
                ("addr", Direction::Input, 20),
                ("raddr", Direction::Input, 20),
                ("rdata", Direction::Output, 16),
                ("io", Direction::InOut, 1),
            ]
        );
    }

    #[test]
    fn errors_are_reported_not_panicked() {
        assert!(matches!(
            parse_top_ports("module other(a); input a; endmodule"),
            Err(Error::Ports(_))
        ));
        assert!(matches!(
            parse_top_ports("module top(a, b); input a; endmodule"),
            Err(Error::Ports(_))
        ));
        assert!(matches!(
            parse_top_ports("module top(a); input [64:0] a; endmodule"),
            Err(Error::PortTooWide { width: 65, .. })
        ));
        assert!(matches!(
            parse_top_ports("module top(a); input [W-1:0] a; endmodule"),
            Err(Error::Ports(_))
        ));
        assert!(parse_top_ports("module top(").is_err());
        assert!(parse_top_ports("").is_err());
        // Every prefix of a valid text either parses or fails cleanly.
        let v = "module top(a,b); input wire [7:0] a; output reg b; endmodule";
        for k in 0..v.len() {
            let _ = parse_top_ports(&v[..k]);
        }
    }
}
