//! Health checkers against real local servers on 127.0.0.1 (threads with std sockets): each
//! probe type's pass and fail cases, timeouts, and the driver's retry and delay_before_retry
//! timing measured on the wall clock. keepalived's own genhash, when installed, checks that
//! digests agree.

use keeplite::check::executor::block_on;
use keeplite::check::md5::{to_hex, Md5};
use keeplite::check::outcome::{Failure, ProbeResult, WeightEffect};
use keeplite::check::probe::{
    Check, Context, FileProbe, HttpUrl, Kind, MiscProbe, Scratch, Target, UdpProbe,
};
use keeplite::check::run::{Runner, Spread};
use keeplite::check::timing::Timing;
use keeplite::check::verdict::{Action, CheckerVerdict, RealServerVerdict, Steps};
use keeplite::config::compact::Few;
use keeplite::config::model::{
    CheckKind, CheckTarget, CheckTiming, Checker, ForwardMethod, HttpCheck, MaskedByte, Micros,
    Protocol, RealServer, Scheduler, ServiceKey, TrackFile, Url, VirtualServer,
};
use keeplite::sys::script::{Credentials, Script, UserDb};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant as StdInstant};

#[cfg(feature = "tls")]
mod common;

const MS: u64 = 1_000;

fn ms(n: u64) -> Micros {
    Micros(n * MS)
}

/// A TCP server on 127.0.0.1 that runs `handle` for every connection, each in its own thread.
fn tcp_server<F>(handle: F) -> SocketAddr
where
    F: Fn(TcpStream, usize) + Send + Sync + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = Arc::new(handle);
    thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(stream) = stream else { return };
            let handle = handle.clone();
            thread::spawn(move || handle(stream, n));
        }
    });
    addr
}

/// Reads a request up to its blank line.
fn read_request(stream: &mut TcpStream) -> String {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            return request;
        }
        request.push_str(&line);
    }
}

fn http_server(response: &'static [u8]) -> SocketAddr {
    tcp_server(move |mut s, _| {
        read_request(&mut s);
        let _ = s.write_all(response);
    })
}

/// GET /PAGE with keepalived's request headers.
fn page_url(page: &str, digest: Option<[u8; 16]>, status_code: Vec<(u16, u16)>) -> HttpUrl {
    HttpUrl {
        request: format!(
            "GET /{page} HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: test\r\n\r\n"
        )
        .into_bytes()
        .into(),
        digest,
        status_code: status_code.into(),
        server_name: None,
    }
}

fn url(digest: Option<[u8; 16]>, status_code: Vec<(u16, u16)>) -> HttpUrl {
    page_url("", digest, status_code)
}

fn check_of(addr: SocketAddr, timeout_ms: u64, kind: Kind) -> Check {
    Check {
        target: Target::to(addr),
        timeout: ms(timeout_ms),
        kind,
    }
}

fn http_check(addr: SocketAddr, timeout_ms: u64, u: HttpUrl) -> Check {
    check_of(addr, timeout_ms, Kind::Http(vec![u].into()))
}

fn run(check: &Check) -> ProbeResult {
    block_on(check.run(0, 0x1234_5678, &mut Scratch::new())).expect("reactor")
}

/// A server that accepts, never answers, and keeps the connection open for 3 s.
fn hung_server() -> SocketAddr {
    tcp_server(|s, _| {
        thread::sleep(Duration::from_secs(3));
        drop(s);
    })
}

/// The probe (connect_timeout 300 ms, against a server that never answers) fails with a
/// timeout, neither early nor much late.
fn assert_times_out_at_300ms(check: &Check) {
    let start = StdInstant::now();
    assert_eq!(run(check), Err(Failure::Timeout));
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(290) && took < Duration::from_millis(800),
        "{took:?}"
    );
}

fn md5(bytes: &[u8]) -> [u8; 16] {
    let mut m = Md5::new();
    m.update(bytes);
    m.finalize()
}

const PAGE: &[u8] = b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nall is well\n";

#[test]
fn tcp_up_and_refused() {
    let addr = tcp_server(|_, _| {});
    let check = Check {
        target: Target::to(addr),
        timeout: ms(500),
        kind: Kind::Tcp,
    };
    assert_eq!(run(&check), Ok(WeightEffect::Keep));

    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let check = Check {
        target: Target::to(closed),
        timeout: ms(500),
        kind: Kind::Tcp,
    };
    assert!(matches!(
        run(&check),
        Err(Failure::Io(std::io::ErrorKind::ConnectionRefused, _))
    ));
}

#[test]
fn tcp_from_bindto_and_bind_port() {
    // accept(2)'s address: the probe's RST may come before the server could ask peer_addr.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut target = Target::to(addr);
    target.set_bind(Some(SocketAddr::new("127.0.0.2".parse().unwrap(), port)));
    let check = Check {
        target,
        timeout: ms(500),
        kind: Kind::Tcp,
    };
    assert_eq!(run(&check), Ok(WeightEffect::Keep));
    let (_, peer) = listener.accept().expect("server saw the connection");
    assert_eq!(peer, SocketAddr::new("127.0.0.2".parse().unwrap(), port));
}

