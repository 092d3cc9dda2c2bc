//! `watch --listen`'s endpoints as a test reads them: the address the watch announced, and
//! plain HTTP/1.1 GETs.

use std::io::{Read, Write};

/// The address in the line announcing `--listen` (`... on http://ADDRESS`).
pub fn announced_address(line: &str) -> String {
    line.trim().rsplit("http://").next().unwrap().to_owned()
}

/// A GET over plain HTTP/1.1, the body of a 200.
pub fn get(address: &str, path: &str) -> String {
    let (status, body) = get_any(address, path);
    assert_eq!(status, 200, "{body}");
    body
}

/// A GET over plain HTTP/1.1: the status and the body.
pub fn get_any(address: &str, path: &str) -> (u16, String) {
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, body.to_owned())
}
