//! Health checkers for real servers (TCP_CHECK, HTTP_GET, SSL_GET, MISC_CHECK, ...).

pub mod md5;