#[test]
fn http_status_and_digest() {
    let body = b"all is well\n";
    let addr = http_server(PAGE);
    let ok = http_check(addr, 500, url(None, vec![]));
    assert_eq!(run(&ok), Ok(WeightEffect::Keep));
    let right = http_check(addr, 500, url(Some(md5(body)), vec![]));
    assert_eq!(run(&right), Ok(WeightEffect::Keep));
    let wrong = http_check(addr, 500, url(Some(md5(b"other")), vec![]));
    assert_eq!(run(&wrong), Err(Failure::Digest));

    let broken = http_server(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\ndown");
    let default_codes = http_check(broken, 500, url(None, vec![]));
    assert_eq!(run(&default_codes), Err(Failure::Status(503)));
    let accepts_503 = http_check(broken, 500, url(Some(md5(b"down")), vec![(500, 599)]));
    assert_eq!(run(&accepts_503), Ok(WeightEffect::Keep));

    let not_http = http_server(b"SSH-2.0-OpenSSH_9.2\r\n");
    assert_eq!(
        run(&http_check(not_http, 500, url(None, vec![]))),
        Err(Failure::BadResponse)
    );
    let silent_close = tcp_server(|mut s, _| {
        read_request(&mut s);
    });
    assert_eq!(
        run(&http_check(silent_close, 500, url(None, vec![]))),
        Err(Failure::BadResponse)
    );
}

#[test]
fn http_hung_server_times_out() {
    let check = http_check(hung_server(), 300, url(None, vec![]));
    assert_times_out_at_300ms(&check);
}

#[test]
fn http_slow_body_within_timeout_passes_and_beyond_fails() {
    let body = b"slow but sure";
    let slow = |pause: u64| {
        tcp_server(move |mut s, _| {
            read_request(&mut s);
            let _ = s.write_all(b"HTTP/1.0 200 OK\r\n\r\nslow ");
            thread::sleep(Duration::from_millis(pause));
            let _ = s.write_all(b"but sure");
        })
    };
    let check = http_check(slow(150), 600, url(Some(md5(body)), vec![]));
    assert_eq!(run(&check), Ok(WeightEffect::Keep));
    // The whole exchange counts: bytes trickling past the timeout fail.
    let check = http_check(slow(800), 300, url(Some(md5(body)), vec![]));
    assert_eq!(run(&check), Err(Failure::Timeout));
}

#[test]
fn http_connection_reset_mid_body_fails() {
    let addr = tcp_server(|mut s, _| {
        read_request(&mut s);
        let _ = s.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 1000\r\n\r\npartial");
        thread::sleep(Duration::from_millis(50));
        // SO_LINGER 0: close sends RST instead of FIN.
        rustix::net::sockopt::set_socket_linger(&s, Some(Duration::ZERO)).unwrap();
        drop(s);
    });
    let check = http_check(addr, 1000, url(None, vec![]));
    assert!(
        matches!(
            run(&check),
            Err(Failure::Io(std::io::ErrorKind::ConnectionReset, _))
        ),
        "{:?}",
        run(&check)
    );
}

#[test]
fn http_content_length_ends_the_read_on_a_kept_alive_connection() {
    let addr = tcp_server(|mut s, _| {
        read_request(&mut s);
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
        // Keeps the connection open: the checker must not wait for the close.
        thread::sleep(Duration::from_secs(3));
    });
    let check = http_check(addr, 1000, url(Some(md5(b"hello")), vec![]));
    let start = StdInstant::now();
    assert_eq!(run(&check), Ok(WeightEffect::Keep));
    assert!(start.elapsed() < Duration::from_millis(500));
}

const CHUNKED: &[u8] =
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n";

#[test]
fn http_chunked_body_is_hashed_as_sent() {
    let addr = http_server(CHUNKED);
    let raw_body = b"6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n";
    let check = http_check(addr, 500, url(Some(md5(raw_body)), vec![]));
    assert_eq!(run(&check), Ok(WeightEffect::Keep));
}

/// keepalived's own genhash (with `flags`, e.g. `-S`) gives `ours` for the page, when it is
/// installed; without it the callers' md5 checks stand alone.
fn assert_keepalived_genhash_agrees(flags: &[&str], port: u16, path: &str, ours: &[u8; 16]) {
    let port = port.to_string();
    let mut args: Vec<&str> = flags.to_vec();
    args.extend(["-s", "127.0.0.1", "-p", &port, "-u", path]);
    match std::process::Command::new("genhash").args(&args).output() {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            assert_eq!(
                text.trim().as_bytes(),
                &to_hex(ours)[..],
                "keepalived genhash {flags:?}"
            );
        }
        _ => eprintln!(
            "keepalived's genhash {flags:?} not available: digest checked against md5 only"
        ),
    }
}

#[test]
fn genhash_matches_keepalived_genhash() {
    use keeplite::check::genhash::{genhash, GenhashOptions};
    for response in [PAGE, CHUNKED] {
        let addr = http_server(response);
        let url = format!("http://{addr}/index.html");
        let ours = genhash(&url, &GenhashOptions::default()).unwrap();
        let expected_body =
            &response[response.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4..];
        assert_eq!(ours, md5(expected_body));
        assert_keepalived_genhash_agrees(&[], addr.port(), "/index.html", &ours);
    }
}

#[test]
fn http_prepared_from_config_sends_keepalived_request() {
    let seen = Arc::new(Mutex::new(String::new()));
    let s = seen.clone();
    let addr = tcp_server(move |mut stream, _| {
        *s.lock().unwrap() = read_request(&mut stream);
        let _ = stream.write_all(PAGE);
    });
    let checker = Checker {
        kind: CheckKind::Http(HttpCheck {
            urls: vec![Url {
                path: "/health".into(),
                digest: None,
                status_code: vec![],
                virtualhost: None,
            }],
            virtualhost: Some("www.example.com".into()),
            http_protocol: None,
            enable_sni: false,
            fast_recovery: false,
        }),
        target: CheckTarget::default(),
        timing: CheckTiming {
            connect_timeout: Some(ms(500)),
            ..CheckTiming::default()
        },
    };
    let vs = virtual_server();
    let rs = real_server(addr, vec![checker]);
    let users = UserDb::default();
    let cx = Context {
        track_files: &[],
        users: &users,
        script_user: None,
        script_security: false,
    };
    let check = Check::prepare(&vs, &rs, &rs.checkers[0], &cx).unwrap();
    assert_eq!(check.timeout, ms(500));
    assert_eq!(run(&check), Ok(WeightEffect::Keep));
    assert_eq!(
        *seen.lock().unwrap(),
        "GET /health HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: www.example.com\r\n"
    );
}

#[cfg(not(feature = "tls"))]
#[test]
fn ssl_get_reports_missing_tls() {
    let addr = http_server(PAGE);
    let check = Check {
        target: Target::to(addr),
        timeout: ms(500),
        kind: Kind::Ssl(vec![url(None, vec![])].into()),
    };
    assert_eq!(run(&check), Err(Failure::NeedsTls));
    assert_eq!(
        Failure::NeedsTls.to_string(),
        "SSL_GET needs the `tls` feature"
    );
}

fn misc(command: &str, timeout_ms: u64, dynamic: bool) -> Check {
    Check {
        target: Target::to("127.0.0.1:0".parse().unwrap()),
        timeout: ms(1000),
        kind: Kind::Misc(Box::new(MiscProbe {
            script: Script::prepare(command, Credentials::current(), false).unwrap(),
            timeout: ms(timeout_ms),
            dynamic,
        })),
    }
}

#[test]
fn misc_check_exit_codes() {
    assert_eq!(run(&misc("true", 2000, false)), Ok(WeightEffect::Keep));
    assert_eq!(run(&misc("false", 2000, false)), Err(Failure::Exit(1)));
    assert_eq!(
        run(&misc("sh -c 'exit 7'", 2000, false)),
        Err(Failure::Exit(7))
    );
    assert_eq!(run(&misc("true", 2000, true)), Ok(WeightEffect::Reset));
    assert_eq!(run(&misc("false", 2000, true)), Err(Failure::Exit(1)));
    assert_eq!(
        run(&misc("sh -c 'exit 2'", 2000, true)),
        Ok(WeightEffect::Set(0))
    );
    assert_eq!(
        run(&misc("sh -c 'exit 12'", 2000, true)),
        Ok(WeightEffect::Set(10))
    );
    assert_eq!(
        run(&misc("sh -c 'exit 255'", 2000, true)),
        Ok(WeightEffect::Set(253))
    );
    assert_eq!(
        run(&misc("kill -TERM $$", 2000, false)),
        Err(Failure::Signal(libc::SIGTERM))
    );
}

#[test]
fn misc_check_timeout_kills_the_script() {
    let start = StdInstant::now();
    assert_eq!(run(&misc("sleep 5", 300, false)), Err(Failure::Timeout));
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(290) && took < Duration::from_millis(1500),
        "{took:?}"
    );
}

fn smtp_server(
    greeting: &'static [u8],
    helo_reply: &'static [u8],
) -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let seen = lines.clone();
    let addr = tcp_server(move |mut s, _| {
        let _ = s.write_all(greeting);
        let mut reader = BufReader::new(s.try_clone().unwrap());
        for reply in [helo_reply, b"221 bye\r\n"] {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            seen.lock().unwrap().push(line);
            let _ = s.write_all(reply);
        }
    });
    (addr, lines)
}

fn smtp_check(addr: SocketAddr) -> Check {
    Check {
        target: Target::to(addr),
        timeout: ms(500),
        kind: Kind::Smtp {
            helo: keeplite::check::smtp::helo(None).into(),
        },
    }
}

#[test]
fn smtp_check_conversation() {
    let (addr, lines) = smtp_server(b"220-mx.test ESMTP\r\n220 ready\r\n", b"250 mx.test\r\n");
    assert_eq!(run(&smtp_check(addr)), Ok(WeightEffect::Keep));
    thread::sleep(Duration::from_millis(50));
    assert_eq!(
        *lines.lock().unwrap(),
        ["HELO smtpchecker.keepalived.org\r\n", "QUIT\r\n"]
    );
    let (busy, _) = smtp_server(b"554 no service\r\n", b"250 x\r\n");
    assert_eq!(
        run(&smtp_check(busy)),
        Err(Failure::SmtpReply {
            expected: 220,
            got: 554
        })
    );
    let (grumpy, _) = smtp_server(b"220 ok\r\n", b"501 bad helo\r\n");
    assert_eq!(
        run(&smtp_check(grumpy)),
        Err(Failure::SmtpReply {
            expected: 250,
            got: 501
        })
    );
}

/// How each connection to the returned server ended after `talk` ran on it: "reset" (a RST),
/// "fin" (end of stream) or "data".
fn ending_server(
    talk: impl Fn(&mut TcpStream) + Send + Sync + 'static,
) -> (SocketAddr, Arc<Mutex<Vec<&'static str>>>) {
    let endings = Arc::new(Mutex::new(Vec::new()));
    let seen = endings.clone();
    let addr = tcp_server(move |mut s, _| {
        talk(&mut s);
        let ending = match s.read(&mut [0u8; 64]) {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => "reset",
            Ok(0) => "fin",
            _ => "data",
        };
        seen.lock().unwrap().push(ending);
    });
    (addr, endings)
}

/// TCP_CHECK and HTTP_GET end their connections with a RST (no TIME_WAIT per probe),
/// SMTP_CHECK with QUIT and a FIN, as mail servers expect.
#[test]
fn tcp_and_http_probes_reset_smtp_closes() {
    let (tcp, tcp_endings) = ending_server(|_| {});
    assert_eq!(run(&check_of(tcp, 500, Kind::Tcp)), Ok(WeightEffect::Keep));
    let (http, http_endings) = ending_server(|s| {
        read_request(s);
        s.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
            .unwrap();
    });
    assert_eq!(
        run(&http_check(http, 500, url(None, vec![]))),
        Ok(WeightEffect::Keep)
    );
    let (smtp, smtp_endings) = ending_server(|s| {
        let mut reader = BufReader::new(s.try_clone().unwrap());
        let _ = s.write_all(b"220 ready\r\n");
        for reply in [&b"250 ok\r\n"[..], b"221 bye\r\n"] {
            let _ = reader.read_line(&mut String::new());
            let _ = s.write_all(reply);
        }
    });
    assert_eq!(run(&smtp_check(smtp)), Ok(WeightEffect::Keep));
    thread::sleep(Duration::from_millis(100));
    assert_eq!(*tcp_endings.lock().unwrap(), ["reset"]);
    assert_eq!(*http_endings.lock().unwrap(), ["reset"]);
    assert_eq!(*smtp_endings.lock().unwrap(), ["fin"]);
}

/// A DNS server answering every query first with a wrong id (to be ignored), then with the
/// right id and `rcode`.
fn dns_server(rcode: u8) -> (SocketAddr, Arc<Mutex<Vec<Vec<u8>>>>) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    let queries = Arc::new(Mutex::new(Vec::new()));
    let seen = queries.clone();
    thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            let query = buf[..n].to_vec();
            let mut reply = query.clone();
            reply[2] = 0x81;
            reply[3] = 0x80 | rcode;
            let mut stray = reply.clone();
            stray[0] ^= 0xff;
            // Recorded before answering: the probe may end, and the test look, at the reply.
            seen.lock().unwrap().push(query);
            let _ = socket.send_to(&stray, from);
            let _ = socket.send_to(&reply, from);
        }
    });
    (addr, queries)
}

fn dns_check(addr: SocketAddr) -> Check {
    Check {
        target: Target::to(addr),
        timeout: ms(500),
        kind: Kind::Dns {
            query: keeplite::check::dns::query(
                "www.example.com",
                keeplite::config::model::DnsType::A,
            )
            .unwrap()
            .into(),
        },
    }
}

#[test]
fn dns_check_reply_and_rcode() {
    let (addr, queries) = dns_server(0);
    assert_eq!(run(&dns_check(addr)), Ok(WeightEffect::Keep));
    let q = queries.lock().unwrap()[0].clone();
    // Our nonce's low 16 bits are the id; RD set; one question www.example.com A IN.
    assert_eq!(&q[..4], &[0x56, 0x78, 0x01, 0x00]);
    assert_eq!(&q[12..], b"\x03www\x07example\x03com\x00\x00\x01\x00\x01");
    let (nx, _) = dns_server(3);
    assert_eq!(run(&dns_check(nx)), Err(Failure::Rcode(3)));
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    assert_eq!(
        run(&dns_check(silent.local_addr().unwrap())),
        Err(Failure::Timeout)
    );
}

fn udp_echo_server() -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            let _ = socket.send_to(&buf[..n], from);
        }
    });
    addr
}

fn udp_check(addr: SocketAddr, require_reply: Option<Vec<MaskedByte>>) -> Check {
    Check {
        target: Target::to(addr),
        timeout: ms(300),
        kind: Kind::Udp(Box::new(UdpProbe {
            payload: Some(b"\xab\xcd\x01\x02"[..].into()),
            require_reply: require_reply.map(Into::into),
            min_reply_length: 0,
            max_reply_length: 255,
        })),
    }
}

fn byte(value: u8, mask: u8) -> MaskedByte {
    MaskedByte { value, mask }
}

#[test]
fn udp_check_echo_pattern_refused_and_silence() {
    let echo = udp_echo_server();
    let pattern = vec![byte(0xab, 0xff), byte(0xc0, 0xf0)];
    assert_eq!(run(&udp_check(echo, Some(pattern))), Ok(WeightEffect::Keep));
    let mismatch = vec![byte(0xab, 0xff), byte(0xd0, 0xf0)];
    assert_eq!(
        run(&udp_check(echo, Some(mismatch))),
        Err(Failure::UdpReply)
    );
    // A closed port answers with ICMP port unreachable: down, with or without require_reply.
    let closed = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    assert!(matches!(
        run(&udp_check(closed, None)),
        Err(Failure::Io(std::io::ErrorKind::ConnectionRefused, _))
    ));
    // A server that stays silent: up unless a reply is required.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    let start = StdInstant::now();
    assert_eq!(run(&udp_check(addr, None)), Ok(WeightEffect::Keep));
    assert!(start.elapsed() >= Duration::from_millis(290));
    assert_eq!(run(&udp_check(addr, Some(vec![]))), Err(Failure::UdpReply));
}

#[test]
fn ping_check_loopback() {
    let check = Check {
        target: Target::to("127.0.0.1:0".parse().unwrap()),
        timeout: ms(1000),
        kind: Kind::Ping,
    };
    match run(&check) {
        Ok(effect) => assert_eq!(effect, WeightEffect::Keep),
        Err(Failure::Io(_, Some(libc::EACCES | libc::EPERM))) => {
            eprintln!("SKIP ping: neither ping sockets (ping_group_range) nor raw sockets allowed");
        }
        Err(e) => panic!("ping 127.0.0.1: {e}"),
    }
    let v6 = Check {
        target: Target::to("[::1]:0".parse().unwrap()),
        ..check
    };
    match run(&v6) {
        Ok(_) => {}
        Err(e) => eprintln!("ping ::1 not checked: {e}"),
    }
}

#[test]
fn file_check_values_and_weights() {
    let dir = std::env::temp_dir().join(format!("keeplite-file-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("weight");
    let file = |weight: i32, reverse: bool| Check {
        target: Target::to("127.0.0.1:0".parse().unwrap()),
        timeout: ms(100),
        kind: Kind::File(Box::new(FileProbe {
            path: path.clone(),
            weight,
            reverse,
        })),
    };
    // Missing file reads as 0.
    assert_eq!(run(&file(0, false)), Ok(WeightEffect::Offset(0)));
    std::fs::write(&path, "5\n").unwrap();
    assert_eq!(run(&file(2, false)), Ok(WeightEffect::Offset(10)));
    assert_eq!(run(&file(2, true)), Ok(WeightEffect::Offset(-10)));
    assert_eq!(run(&file(0, false)), Err(Failure::FileFault(5)));
    std::fs::write(&path, "0x10").unwrap();
    assert_eq!(run(&file(1, false)), Ok(WeightEffect::Offset(16)));

    // Prepared from config: the FILE_CHECK's weight falls back to the track_file's.
    let track = TrackFile {
        name: "tf".into(),
        file: path.display().to_string(),
        weight: 3,
        weight_reverse: false,
        init_file: None,
    };
    let checker = Checker {
        kind: CheckKind::File(keeplite::config::model::FileCheck {
            track_file: "tf".into(),
            weight: None,
            reverse: false,
            dynamic: false,
        }),
        target: CheckTarget::default(),
        timing: CheckTiming::default(),
    };
    let vs = virtual_server();
    let rs = real_server("127.0.0.1:80".parse().unwrap(), vec![checker]);
    let users = UserDb::default();
    let tracks = [track];
    let cx = Context {
        track_files: &tracks,
        users: &users,
        script_user: None,
        script_security: false,
    };
    let check = Check::prepare(&vs, &rs, &rs.checkers[0], &cx).unwrap();
    assert_eq!(run(&check), Ok(WeightEffect::Offset(48)));
    std::fs::remove_dir_all(&dir).unwrap();
}

fn virtual_server() -> VirtualServer {
    VirtualServer {
        key: ServiceKey::Addr {
            addr: "10.0.0.1".parse().unwrap(),
            port: 80,
        },
        protocol: Protocol::Tcp,
        lvs_sched: Scheduler::Rr,
        lvs_method: ForwardMethod::Nat,
        flags: Default::default(),
        persistence: None,
        persistence_engine: None,
        ip_family: None,
        virtualhost: None,
        sorry_server: None,
        quorum: 1,
        hysteresis: 0,
        quorum_up: None,
        quorum_down: None,
        alpha: false,
        omega: false,
        inhibit_on_failure: false,
        ha_suspend: false,
        smtp_alert: false,
        timing: CheckTiming::default(),
        real_servers: Vec::new(),
    }
}

fn real_server(addr: SocketAddr, checkers: Vec<Checker>) -> RealServer {
    RealServer {
        addr: addr.ip(),
        port: addr.port(),
        weight: 1,
        lvs_method: None,
        inhibit_on_failure: None,
        uthreshold: None,
        lthreshold: None,
        virtualhost: Default::default(),
        notify_up: Default::default(),
        notify_down: Default::default(),
        smtp_alert: false,
        timing: Default::default(),
        checkers,
    }
}

/// Accepts one connection within `ms`, without blocking past it.
fn accept_within(listener: &TcpListener, ms: u64) -> bool {
    listener.set_nonblocking(true).unwrap();
    let end = StdInstant::now() + Duration::from_millis(ms);
    while StdInstant::now() < end {
        if listener.accept().is_ok() {
            return true;
        }
        thread::sleep(Duration::from_millis(1));
    }
    false
}

fn fast_timing(retry: u32) -> Timing {
    Timing {
        delay_loop: ms(300),
        connect_timeout: ms(500),
        retry,
        delay_before_retry: ms(100),
        warmup: Micros(0),
        alpha: false,
    }
}

/// Runs checker 0 of `verdict` with the real driver for `for_ms`, returning the actions with
/// their times.
fn drive(
    verdict: RealServerVerdict,
    checks: &[Check],
    cap: usize,
    for_ms: u64,
) -> (Vec<(StdInstant, Action)>, RealServerVerdict) {
    let checks: Vec<Few<Option<Check>>> = vec![checks.iter().cloned().map(Some).collect()];
    let mut runner = Runner::new(&checks, vec![verdict], cap, Spread::new(7));
    let mut actions = Vec::new();
    let until = keeplite::sys::reactor::refresh_now() + ms(for_ms);
    runner
        .run_until(until, &mut |_, a| actions.push((StdInstant::now(), a)))
        .expect("reactor");
    let verdict = runner.into_verdicts().pop().expect("the one verdict");
    (actions, verdict)
}

fn since(t0: StdInstant, t: StdInstant) -> i64 {
    t.duration_since(t0).as_millis() as i64
}

fn assert_near(got: i64, want: i64, what: &str) {
    assert!((got - want).abs() <= 75, "{what}: {got} ms, want {want} ms");
}

#[test]
fn http_retry_delay_before_retry_and_recovery_timing() {
    let healthy = Arc::new(AtomicBool::new(true));
    let times = Arc::new(Mutex::new(Vec::new()));
    let (h, t) = (healthy.clone(), times.clone());
    let addr = tcp_server(move |mut s, _| {
        read_request(&mut s);
        t.lock().unwrap().push(StdInstant::now());
        let response: &[u8] = if h.load(Ordering::SeqCst) {
            b"HTTP/1.0 200 OK\r\n\r\nok"
        } else {
            b"HTTP/1.0 500 Oops\r\n\r\nno"
        };
        let _ = s.write_all(response);
    });
    let check = http_check(addr, 500, url(None, vec![]));
    let steps = Steps::Urls {
        count: 1,
        fast_recovery: false,
    };
    let verdict = RealServerVerdict::new(
        1,
        vec![CheckerVerdict::new(
            fast_timing(2),
            steps,
            keeplite::sys::clock::now(),
            0,
        )],
    );
    let toggler = {
        let h = healthy.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(150));
            h.store(false, Ordering::SeqCst);
            thread::sleep(Duration::from_millis(500));
            h.store(true, Ordering::SeqCst);
        })
    };
    let (actions, _) = drive(verdict, &[check], 4, 1250);
    toggler.join().unwrap();
    let times = times.lock().unwrap().clone();
    assert!(times.len() >= 6, "{} requests", times.len());
    let t0 = times[0];
    let at: Vec<i64> = times.iter().map(|&t| since(t0, t)).collect();
    // ok at 0; fail at 300, retries at 400 and 500 (then down); the failed url again at
    // 500 + max(100, 300) = 800 (ok); the whole list again at 1100 (ok: up).
    for (i, want) in [0, 300, 400, 500, 800, 1100].into_iter().enumerate() {
        assert_near(at[i], want, &format!("request {i}"));
    }
    assert_eq!(actions.len(), 2, "{actions:?}");
    assert_eq!(actions[0].1, Action::Down);
    assert_near(since(t0, actions[0].0), 500, "down");
    assert_eq!(actions[1].1, Action::Up { weight: 1 });
    assert_near(since(t0, actions[1].0), 1100, "up");
}

#[test]
fn tcp_down_after_retries_and_up_on_one_success() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let accepts = Arc::new(Mutex::new(Vec::new()));
    let a = accepts.clone();
    // Serve one connection, close the port, open it again 450 ms later.
    let server = thread::spawn(move || {
        if accept_within(&listener, 1000) {
            a.lock().unwrap().push(StdInstant::now());
        }
        drop(listener);
        thread::sleep(Duration::from_millis(450));
        let listener = TcpListener::bind(addr).unwrap();
        if accept_within(&listener, 1000) {
            a.lock().unwrap().push(StdInstant::now());
        }
    });
    let check = Check {
        target: Target::to(addr),
        timeout: ms(300),
        kind: Kind::Tcp,
    };
    let verdict = RealServerVerdict::new(
        2,
        vec![CheckerVerdict::new(
            fast_timing(1),
            Steps::One,
            keeplite::sys::clock::now(),
            0,
        )],
    );
    let (actions, verdict) = drive(verdict, &[check], 4, 1000);
    server.join().unwrap();
    let accepts = accepts.lock().unwrap().clone();
    assert_eq!(accepts.len(), 2, "{accepts:?} {actions:?}");
    let t0 = accepts[0];
    // up at 0; refused at 300, retried at 400: down; at 700 the port is back: up.
    assert_eq!(actions.len(), 2, "{actions:?}");
    assert_eq!(actions[0].1, Action::Down);
    assert_near(since(t0, actions[0].0), 400, "down");
    assert_eq!(actions[1].1, Action::Up { weight: 2 });
    assert_near(since(t0, actions[1].0), 700, "up");
    assert_near(since(t0, accepts[1]), 700, "second accept");
    assert!(verdict.alive());
}

#[test]
fn in_flight_cap_holds_probes_back() {
    let now_open = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let served = Arc::new(AtomicUsize::new(0));
    let (o, m, n) = (now_open.clone(), most.clone(), served.clone());
    let addr = tcp_server(move |mut s, _| {
        n.fetch_add(1, Ordering::SeqCst);
        let open = o.fetch_add(1, Ordering::SeqCst) + 1;
        m.fetch_max(open, Ordering::SeqCst);
        read_request(&mut s);
        thread::sleep(Duration::from_millis(100));
        o.fetch_sub(1, Ordering::SeqCst);
        let _ = s.write_all(PAGE);
    });
    let checks: Vec<Check> = (0..3)
        .map(|_| http_check(addr, 1000, url(None, vec![])))
        .collect();
    let verdict = RealServerVerdict::new(
        1,
        (0..3)
            .map(|_| {
                CheckerVerdict::new(
                    fast_timing(1),
                    Steps::Urls {
                        count: 1,
                        fast_recovery: false,
                    },
                    keeplite::sys::clock::now(),
                    0,
                )
            })
            .collect(),
    );
    let (actions, verdict) = drive(verdict, &checks, 1, 450);
    assert_eq!(
        most.load(Ordering::SeqCst),
        1,
        "more than one probe in flight"
    );
    assert!(actions.is_empty());
    assert!(verdict.alive());
    // All three ran, one after another.
    assert!(served.load(Ordering::SeqCst) >= 3);
}

/// An idle checker is its verdict (and a 16-byte heap entry in the runner): its size is memory
/// per checker. A probe's state exists only while it runs.
#[test]
fn an_idle_checker_stays_small() {
    assert!(std::mem::size_of::<CheckerVerdict>() <= 96);
}

/// SSL_GET (feature `tls`) against `openssl s_server -tls1_3 -HTTP` with self-signed
/// certificates made at test time, and against servers that are not TLS or never answer.
#[cfg(feature = "tls")]
mod ssl_get {
    use super::*;
    use std::io::Read;
    use std::path::PathBuf;
    use std::process::{Child, Command, Stdio};

    /// A temp dir with a certificate, a key and response files, and an `openssl s_server`
    /// serving them over TLS 1.3 only; killed on drop.
    pub(super) struct TlsServer {
        pub addr: SocketAddr,
        pub dir: PathBuf,
        child: Child,
    }

    impl Drop for TlsServer {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    /// `key` is `ec` (P-256) or `rsa`. `pages` are (file name, complete HTTP response).
    /// None (after a loud skip) when the openssl CLI is missing.
    pub(super) fn tls_server(test: &str, key: &str, pages: &[(&str, &[u8])]) -> Option<TlsServer> {
        if !common::on_path("openssl") {
            common::skip(test, "no openssl CLI (apt-get install openssl)");
            return None;
        }
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "keeplite-tls-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let newkey: &[&str] = match key {
            "rsa" => &["-newkey", "rsa:2048"],
            _ => &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"],
        };
        let status = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=www.example.com",
            ])
            .args(newkey)
            .args(["-keyout", "key.pem", "-out", "cert.pem"])
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "openssl req failed");
        for (name, response) in pages {
            std::fs::write(dir.join(name), response).unwrap();
        }
        // The port is picked by the kernel, then handed to s_server (a race no other test
        // here takes part in: they all bind port 0 themselves).
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new("openssl")
            .args(["s_server", "-tls1_3", "-HTTP"])
            .args(["-cert", "cert.pem", "-key", "key.pem"])
            .args(["-accept", &format!("127.0.0.1:{port}")])
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // s_server says ACCEPT once it listens.
        let mut out = child.stdout.take().unwrap();
        let mut seen = Vec::new();
        let mut byte = [0u8; 1];
        while !seen.ends_with(b"ACCEPT") {
            match out.read(&mut byte) {
                Ok(1) => seen.push(byte[0]),
                _ => panic!("s_server did not start: {}", String::from_utf8_lossy(&seen)),
            }
        }
        // Keep reading its stdout so that it never blocks on a full pipe.
        thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        Some(TlsServer {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            dir,
            child,
        })
    }

    const BODY: &[u8] = b"all is well over TLS\n";
    const OK: &[u8] = b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nall is well over TLS\n";
    const FAILING: &[u8] = b"HTTP/1.0 500 Internal Server Error\r\n\r\nbroken\n";

    fn get(page: &str, digest: Option<[u8; 16]>, status_code: Vec<(u16, u16)>) -> HttpUrl {
        page_url(page, digest, status_code)
    }

    fn ssl_check(addr: SocketAddr, timeout_ms: u64, u: HttpUrl) -> Check {
        check_of(addr, timeout_ms, Kind::Ssl(vec![u].into()))
    }

    #[test]
    fn ssl_get_status_and_digest() {
        let Some(server) = tls_server(
            "ssl_get_status_and_digest",
            "ec",
            &[("ok", OK), ("failing", FAILING)],
        ) else {
            return;
        };
        let up = ssl_check(server.addr, 2000, get("ok", Some(md5(BODY)), vec![]));
        assert_eq!(run(&up), Ok(WeightEffect::Keep));
        let wrong_digest = ssl_check(server.addr, 2000, get("ok", Some(md5(b"other")), vec![]));
        assert_eq!(run(&wrong_digest), Err(Failure::Digest));
        let wrong_status = ssl_check(server.addr, 2000, get("failing", None, vec![]));
        assert_eq!(run(&wrong_status), Err(Failure::Status(500)));
        let accepted = ssl_check(server.addr, 2000, get("failing", None, vec![(500, 500)]));
        assert_eq!(run(&accepted), Ok(WeightEffect::Keep));
    }

    /// An RSA certificate: the certificate is not verified, so its RSA-PSS signature over the
    /// handshake is accepted unchecked as an ECDSA one would be.
    #[test]
    fn ssl_get_rsa_certificate() {
        let Some(server) = tls_server("ssl_get_rsa_certificate", "rsa", &[("ok", OK)]) else {
            return;
        };
        let up = ssl_check(server.addr, 2000, get("ok", Some(md5(BODY)), vec![]));
        assert_eq!(run(&up), Ok(WeightEffect::Keep));
    }

    #[test]
    fn ssl_get_against_plain_http_fails() {
        // A plain HTTP server answers the ClientHello with an HTTP error.
        let addr = tcp_server(|mut s, _| {
            let mut hello = [0u8; 512];
            let _ = s.read(&mut hello);
            let _ = s.write_all(b"HTTP/1.0 400 Bad Request\r\n\r\nno TLS here\n");
        });
        let check = ssl_check(addr, 1000, get("ok", None, vec![]));
        let t0 = StdInstant::now();
        let result = run(&check);
        assert_eq!(result, Err(Failure::Tls));
        assert!(
            t0.elapsed() < Duration::from_millis(500),
            "failed without waiting"
        );
        // A server that accepts and closes at once.
        let addr = tcp_server(|_, _| {});
        let result = run(&ssl_check(addr, 1000, get("ok", None, vec![])));
        assert!(
            matches!(result, Err(Failure::Closed | Failure::Io(..))),
            "{result:?}"
        );
        // Nothing listening.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let result = run(&ssl_check(port, 1000, get("ok", None, vec![])));
        assert_eq!(
            result,
            Err(Failure::Io(
                std::io::ErrorKind::ConnectionRefused,
                Some(libc::ECONNREFUSED)
            ))
        );
    }

    #[test]
    fn ssl_get_hung_server_times_out() {
        let check = ssl_check(hung_server(), 300, get("ok", None, vec![]));
        assert_times_out_at_300ms(&check);
    }

    /// The ClientHello carries the virtualhost as server name only with `enable_sni` (as
    /// keepalived), and only a DNS name.
    #[test]
    fn ssl_get_sends_sni_with_enable_sni() {
        let hellos = Arc::new(Mutex::new(Vec::new()));
        let h = hellos.clone();
        let addr = tcp_server(move |mut s, _| {
            let mut hello = vec![0u8; 2048];
            let n = s.read(&mut hello).unwrap_or(0);
            hello.truncate(n);
            h.lock().unwrap().push(hello);
        });
        let users = UserDb::default();
        let cx = Context {
            track_files: &[],
            users: &users,
            script_user: None,
            script_security: false,
        };
        let vs = virtual_server();
        for (virtualhost, enable_sni, sent) in [
            ("www.example.com", true, true),
            ("www.example.com", false, false),
            ("192.0.2.7", true, false),
        ] {
            let checker = Checker {
                kind: CheckKind::Ssl(HttpCheck {
                    urls: vec![Url {
                        path: "/".into(),
                        digest: None,
                        status_code: vec![],
                        virtualhost: None,
                    }],
                    virtualhost: Some(virtualhost.into()),
                    http_protocol: None,
                    enable_sni,
                    fast_recovery: false,
                }),
                target: CheckTarget::default(),
                timing: CheckTiming {
                    connect_timeout: Some(ms(500)),
                    ..CheckTiming::default()
                },
            };
            let rs = real_server(addr, vec![checker]);
            let check = Check::prepare(&vs, &rs, &rs.checkers[0], &cx).unwrap();
            assert!(run(&check).is_err());
            let hello = hellos.lock().unwrap().pop().unwrap();
            // A TLS handshake record holding a ClientHello.
            assert_eq!((hello[0], hello[5]), (22, 1));
            let has_name = hello
                .windows(virtualhost.len())
                .any(|w| w == virtualhost.as_bytes());
            assert_eq!(has_name, sent, "{virtualhost} enable_sni={enable_sni}");
        }
    }

    #[test]
    fn genhash_https_matches_md5_and_keepalived_genhash() {
        use keeplite::check::genhash::{genhash, GenhashOptions};
        let Some(server) = tls_server("genhash_https", "ec", &[("ok", OK)]) else {
            return;
        };
        let url = format!("https://{}/ok", server.addr);
        let ours = genhash(&url, &GenhashOptions::default()).unwrap();
        assert_eq!(ours, md5(BODY));
        assert_keepalived_genhash_agrees(&["-S"], server.addr.port(), "/ok", &ours);
    }

    /// Many SSL_GET probes in a row: the boxed probe and its buffers are freed each time, and
    /// the reactor keeps no registration or timer behind.
    #[test]
    fn ssl_get_leaves_nothing_behind() {
        let Some(server) = tls_server("ssl_get_leaves_nothing_behind", "ec", &[("ok", OK)]) else {
            return;
        };
        let check = ssl_check(server.addr, 2000, get("ok", Some(md5(BODY)), vec![]));
        let mut scratch = Scratch::new();
        for _ in 0..20 {
            let result = block_on(check.run(0, 0, &mut scratch)).expect("reactor");
            assert_eq!(result, Ok(WeightEffect::Keep));
        }
        assert_eq!(keeplite::sys::reactor::counts(), (0, 0));
    }
}
